//! `GET /api/admin/connections`: every user's connection with its real state (decisions #71).
//! auth-service knows each connection's stored status (connected, reconnect needed) and checks
//! that the caller is an administrator; the connectors know which users' polls are throttled,
//! out of their daily allowance or failing. `web` asks auth-service with the administrator's own
//! token (so auth-service decides who may see the list), asks each connector once for its
//! unwell watches, and joins them with the same rule as the user's Status
//! ([`ConnectionState::of_connection`]).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use service_kit::extract::{BadInput, Query};
use sync_model::{ConnectionState, ConnectionStatus, Side, UserId, WatchState};

use crate::error::{Error, Result};
use crate::startup::AppState;

/// The states an administrator can filter by, as the page names them.
pub const FILTERS: [&str; 5] = [
    "connected",
    "reconnect_needed",
    "throttled",
    "allowance_used_up",
    "provider_failing",
];
/// auth-service's largest page: the console lists at most this many connections.
const AUTH_PAGE: u32 = 500;

#[derive(Deserialize)]
pub struct Filter {
    status: Option<String>,
    provider: Option<String>,
}

/// One connection as auth-service lists it; the fields not needed here pass through unchanged.
#[derive(Debug, Clone, Deserialize)]
pub struct Listed {
    pub user_id: UserId,
    pub provider: Side,
    pub status: ConnectionStatus,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Listing {
    connections: Vec<Listed>,
}

/// A watch not polling normally, as a connector reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Unwell {
    pub user_id: UserId,
    pub state: WatchState,
    pub next_poll_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct UnwellAnswer {
    watches: Vec<Unwell>,
    #[serde(default)]
    truncated: bool,
}

/// One connection with what the user would be told about it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub user_id: UserId,
    pub provider: Side,
    /// auth-service's stored status (`connected`, `reconnect_needed`).
    pub status: ConnectionStatus,
    #[serde(flatten)]
    pub state: ConnectionState,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl Row {
    /// The state's name, as in [`FILTERS`].
    pub fn state_name(&self) -> &'static str {
        match self.state {
            ConnectionState::NotConnected => "not_connected",
            ConnectionState::ReconnectNeeded => "reconnect_needed",
            ConnectionState::AllowanceUsedUp { .. } => "allowance_used_up",
            ConnectionState::Throttled { .. } => "throttled",
            ConnectionState::ProviderFailing { .. } => "provider_failing",
            ConnectionState::Connected => "connected",
        }
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Count {
    pub provider: Side,
    pub state: &'static str,
    pub count: usize,
}

#[derive(Serialize)]
struct Answer {
    connections: Vec<Row>,
    /// Per provider and state, over every listed connection (not only the filtered ones).
    summary: Vec<Count>,
    /// The connectors that did not answer: their connections show only auth-service's status.
    unavailable: Vec<&'static str>,
    /// More connections exist than the console lists.
    truncated: bool,
}

/// Each listed connection's state: its stored status, else the worst of its side's unwell
/// watches for that user; the worst first (a stable sort keeps auth-service's order within).
pub fn join(listed: Vec<Listed>, unwell: &BTreeMap<Side, Vec<Unwell>>) -> Vec<Row> {
    let mut rows: Vec<Row> = listed
        .into_iter()
        .map(|c| {
            let watches = unwell
                .get(&c.provider)
                .into_iter()
                .flatten()
                .filter(|w| w.user_id == c.user_id)
                .map(|w| ConnectionState::of_watch(w.state, w.next_poll_at));
            Row {
                state: ConnectionState::of_connection(c.status, watches),
                user_id: c.user_id,
                provider: c.provider,
                status: c.status,
                rest: c.rest,
            }
        })
        .collect();
    rows.sort_by_key(|r| r.state.rank());
    rows
}

/// How many connections are in each state, per provider.
pub fn summary(rows: &[Row]) -> Vec<Count> {
    let mut counts: BTreeMap<(Side, &'static str), usize> = BTreeMap::new();
    for row in rows {
        *counts.entry((row.provider, row.state_name())).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((provider, state), count)| Count {
            provider,
            state,
            count,
        })
        .collect()
}

async fn unwell_of(state: &AppState, side: Side) -> Option<UnwellAnswer> {
    let base = match side {
        Side::Outlook => &state.upstreams.outlook_url,
        Side::Zoho => &state.upstreams.zoho_url,
    };
    let answer = state
        .http
        .get(format!(
            "{}/internal/v1/watches/unwell",
            base.trim_end_matches('/')
        ))
        .bearer_auth(state.service_token.expose_secret())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !answer.status().is_success() {
        tracing::warn!(status = %answer.status(), %side, "unwell watches unavailable");
        return None;
    }
    answer.json().await.ok()
}

/// `GET /api/admin/connections?status=&provider=` (an administrator's bearer token).
#[utoipa::path(get, path = "/api/admin/connections", tag = "page", security(("access_token" = [])),
    params(
        ("status" = Option<String>, Query, description = "connected, reconnect_needed, throttled, allowance_used_up or provider_failing"),
        ("provider" = Option<String>, Query, description = "outlook or zoho"),
    ),
    responses(
        (status = 200, description = "every user's connection with its real state, a summary, and the connectors that did not answer"),
        (status = 403, body = service_kit::openapi::ErrorBody, description = "forbidden: not an administrator (auth-service's answer)"),
        (status = 422, body = service_kit::openapi::ErrorBody, description = "invalid_query: an unknown status; auth-service's invalid_status, unknown_provider"),
        (status = 502, body = service_kit::openapi::ErrorBody, description = "upstream_unavailable: auth-service did not answer"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Result<Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(Error::Unauthenticated)?;
    if let Some(status) = filter.status.as_deref().filter(|s| !s.is_empty())
        && !FILTERS.contains(&status)
    {
        return Err(
            BadInput::Query(format!("status must be one of {}", FILTERS.join(", "))).into(),
        );
    }
    let mut url = state.auth.base.join("v1/admin/connections").map_err(|e| {
        Error::Unexpected(anyhow::anyhow!("auth-service's admin connections URL: {e}"))
    })?;
    url.query_pairs_mut()
        .append_pair("limit", &AUTH_PAGE.to_string());
    if let Some(provider) = filter.provider.as_deref().filter(|p| !p.is_empty()) {
        url.query_pairs_mut().append_pair("provider", provider);
    }
    let (listing, outlook, zoho) = tokio::join!(
        state.http.get(url).bearer_auth(token).send(),
        unwell_of(&state, Side::Outlook),
        unwell_of(&state, Side::Zoho),
    );
    let listing = listing.map_err(|_| Error::Unavailable("auth-service"))?;
    // Not an administrator, a bad provider: auth-service's own answer, unchanged.
    if !listing.status().is_success() {
        return crate::proxy::relay(listing, None).await;
    }
    let listing: Listing = listing
        .json()
        .await
        .map_err(|_| Error::Unavailable("auth-service"))?;
    let truncated = listing.connections.len() >= AUTH_PAGE as usize;
    let mut unavailable = Vec::new();
    let mut unwell = BTreeMap::new();
    for (side, answer, name) in [
        (Side::Outlook, outlook, "connector-outlook"),
        (Side::Zoho, zoho, "connector-zoho"),
    ] {
        match answer {
            Some(answer) => {
                if answer.truncated {
                    tracing::warn!(%side, "more unwell watches than one answer holds");
                }
                unwell.insert(side, answer.watches);
            }
            None => unavailable.push(name),
        }
    }
    let rows = join(listing.connections, &unwell);
    let summary = summary(&rows);
    let wanted = filter.status.filter(|s| !s.is_empty());
    let connections = rows
        .into_iter()
        .filter(|r| wanted.as_deref().is_none_or(|w| w == r.state_name()))
        .collect();
    let mut response = Json(Answer {
        connections,
        summary,
        unavailable,
        truncated,
    })
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-01-01T10:{minute:02}:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn user_no(n: u128) -> UserId {
        serde_json::from_value(serde_json::json!(format!(
            "00000000-0000-0000-0000-{n:012}"
        )))
        .unwrap()
    }

    fn listed(user: u128, provider: Side, status: ConnectionStatus) -> Listed {
        let mut rest = serde_json::Map::new();
        rest.insert("email".into(), format!("u{user}@example.com").into());
        Listed {
            user_id: user_no(user),
            provider,
            status,
            rest,
        }
    }

    fn unwell(user: u128, state: WatchState, next: u32) -> Unwell {
        Unwell {
            user_id: user_no(user),
            state,
            next_poll_at: at(next),
        }
    }

    #[test]
    fn each_connection_takes_its_own_users_watches_on_its_own_side() {
        let unwell = BTreeMap::from([
            (
                Side::Zoho,
                vec![
                    unwell(1, WatchState::Throttled, 5),
                    unwell(1, WatchState::BudgetExhausted, 50),
                    unwell(2, WatchState::Error, 3),
                    // A stored reconnect outranks what the watches last said.
                    unwell(3, WatchState::Throttled, 5),
                ],
            ),
            (Side::Outlook, vec![unwell(4, WatchState::Error, 3)]),
        ]);
        let rows = join(
            vec![
                listed(1, Side::Outlook, ConnectionStatus::Connected),
                listed(1, Side::Zoho, ConnectionStatus::Connected),
                listed(2, Side::Zoho, ConnectionStatus::Connected),
                listed(3, Side::Zoho, ConnectionStatus::ReconnectNeeded),
                listed(5, Side::Zoho, ConnectionStatus::Connected),
            ],
            &unwell,
        );
        let of = |user: u128, side: Side| {
            rows.iter()
                .find(|r| r.user_id == user_no(user) && r.provider == side)
                .map(|r| r.state)
                .unwrap()
        };
        assert_eq!(of(1, Side::Outlook), ConnectionState::Connected);
        assert_eq!(
            of(1, Side::Zoho),
            ConnectionState::AllowanceUsedUp { until: at(50) }
        );
        assert_eq!(
            of(2, Side::Zoho),
            ConnectionState::ProviderFailing { until: at(3) }
        );
        assert_eq!(of(3, Side::Zoho), ConnectionState::ReconnectNeeded);
        assert_eq!(of(5, Side::Zoho), ConnectionState::Connected);
        // The worst first.
        assert_eq!(rows[0].state, ConnectionState::ReconnectNeeded);
        assert_eq!(rows.last().unwrap().state, ConnectionState::Connected);

        let json = serde_json::to_value(&rows[1]).unwrap();
        assert_eq!(json["state"], "allowance_used_up");
        assert_eq!(json["until"], "2026-01-01T10:50:00Z");
        assert_eq!(json["status"], "connected");
        assert_eq!(
            json["email"], "u1@example.com",
            "auth-service's fields kept"
        );

        let counts = summary(&rows);
        assert!(counts.contains(&Count {
            provider: Side::Zoho,
            state: "connected",
            count: 1
        }));
        assert!(counts.contains(&Count {
            provider: Side::Outlook,
            state: "connected",
            count: 1
        }));
        assert_eq!(counts.iter().map(|c| c.count).sum::<usize>(), rows.len());
    }

    #[test]
    fn a_states_name_is_its_serialised_tag_and_every_filter_names_one() {
        let states = [
            ConnectionState::NotConnected,
            ConnectionState::ReconnectNeeded,
            ConnectionState::AllowanceUsedUp { until: at(1) },
            ConnectionState::Throttled { until: at(1) },
            ConnectionState::ProviderFailing { until: at(1) },
            ConnectionState::Connected,
        ];
        let mut names = Vec::new();
        for state in states {
            let row = Row {
                user_id: user_no(0),
                provider: Side::Zoho,
                status: ConnectionStatus::Connected,
                state,
                rest: serde_json::Map::new(),
            };
            assert_eq!(
                serde_json::to_value(&row).unwrap()["state"],
                row.state_name()
            );
            names.push(row.state_name());
        }
        for filter in FILTERS {
            assert!(names.contains(&filter), "{filter}");
        }
    }
}
