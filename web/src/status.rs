//! `GET /api/status/events`: the user's status as server-sent events, sent when it changes. Each
//! event is one [`Overview`]: every connection's state (as a whole and per kind: connected,
//! reconnect needed, throttled or allowance used up until a time, provider failing), sync-service's
//! status per kind (each side's last read and write, held and failed items) and whether anything
//! syncs at all. `web` gathers it from the services every [`TICK`] and sends only what changed,
//! so the page neither polls nor redraws for nothing.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sync_model::{ConnectionState, ConnectionStatus, Side, UserId, WatchState};

use service_kit::openapi::ErrorBody;

use crate::error::Result;
use crate::startup::AppState;

/// How often the services are asked while a page listens.
const TICK: Duration = Duration::from_secs(2);
/// A stream ends after this long; the page opens a new one with a fresh access token, so a
/// revoked session stops receiving within this time.
const LIFETIME: Duration = Duration::from_secs(5 * 60);

/// What the page shows on the Status view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overview {
    pub connections: BTreeMap<Side, SideOverview>,
    /// sync-service's status (`/v1/status`) as it answered; `null` when it did not.
    pub sync: Option<serde_json::Value>,
    pub paused: bool,
    /// Whether items move at all: both connections syncing, the sync not paused and at least
    /// one kind switched on. The page shows a banner when not.
    pub syncing: bool,
    /// The services that did not answer this time (their part is left out, not guessed).
    pub unavailable: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideOverview {
    #[serde(flatten)]
    pub state: ConnectionState,
    /// Per kind polled on this side.
    pub kinds: BTreeMap<String, KindOverview>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindOverview {
    #[serde(flatten)]
    pub state: ConnectionState,
    pub last_polled_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Connections {
    connections: Vec<Connection>,
}

#[derive(Deserialize)]
struct Connection {
    provider: Side,
    status: ConnectionStatus,
}

#[derive(Deserialize)]
struct Watches {
    watches: Vec<Watch>,
}

#[derive(Deserialize)]
struct Watch {
    kind: String,
    active: bool,
    state: WatchState,
    last_polled_at: Option<DateTime<Utc>>,
    next_poll_at: DateTime<Utc>,
}

async fn internal<T: serde::de::DeserializeOwned>(state: &AppState, url: String) -> Option<T> {
    let answer = state
        .http
        .get(&url)
        .bearer_auth(state.service_token.expose_secret())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !answer.status().is_success() {
        tracing::debug!(status = %answer.status(), "status part unavailable");
        return None;
    }
    answer.json().await.ok()
}

/// The side's connection and its watches, told as the user reads them.
pub fn side_overview(status: ConnectionStatus, watches: &[WatchView]) -> SideOverview {
    let kinds: BTreeMap<String, KindOverview> = watches
        .iter()
        .filter(|w| w.active)
        .map(|w| {
            let state = match status {
                ConnectionStatus::Connected => ConnectionState::of_watch(w.state, w.next_poll_at),
                _ => ConnectionState::of_connection(status, []),
            };
            (
                w.kind.clone(),
                KindOverview {
                    state,
                    last_polled_at: w.last_polled_at,
                },
            )
        })
        .collect();
    SideOverview {
        state: ConnectionState::of_connection(status, kinds.values().map(|k| k.state)),
        kinds,
    }
}

/// A watch as the connectors report it.
pub struct WatchView {
    pub kind: String,
    pub active: bool,
    pub state: WatchState,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub next_poll_at: DateTime<Utc>,
}

async fn overview(state: &AppState, user: UserId) -> Overview {
    let auth = state.auth.base.as_str().trim_end_matches('/');
    let sync = state.sync.base.as_str().trim_end_matches('/');
    let outlook = state.upstreams.outlook_url.trim_end_matches('/');
    let zoho = state.upstreams.zoho_url.trim_end_matches('/');
    let (connections, status, settings, outlook_watches, zoho_watches) = tokio::join!(
        internal::<Connections>(
            state,
            format!("{auth}/internal/v1/users/{user}/connections")
        ),
        internal::<serde_json::Value>(state, format!("{sync}/internal/v1/users/{user}/status")),
        internal::<serde_json::Value>(state, format!("{sync}/internal/v1/users/{user}/settings")),
        internal::<Watches>(state, format!("{outlook}/internal/v1/users/{user}/watches")),
        internal::<Watches>(state, format!("{zoho}/internal/v1/users/{user}/watches")),
    );
    let mut unavailable = Vec::new();
    if connections.is_none() {
        unavailable.push("auth-service");
    }
    if status.is_none() {
        unavailable.push("sync-service");
    }
    let mut sides = BTreeMap::new();
    for (side, watches, name) in [
        (Side::Outlook, outlook_watches, "connector-outlook"),
        (Side::Zoho, zoho_watches, "connector-zoho"),
    ] {
        if watches.is_none() {
            unavailable.push(name);
        }
        let status = connections
            .as_ref()
            .and_then(|c| c.connections.iter().find(|c| c.provider == side))
            .map_or(ConnectionStatus::NotConnected, |c| c.status);
        let watches: Vec<WatchView> = watches
            .map(|w| w.watches)
            .unwrap_or_default()
            .into_iter()
            .map(|w| WatchView {
                kind: w.kind,
                active: w.active,
                state: w.state,
                last_polled_at: w.last_polled_at,
                next_poll_at: w.next_poll_at,
            })
            .collect();
        sides.insert(side, side_overview(status, &watches));
    }
    // A missing settings row (nothing chosen yet) is "not paused".
    let paused = settings
        .as_ref()
        .and_then(|s| s.get("paused"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let kinds = status
        .as_ref()
        .and_then(|s| s.get("kinds"))
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    // A user blocked behind a failed change syncs nothing until an admin acts.
    let blocked = status
        .as_ref()
        .and_then(|s| s.pointer("/held/state"))
        .and_then(serde_json::Value::as_str)
        == Some("blocked");
    let syncing = !paused
        && !blocked
        && kinds > 0
        && sides.values().all(|s| s.state.syncing())
        && unavailable.is_empty();
    Overview {
        connections: sides,
        sync: status,
        paused,
        syncing,
        unavailable,
    }
}

/// `GET /api/status` (bearer access token): the [`Overview`] once, for views that show a part
/// of it (each connection's health on the Accounts page).
#[utoipa::path(get, path = "/api/status", tag = "page", security(("access_token" = [])),
    responses(
        (status = 200, description = "the overview: each connection's state, the sync's status, paused, syncing, unavailable"),
        (status = 502, body = ErrorBody, description = "upstream_unavailable: auth-service did not answer"),
    ))]
pub async fn once(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<Overview>> {
    let user = crate::bff::verified_user(&state, &headers).await?;
    Ok(axum::Json(overview(&state, user).await))
}

/// `GET /api/status/events` (bearer access token): an `overview` event at once, then one each
/// time it changes, for [`LIFETIME`].
#[utoipa::path(get, path = "/api/status/events", tag = "page", security(("access_token" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", description = "server-sent `overview` events: one at once, then one per change, for a while"),
        (status = 502, body = ErrorBody, description = "upstream_unavailable: auth-service did not answer"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let user = crate::bff::verified_user(&state, &headers).await?;
    let started = tokio::time::Instant::now();
    let stream = futures_util::stream::unfold(
        (state, None::<Overview>, true),
        move |(state, last, first)| async move {
            if !first {
                tokio::time::sleep(TICK).await;
            }
            loop {
                if started.elapsed() > LIFETIME {
                    return None;
                }
                let fresh = overview(&state, user).await;
                if last.as_ref() != Some(&fresh) {
                    let event = Event::default()
                        .event("overview")
                        .json_data(&fresh)
                        .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                    return Some((Ok(event), (state, Some(fresh), false)));
                }
                tokio::time::sleep(TICK).await;
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-01-01T10:{minute:02}:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn watch(kind: &str, state: WatchState, next: u32) -> WatchView {
        WatchView {
            kind: kind.into(),
            active: true,
            state,
            last_polled_at: Some(at(0)),
            next_poll_at: at(next),
        }
    }

    #[test]
    fn each_kind_keeps_its_own_state_and_the_side_shows_the_worst() {
        let side = side_overview(
            ConnectionStatus::Connected,
            &[
                watch("contact", WatchState::Ok, 1),
                watch("task", WatchState::BudgetExhausted, 40),
            ],
        );
        assert_eq!(side.kinds["contact"].state, ConnectionState::Connected);
        assert_eq!(
            side.state,
            ConnectionState::AllowanceUsedUp { until: at(40) }
        );
        let json = serde_json::to_value(&side).unwrap();
        assert_eq!(json["state"], "allowance_used_up");
        assert_eq!(json["kinds"]["task"]["until"], "2026-01-01T10:40:00Z");
    }

    #[test]
    fn a_connection_to_reconnect_is_that_on_every_kind() {
        let side = side_overview(
            ConnectionStatus::ReconnectNeeded,
            &[watch("contact", WatchState::Ok, 1)],
        );
        assert_eq!(side.state, ConnectionState::ReconnectNeeded);
        assert_eq!(
            side.kinds["contact"].state,
            ConnectionState::ReconnectNeeded
        );
    }
}
