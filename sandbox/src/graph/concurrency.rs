//! Outlook's limit of **4 concurrent requests per app and mailbox** (api-reference 1.5). A request
//! is in flight from the moment the gate admits it (injected latency included) until its
//! handler has answered; one more than the limit is answered 429 `TooManyRequests` with
//! `Retry-After` at once (Graph's throttling answer, [`crate::faults::graph_throttled`]).
//!
//! What counts: every Graph call, and each request of a `$batch` while it runs (the batch
//! handler runs at most 4 at a time, so a batch counts as min(4, its requests), as Graph sends
//! at most 4 to Outlook at once); the `POST /$batch` call itself does not (Graph answers it, not
//! the mailbox). An item refused so answers 429 inside the batch, alone.
//!
//! The app: tokens from the token endpoint are the OAuth client's (the connector); tokens minted
//! by the control API stand for another app (the user's own Outlook, a test), with its own 4.
//!
//! The limit is on by default and can be switched off or changed per mailbox through the control
//! API (`/_sandbox/graph/mailboxes/{id}/concurrency`). The highest number of one app's requests
//! in flight at once is kept per mailbox, on or off, for the stats (`max_in_flight`); a refused
//! request counts there (it was in flight as far as its client knew), so a client that sends a
//! fifth shows 5.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Outlook's limit.
pub const OUTLOOK_LIMIT: u64 = 4;

/// The app control-API tokens stand for.
pub const CONTROL_APP: &str = "control";

fn yes() -> bool {
    true
}

fn outlook_limit() -> u64 {
    OUTLOOK_LIMIT
}

fn one_second() -> f64 {
    1.0
}

/// A mailbox's limit, as the control API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Requests of one app in flight at once; one more is refused.
    #[serde(default = "outlook_limit")]
    pub max_in_flight: u64,
    /// `Retry-After` of the refusal.
    #[serde(default = "one_second")]
    pub retry_after_seconds: f64,
}

impl Default for Limit {
    fn default() -> Self {
        Limit {
            enabled: true,
            max_in_flight: OUTLOOK_LIMIT,
            retry_after_seconds: one_second(),
        }
    }
}

impl Limit {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_in_flight == 0 {
            return Err("max_in_flight must be at least 1".to_owned());
        }
        if !(self.retry_after_seconds >= 0.0 && self.retry_after_seconds.is_finite()) {
            return Err("retry_after_seconds must be a non-negative number".to_owned());
        }
        Ok(())
    }
}

/// What [`Concurrency::enter`] decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Entry {
    /// In flight now, with this many of its app's (itself included).
    Admitted(u64),
    /// One too many: `seen` with itself; answer 429 with this `Retry-After`.
    Refused { seen: u64, retry_after: f64 },
}

/// Requests in flight per mailbox and app, and the limits set per mailbox.
#[derive(Debug, Default)]
pub struct Concurrency {
    in_flight: HashMap<(String, String), u64>,
    limits: BTreeMap<String, Limit>,
}

impl Concurrency {
    pub fn limit(&self, mailbox: &str) -> Limit {
        self.limits.get(mailbox).cloned().unwrap_or_default()
    }

    pub fn set(&mut self, mailbox: &str, limit: Limit) {
        if limit == Limit::default() {
            self.limits.remove(mailbox);
        } else {
            self.limits.insert(mailbox.to_owned(), limit);
        }
    }

    /// Admits one request of `app`, or refuses it when the mailbox already has its limit of that
    /// app's requests in flight.
    pub fn enter(&mut self, mailbox: &str, app: &str) -> Entry {
        let limit = self.limit(mailbox);
        let count = self
            .in_flight
            .entry((mailbox.to_owned(), app.to_owned()))
            .or_default();
        if limit.enabled && *count >= limit.max_in_flight {
            return Entry::Refused {
                seen: *count + 1,
                retry_after: limit.retry_after_seconds,
            };
        }
        *count += 1;
        Entry::Admitted(*count)
    }

    /// A request admitted by [`enter`](Self::enter) has answered (or was abandoned).
    pub fn leave(&mut self, mailbox: &str, app: &str) {
        let key = (mailbox.to_owned(), app.to_owned());
        if let Some(count) = self.in_flight.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.in_flight.remove(&key);
            }
        }
    }

    /// The mailbox's limit and its requests in flight now, per app.
    pub fn describe(&self, mailbox: &str) -> Value {
        let in_flight: BTreeMap<&str, u64> = self
            .in_flight
            .iter()
            .filter(|((m, _), _)| m == mailbox)
            .map(|((_, app), n)| (app.as_str(), *n))
            .collect();
        let limit = self.limit(mailbox);
        json!({
            "enabled": limit.enabled,
            "max_in_flight": limit.max_in_flight,
            "retry_after_seconds": limit.retry_after_seconds,
            "in_flight": in_flight,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_request_of_an_app_is_refused_and_others_are_not() {
        let mut c = Concurrency::default();
        let refused = Entry::Refused {
            seen: 5,
            retry_after: 1.0,
        };
        for n in 1..=4 {
            assert_eq!(c.enter("m", "client"), Entry::Admitted(n));
        }
        assert_eq!(c.enter("m", "client"), refused);
        assert_eq!(
            c.enter("m", CONTROL_APP),
            Entry::Admitted(1),
            "another app has its own 4"
        );
        assert_eq!(
            c.enter("other", "client"),
            Entry::Admitted(1),
            "another mailbox too"
        );
        c.leave("m", "client");
        assert_eq!(c.enter("m", "client"), Entry::Admitted(4));

        c.set(
            "m",
            Limit {
                enabled: false,
                ..Limit::default()
            },
        );
        assert_eq!(
            c.enter("m", "client"),
            Entry::Admitted(5),
            "switched off: counted, not refused"
        );
        c.set("m", Limit::default());
        assert_eq!(
            c.enter("m", "client"),
            Entry::Refused {
                seen: 6,
                retry_after: 1.0
            }
        );
        assert_eq!(c.describe("m")["in_flight"]["client"], 5);
    }
}
