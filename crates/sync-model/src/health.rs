//! How a connection is doing, shared by the connectors (which know it from their polls), `web`
//! (which tells the user) and the status page: typed states rather than strings, and the one
//! rule that turns a connection's status and its watches into what the user is told.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a connector's watch (one user, kind and side) is or is not polling normally.
/// `throttled` and `budget_exhausted` last until the watch's next poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    Ok,
    Error,
    Throttled,
    BudgetExhausted,
    ReconnectNeeded,
}

impl WatchState {
    pub const ALL: [WatchState; 5] = [
        WatchState::Ok,
        WatchState::Error,
        WatchState::Throttled,
        WatchState::BudgetExhausted,
        WatchState::ReconnectNeeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WatchState::Ok => "ok",
            WatchState::Error => "error",
            WatchState::Throttled => "throttled",
            WatchState::BudgetExhausted => "budget_exhausted",
            WatchState::ReconnectNeeded => "reconnect_needed",
        }
    }

    pub fn parse(text: &str) -> Option<WatchState> {
        WatchState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl TryFrom<String> for WatchState {
    type Error = String;

    fn try_from(text: String) -> Result<WatchState, String> {
        WatchState::parse(&text).ok_or_else(|| format!("unknown watch state `{text}`"))
    }
}

/// The stored state of a provider connection (auth-service's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    NotConnected,
    Connected,
    ReconnectNeeded,
}

/// What the user is told about a connection (or one kind of it), the worst first: a reconnect
/// stops everything, a used-up allowance waits for its window, throttling for its pause, a
/// failing provider is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    NotConnected,
    ReconnectNeeded,
    /// The day's API allowance is used up; polling resumes at `until`.
    AllowanceUsedUp {
        until: DateTime<Utc>,
    },
    /// The provider asked us to slow down; polling resumes at `until`.
    Throttled {
        until: DateTime<Utc>,
    },
    /// The provider answers with errors (5xx, timeouts); retried at `until`.
    ProviderFailing {
        until: DateTime<Utc>,
    },
    Connected,
}

impl ConnectionState {
    /// How bad the state is: 0 is the worst (not connected), connected the best.
    pub fn rank(&self) -> u8 {
        match self {
            ConnectionState::NotConnected => 0,
            ConnectionState::ReconnectNeeded => 1,
            ConnectionState::AllowanceUsedUp { .. } => 2,
            ConnectionState::Throttled { .. } => 3,
            ConnectionState::ProviderFailing { .. } => 4,
            ConnectionState::Connected => 5,
        }
    }

    /// A watch's state as the user is told it; `next_poll_at` is when it polls again.
    pub fn of_watch(state: WatchState, next_poll_at: DateTime<Utc>) -> ConnectionState {
        match state {
            WatchState::Ok => ConnectionState::Connected,
            WatchState::Error => ConnectionState::ProviderFailing {
                until: next_poll_at,
            },
            WatchState::Throttled => ConnectionState::Throttled {
                until: next_poll_at,
            },
            WatchState::BudgetExhausted => ConnectionState::AllowanceUsedUp {
                until: next_poll_at,
            },
            WatchState::ReconnectNeeded => ConnectionState::ReconnectNeeded,
        }
    }

    /// The connection as a whole: its stored status first (a connection that is not connected
    /// or must be reconnected is that, whatever its watches last said), else the worst of its
    /// active watches.
    pub fn of_connection(
        status: ConnectionStatus,
        watches: impl IntoIterator<Item = ConnectionState>,
    ) -> ConnectionState {
        match status {
            ConnectionStatus::NotConnected => ConnectionState::NotConnected,
            ConnectionStatus::ReconnectNeeded => ConnectionState::ReconnectNeeded,
            ConnectionStatus::Connected => watches
                .into_iter()
                .min_by_key(ConnectionState::rank)
                .unwrap_or(ConnectionState::Connected),
        }
    }

    /// Whether items move through this connection now.
    pub fn syncing(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-01-01T10:{minute:02}:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn watch_states_round_trip_as_text() {
        for state in WatchState::ALL {
            assert_eq!(WatchState::parse(state.as_str()), Some(state));
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        assert!(WatchState::try_from("slow".to_owned()).is_err());
    }

    #[test]
    fn the_worst_watch_speaks_for_the_connection() {
        let watches = [
            ConnectionState::of_watch(WatchState::Ok, at(0)),
            ConnectionState::of_watch(WatchState::Throttled, at(5)),
            ConnectionState::of_watch(WatchState::BudgetExhausted, at(30)),
        ];
        assert_eq!(
            ConnectionState::of_connection(ConnectionStatus::Connected, watches),
            ConnectionState::AllowanceUsedUp { until: at(30) }
        );
        let failing = [
            ConnectionState::of_watch(WatchState::Error, at(1)),
            ConnectionState::of_watch(WatchState::Throttled, at(5)),
        ];
        assert_eq!(
            ConnectionState::of_connection(ConnectionStatus::Connected, failing),
            ConnectionState::Throttled { until: at(5) }
        );
    }

    #[test]
    fn a_stored_reconnect_outranks_watches_that_last_said_ok() {
        let ok = [ConnectionState::of_watch(WatchState::Ok, at(0))];
        assert_eq!(
            ConnectionState::of_connection(ConnectionStatus::ReconnectNeeded, ok),
            ConnectionState::ReconnectNeeded
        );
        assert_eq!(
            ConnectionState::of_connection(ConnectionStatus::NotConnected, []),
            ConnectionState::NotConnected
        );
        assert!(ConnectionState::of_connection(ConnectionStatus::Connected, []).syncing());
    }

    #[test]
    fn the_state_is_told_with_its_time() {
        let state = ConnectionState::Throttled { until: at(7) };
        assert_eq!(
            serde_json::to_value(state).unwrap(),
            serde_json::json!({"state": "throttled", "until": "2026-01-01T10:07:00Z"})
        );
    }
}
