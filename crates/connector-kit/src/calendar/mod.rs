//! Calendar helpers both connectors share: time zones (IANA and the Windows names Graph uses) and
//! the canonical form of recurrence rules.
//!
//! Canonical times are UTC plus the IANA zone the organiser used; all-day values are dates. The
//! zone is what keeps a recurring series at the same *local* time across a daylight-saving change,
//! so writes convert the instant back to local time in that zone.

mod rrule;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

pub use rrule::{Freq, Rule};
pub use sync_model::zones::{iana_to_windows, windows_to_iana};

/// A zone from an IANA name, a Windows name (Graph's usual spelling) or `UTC`.
pub fn zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    windows_to_iana(name).and_then(|iana| iana.parse().ok())
}

/// The IANA name of a zone given by either spelling; `None` for unknown names.
pub fn iana_name(name: &str) -> Option<String> {
    let tz = zone(name)?;
    Some(match tz.name() {
        "Etc/UTC" | "UTC" | "Etc/GMT" | "GMT" | "Etc/Universal" | "Universal" | "Zulu" => {
            "UTC".to_owned()
        }
        other => other.to_owned(),
    })
}

/// A local wall-clock time in `zone` as an instant. A time that does not exist (the hour skipped
/// when clocks go forward) moves forward by the gap, as calendar apps do; an ambiguous one (the
/// hour repeated when clocks go back) is the earlier instant.
pub fn local_to_utc(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // Inside a gap: the same wall time one hour later exists (every real gap is ≤ 1 h,
            // except a few historical ones; two hours covers those).
            for hours in 1..=2 {
                if let LocalResult::Single(t) | LocalResult::Ambiguous(t, _) =
                    zone.from_local_datetime(&(local + chrono::Duration::hours(hours)))
                {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

/// The wall-clock time of `utc` in `zone`.
pub fn utc_to_local(utc: DateTime<Utc>, zone: Tz) -> NaiveDateTime {
    utc.with_timezone(&zone).naive_local()
}

/// Graph's `dateTime` strings: `2017-09-04T12:00:00.0000000` (seven fractional digits, no
/// offset), sometimes fewer digits or none.
pub fn parse_naive(value: &str) -> Option<NaiveDateTime> {
    let value = value.trim().trim_end_matches('Z');
    NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M"))
        .ok()
}

/// The form Graph writes: seven fractional digits, no offset.
pub fn format_naive(value: NaiveDateTime) -> String {
    use chrono::Timelike;
    let ticks = value.nanosecond() / 100;
    format!("{}.{ticks:07}", value.format("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn naive(s: &str) -> NaiveDateTime {
        parse_naive(s).unwrap()
    }

    #[test]
    fn windows_and_iana_names_resolve_to_the_same_zone() {
        assert_eq!(
            iana_name("Pacific Standard Time").as_deref(),
            Some("America/Los_Angeles")
        );
        assert_eq!(
            iana_name("W. Europe Standard Time").as_deref(),
            Some("Europe/Berlin")
        );
        assert_eq!(
            iana_name("Tokyo Standard Time").as_deref(),
            Some("Asia/Tokyo")
        );
        assert_eq!(iana_name("Europe/Berlin").as_deref(), Some("Europe/Berlin"));
        assert_eq!(iana_name("UTC").as_deref(), Some("UTC"));
        assert_eq!(iana_name("tzone://Microsoft/Utc").as_deref(), Some("UTC"));
        assert_eq!(iana_name("Mars Standard Time"), None);
        assert_eq!(
            iana_to_windows("Europe/Berlin"),
            Some("W. Europe Standard Time")
        );
        assert_eq!(
            iana_to_windows("America/Los_Angeles"),
            Some("Pacific Standard Time")
        );
    }

    #[test]
    fn local_times_follow_daylight_saving() {
        let berlin = zone("W. Europe Standard Time").unwrap();
        // Winter: UTC+1; summer: UTC+2.
        let winter = local_to_utc(naive("2026-03-23T09:00:00"), berlin);
        let summer = local_to_utc(naive("2026-03-30T09:00:00"), berlin);
        assert_eq!(winter.to_rfc3339(), "2026-03-23T08:00:00+00:00");
        assert_eq!(summer.to_rfc3339(), "2026-03-30T07:00:00+00:00");
        assert_eq!(utc_to_local(summer, berlin), naive("2026-03-30T09:00:00"));
        // 02:30 on the day clocks go forward does not exist: it becomes 03:30.
        let gap = local_to_utc(naive("2026-03-29T02:30:00"), berlin);
        assert_eq!(utc_to_local(gap, berlin), naive("2026-03-29T03:30:00"));
        // 02:30 on the day clocks go back exists twice: the first one.
        let twice = local_to_utc(naive("2026-10-25T02:30:00"), berlin);
        assert_eq!(twice.to_rfc3339(), "2026-10-25T00:30:00+00:00");
    }

    #[test]
    fn graph_date_times_parse_and_format() {
        let t = naive("2017-09-04T12:00:00.0000000");
        assert_eq!(
            t,
            NaiveDate::from_ymd_opt(2017, 9, 4)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap()
        );
        assert_eq!(format_naive(t), "2017-09-04T12:00:00.0000000");
        assert!(parse_naive("2017-09-04").is_none());
    }
}
