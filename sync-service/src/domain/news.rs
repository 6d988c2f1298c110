//! How long a finished first sync is news. The Status card says "first sync complete" for a day
//! after it completed, then says nothing about it: weeks later it is history, and a card that
//! still announced it would hide that nothing new happened since (issue 16). The rule is here,
//! with the server's clock, rather than in the page with whatever clock the browser has.

use chrono::{DateTime, Duration, Utc};

/// How long a completed first sync (or re-scope) is reported as just completed.
pub const FIRST_SYNC_NEWS: Duration = Duration::hours(24);

/// Whether a first sync that completed at `completed_at` is still news at `now`. One that has not
/// completed, or whose end is not known, is not; nor is one dated in the future beyond a clock's
/// skew (a wrong row must not keep the news up).
pub fn first_sync_just_completed(completed_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    completed_at.is_some_and(|at| {
        let age = now - at;
        age < FIRST_SYNC_NEWS && age > -Duration::minutes(5)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64, minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(hours)
            + Duration::minutes(minutes)
    }

    #[test]
    fn a_first_sync_is_news_for_a_day_after_it_completed() {
        let done = at(0, 0);
        assert!(first_sync_just_completed(Some(done), at(0, 0)));
        assert!(first_sync_just_completed(Some(done), at(0, 1)));
        assert!(first_sync_just_completed(Some(done), at(23, 59)));
        assert!(!first_sync_just_completed(Some(done), at(24, 0)));
        assert!(
            !first_sync_just_completed(Some(done), at(24 * 21, 0)),
            "weeks later"
        );
    }

    #[test]
    fn without_an_end_or_with_an_end_far_ahead_it_is_not_news() {
        assert!(!first_sync_just_completed(None, at(0, 0)));
        // A few seconds of skew between database and service clocks are fine.
        assert!(first_sync_just_completed(Some(at(0, 1)), at(0, 0)));
        assert!(!first_sync_just_completed(Some(at(2, 0)), at(0, 0)));
    }
}
