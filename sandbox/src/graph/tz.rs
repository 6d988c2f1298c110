//! Time zones of Graph's `dateTimeTimeZone` values and of `Prefer: outlook.timezone`. Outlook
//! speaks Windows zone names ("Pacific Standard Time", "Tokyo Standard Time"); IANA names
//! ("Europe/Berlin") are accepted too. Windows names map to IANA zones by the CLDR
//! `windowsZones` table (territory "001"), so the offsets, DST included, come from the tz
//! database.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A zone by Windows name (case-insensitive), IANA name, or one of the spellings of UTC Outlook
/// uses (`UTC`, `tzone://Microsoft/Utc`, `Etc/GMT`).
pub fn zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if ["utc", "tzone://microsoft/utc", "etc/gmt", "gmt", "z"]
        .iter()
        .any(|u| u.eq_ignore_ascii_case(name))
    {
        return Some(Tz::UTC);
    }
    if let Some(iana) = sync_model::zones::windows_to_iana(name) {
        return iana.parse().ok();
    }
    name.parse().ok()
}

/// The instant of a local time in `zone`. A time skipped by a DST change moves forward by the
/// gap (as Outlook schedules it); a repeated one takes its first occurrence.
pub fn to_utc(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Inside a spring-forward gap: the same wall time an hour later exists.
            let later = local + chrono::Duration::hours(1);
            match zone.from_local_datetime(&later) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
                LocalResult::None => local.and_utc(),
            }
        }
    }
}

/// The local time of an instant in `zone`.
pub fn to_local(at: DateTime<Utc>, zone: Tz) -> NaiveDateTime {
    at.with_timezone(&zone).naive_local()
}

/// Graph's `dateTime` text: `2017-09-04T12:00:00.0000000`, no offset.
pub fn graph_local(local: NaiveDateTime) -> String {
    format!(
        "{}.{:07}",
        local.format("%Y-%m-%dT%H:%M:%S"),
        local.and_utc().timestamp_subsec_nanos() / 100
    )
}

/// Reads a `dateTime` without offset (fractions allowed). A trailing `Z` or offset is accepted
/// and means that instant (returned converted to UTC, with `true`).
pub fn parse_local(raw: &str) -> Option<(NaiveDateTime, bool)> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some((t.with_timezone(&Utc).naive_utc(), true));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Some((t, false));
        }
        if format == "%Y-%m-%d"
            && let Ok(d) = chrono::NaiveDate::parse_from_str(raw, format)
        {
            return d.and_hms_opt(0, 0, 0).map(|t| (t, false));
        }
    }
    None
}

/// The `outlook.timezone` preference of a request: the zone and the name as the client wrote it.
pub fn preferred(headers: &axum::http::HeaderMap) -> Option<(Tz, String)> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|pref| {
            let (name, value) = pref.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("outlook.timezone") {
                return None;
            }
            let value = value.trim().trim_matches('"').to_owned();
            zone(&value).map(|tz| (tz, value))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn windows_and_iana_names_resolve() {
        assert_eq!(zone("Tokyo Standard Time"), Some(chrono_tz::Asia::Tokyo));
        assert_eq!(
            zone("pacific standard time"),
            Some(chrono_tz::America::Los_Angeles)
        );
        assert_eq!(zone("Europe/Oslo"), Some(chrono_tz::Europe::Oslo));
        assert_eq!(zone("tzone://Microsoft/Utc"), Some(Tz::UTC));
        assert_eq!(zone("Mars Standard Time"), None);
    }

    #[test]
    fn daylight_saving_is_right() {
        let pacific = zone("Pacific Standard Time").expect("zone");
        let noon = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .expect("date")
        };
        // PDT (UTC-7) in September, PST (UTC-8) in December.
        assert_eq!(
            to_utc(noon(2017, 9, 4), pacific).format("%H").to_string(),
            "19"
        );
        assert_eq!(
            to_utc(noon(2017, 12, 4), pacific).format("%H").to_string(),
            "20"
        );
        let tokyo = zone("Tokyo Standard Time").expect("zone");
        assert_eq!(
            to_utc(noon(2017, 7, 1), tokyo).format("%H").to_string(),
            "03"
        );
        // 02:30 on the spring-forward day does not exist in Los Angeles: 03:30 PDT.
        let gap = NaiveDate::from_ymd_opt(2024, 3, 10)
            .and_then(|d| d.and_hms_opt(2, 30, 0))
            .expect("date");
        assert_eq!(to_utc(gap, pacific).format("%H:%M").to_string(), "10:30");
    }

    #[test]
    fn local_times_read_and_write_as_graph_does() {
        let (t, absolute) = parse_local("2017-09-04T12:00:00.0000000").expect("parse");
        assert!(!absolute);
        assert_eq!(graph_local(t), "2017-09-04T12:00:00.0000000");
        assert!(parse_local("2017-09-04T12:00:00Z").is_some_and(|(_, a)| a));
        assert!(parse_local("yesterday").is_none());
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "prefer",
            axum::http::HeaderValue::from_static(
                "odata.maxpagesize=2, outlook.timezone=\"Tokyo Standard Time\"",
            ),
        );
        assert_eq!(
            preferred(&headers).map(|(_, name)| name),
            Some("Tokyo Standard Time".to_owned())
        );
    }
}
