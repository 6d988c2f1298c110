//! Zoho API credits (api-reference 2.4): every CRM call costs credits from a rolling 24-hour
//! window per org. All the calls the sandbox emulates (record reads, writes, upserts, deletes,
//! deleted-record reads) cost 1 credit, as Zoho charges them; the heavier APIs Zoho charges more
//! for (Convert Lead 5, bulk and mass operations) are not emulated. Token refreshes are Zoho
//! Accounts calls and cost nothing.
//!
//! Credits are kept in one-minute buckets, so the window rolls by the minute. With a budget set,
//! a call that would go past it is refused with 429 `TOO_MANY_REQUESTS` and costs nothing.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The rolling window.
pub const WINDOW_SECONDS: i64 = 24 * 3600;
const BUCKET_SECONDS: i64 = 60;

/// What a call costs.
pub fn cost(_operation: &str) -> u64 {
    1
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credits {
    /// Credits per 24 hours; `None` is unlimited (still counted).
    pub budget: Option<u64>,
    /// (bucket start as a Unix time, credits spent in it), oldest first.
    buckets: VecDeque<(i64, u64)>,
}

impl Credits {
    pub fn new(budget: Option<u64>) -> Self {
        Credits {
            budget,
            buckets: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        let oldest_kept = now.timestamp() - WINDOW_SECONDS;
        while self
            .buckets
            .front()
            .is_some_and(|(start, _)| *start + BUCKET_SECONDS <= oldest_kept)
        {
            self.buckets.pop_front();
        }
    }

    /// Credits spent in the last 24 hours.
    pub fn used(&mut self, now: DateTime<Utc>) -> u64 {
        self.prune(now);
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    fn add(&mut self, amount: u64, now: DateTime<Utc>) {
        let bucket = now.timestamp() - now.timestamp().rem_euclid(BUCKET_SECONDS);
        match self.buckets.back_mut() {
            Some((start, n)) if *start == bucket => *n += amount,
            _ => self.buckets.push_back((bucket, amount)),
        }
    }

    /// Spends `amount`, or says in how many seconds enough credits come back.
    pub fn charge(&mut self, amount: u64, now: DateTime<Utc>) -> Result<(), i64> {
        let used = self.used(now);
        if let Some(budget) = self.budget
            && used + amount > budget
        {
            // Seconds until the buckets that must expire for this call to fit have expired.
            let mut to_free = used + amount - budget;
            let mut wait = WINDOW_SECONDS;
            for (start, n) in &self.buckets {
                wait = (*start + BUCKET_SECONDS + WINDOW_SECONDS - now.timestamp()).max(1);
                if *n >= to_free {
                    break;
                }
                to_free -= n;
            }
            return Err(wait);
        }
        self.add(amount, now);
        Ok(())
    }

    /// Sets the credits spent in the window (control API), as if spent now.
    pub fn set_used(&mut self, used: u64, now: DateTime<Utc>) {
        self.buckets.clear();
        if used > 0 {
            self.add(used, now);
        }
    }

    pub fn describe(&mut self, now: DateTime<Utc>) -> Value {
        let used = self.used(now);
        json!({
            "used": used,
            "budget": self.budget,
            "remaining": self.budget.map(|b| b.saturating_sub(used)),
            "window_seconds": WINDOW_SECONDS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_window_rolls_and_the_budget_refuses() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let mut credits = Credits::new(Some(3));
        for _ in 0..3 {
            assert!(credits.charge(1, start).is_ok());
        }
        let wait = credits.charge(1, start).expect_err("over budget");
        assert!(
            wait > WINDOW_SECONDS - 60 && wait <= WINDOW_SECONDS + BUCKET_SECONDS,
            "{wait}"
        );
        assert_eq!(credits.used(start + Duration::hours(23)), 3);
        assert_eq!(credits.used(start + Duration::hours(25)), 0);
        assert!(credits.charge(1, start + Duration::hours(25)).is_ok());
        let mut unlimited = Credits::new(None);
        for _ in 0..10 {
            assert!(unlimited.charge(1, start).is_ok());
        }
        assert_eq!(unlimited.used(start), 10);
    }
}
