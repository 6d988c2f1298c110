//! Clock and the two APIs' time formats. Both APIs speak in whole seconds, so the sandbox stores
//! whole seconds: an `If-Modified-Since` equal to a returned `Modified_Time` then behaves exactly as
//! against the real service.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};

/// Now, truncated to the second.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Now, to the microsecond (To Do and calendar items show 7-digit fractions).
pub fn now_precise() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Graph's `2020-08-18T09:03:05.8339192Z`, as To Do and calendar items carry it.
pub fn graph_precise(at: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        at.format("%Y-%m-%dT%H:%M:%S"),
        at.timestamp_subsec_nanos() / 100
    )
}

/// Graph's `2017-09-04T15:54:01Z`.
pub fn graph(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The `date` of a Graph `innerError`: no zone designator, as Graph sends it.
pub fn graph_inner(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Zoho's `2023-05-10T01:10:47+09:00`: the instant with the offset of the user's zone.
pub fn zoho(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// An ISO-8601 instant with an offset, as Zoho's `If-Modified-Since` takes it.
pub fn parse_offset(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(0))
}

/// Graph `DateTimeOffset` input: a full instant, or a bare date (the docs' PATCH example sends
/// `"birthday": "1974-07-22"`), read as midnight UTC.
pub fn parse_graph(raw: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_offset(raw) {
        return Some(t);
    }
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The instant after `seconds` from now.
pub fn in_seconds(seconds: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(seconds)
}
