//! `GET /me/calendarView/delta?startDateTime=&endDateTime=` (api-reference 1.3, 1.6).
//!
//! Occurrences are computed, not stored, so a change sequence cannot say which of them changed.
//! The sandbox keeps sync states on the server, as Exchange does: a round compares the view of
//! the window now (instance id → change key) with the view its delta token was issued for, and
//! lists what is new or changed, then `@removed` entries for what left the window's view
//! (deleted events, cancelled occurrences, events moved out). The pages of a round walk that
//! list; the window is fixed in the state for every later round.
//!
//! A mailbox keeps its last [`MAX_STATES`] states (Outlook's token lifetime is
//! cache-dependent); a token whose state was evicted, garbled, or expired through the control
//! API is answered 410 `SyncStateNotFound`, like the other delta tokens.

use std::collections::HashMap;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::event::{self, CalendarStore, Owner};
use crate::graph::delta::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, preferred_page_size};
use crate::graph::error::GraphError;
use crate::graph::store::Mailbox;
use crate::graph::{BASE_PATH, query_pairs, query_value, tz};
use crate::ids;

/// Sync states kept per mailbox.
pub const MAX_STATES: usize = 64;
const TOKEN_VERSION: u8 = 1;

#[derive(Debug, Clone)]
pub struct SyncState {
    pub calendar_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The view this round ends at: instance id → change key.
    pub baseline: HashMap<String, String>,
    /// The round's entries: instance id and whether it is a removal.
    pub pending: Vec<(String, bool)>,
    /// `Prefer: odata.maxpagesize` of the initial request.
    pub page_size: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Token {
    v: u8,
    m: String,
    e: u64,
    /// The sync state.
    s: u64,
    /// Next entry of the round (skip tokens).
    c: usize,
}

impl Token {
    fn encode(&self) -> String {
        ids::b64(&serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str) -> Option<Token> {
        let token: Token = serde_json::from_slice(&ids::unb64(raw.trim())?).ok()?;
        (token.v == TOKEN_VERSION).then_some(token)
    }
}

/// `startDateTime`/`endDateTime`: ISO-8601; a value without an offset is UTC.
pub fn window(pairs: &[(String, String)]) -> Result<(DateTime<Utc>, DateTime<Utc>), GraphError> {
    let missing = || {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters \
             StartDateTime and EndDateTime.",
        )
    };
    let read = |name: &str| -> Result<DateTime<Utc>, GraphError> {
        let raw = query_value(pairs, name).ok_or_else(missing)?;
        let (at, _) = tz::parse_local(raw).ok_or_else(|| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidParameter",
                format!("The value '{raw}' of parameter '{name}' is invalid."),
            )
        })?;
        Ok(at.and_utc())
    };
    let from = read("startDateTime")?;
    let to = read("endDateTime")?;
    if to <= from {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "The parameter 'EndDateTime' must be later than 'StartDateTime'.",
        ));
    }
    Ok((from, to))
}

/// Starts a round: the differences between `baseline` and the view now.
fn new_round(
    store: &mut CalendarStore,
    calendar_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    baseline: &HashMap<String, String>,
    page_size: Option<usize>,
) -> u64 {
    let view = event::view(store, &calendar_id, from, to);
    let mut pending: Vec<(String, bool)> = view
        .iter()
        .filter(|i| baseline.get(&i.id) != Some(&i.version()))
        .map(|i| (i.id.clone(), false))
        .collect();
    let current: HashMap<String, String> =
        view.iter().map(|i| (i.id.clone(), i.version())).collect();
    let mut removed: Vec<&String> = baseline
        .keys()
        .filter(|id| !current.contains_key(*id))
        .collect();
    removed.sort();
    pending.extend(removed.into_iter().map(|id| (id.clone(), true)));
    let id = store.next_sync;
    store.next_sync += 1;
    store.syncs.insert(
        id,
        SyncState {
            calendar_id,
            from,
            to,
            baseline: current,
            pending,
            page_size,
        },
    );
    while store.syncs.len() > MAX_STATES {
        store.syncs.pop_first();
    }
    id
}

fn unsupported(pairs: &[(String, String)]) -> Result<(), GraphError> {
    for option in ["$select", "$expand", "$filter", "$orderby", "$search"] {
        if query_value(pairs, option).is_some() {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidUrlQuery",
                format!(
                    "The following parameters are not supported with change tracking over the \
                     'CalendarView' resource: '{option}'."
                ),
            ));
        }
    }
    Ok(())
}

/// One page of `calendarView/delta` for the default calendar of `mailbox`.
pub fn page(
    mailbox: &mut Mailbox,
    base: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    let pairs = query_pairs(raw_query);
    let zone = tz::preferred(headers);
    let preferred = preferred_page_size(headers);
    let epoch = mailbox.delta_epoch;
    let mailbox_id = mailbox.id.clone();
    let valid = |raw: &str| {
        Token::decode(raw)
            .filter(|t| t.m == mailbox_id && t.e == epoch)
            .ok_or_else(GraphError::sync_state_not_found)
    };
    let store = &mut mailbox.calendar;
    let (state_id, cursor) = match (
        query_value(&pairs, "$skiptoken"),
        query_value(&pairs, "$deltatoken"),
    ) {
        (Some(skip), _) => {
            let token = valid(skip)?;
            if !store.syncs.contains_key(&token.s) {
                return Err(GraphError::sync_state_not_found());
            }
            (token.s, token.c)
        }
        (None, Some(delta)) => {
            let token = valid(delta)?;
            let previous = store
                .syncs
                .get(&token.s)
                .ok_or_else(GraphError::sync_state_not_found)?;
            let (calendar, from, to, baseline, size) = (
                previous.calendar_id.clone(),
                previous.from,
                previous.to,
                previous.baseline.clone(),
                previous.page_size,
            );
            (new_round(store, calendar, from, to, &baseline, size), 0)
        }
        (None, None) => {
            unsupported(&pairs)?;
            let (from, to) = window(&pairs)?;
            let calendar = store.default_id.clone();
            (
                new_round(store, calendar, from, to, &HashMap::new(), preferred),
                0,
            )
        }
    };
    let store = &mailbox.calendar;
    let state = store
        .syncs
        .get(&state_id)
        .ok_or_else(GraphError::sync_state_not_found)?;
    let page_size = preferred
        .or(state.page_size)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);
    let end = (cursor + page_size).min(state.pending.len());
    let owner = Owner {
        name: &mailbox.display_name,
        address: &mailbox.email,
    };
    let removed = |id: &str| json!({"@odata.type": "#microsoft.graph.event", "id": id, "@removed": {"reason": "deleted"}});
    let value: Vec<Value> = state.pending[cursor.min(end)..end]
        .iter()
        .map(|(id, gone)| {
            if *gone {
                return removed(id);
            }
            match event::locate(store, id) {
                Some(instance) => {
                    let mut item = Map::new();
                    item.insert("@odata.type".into(), json!("#microsoft.graph.event"));
                    item.extend(event::render(&instance, &owner, zone.as_ref(), None));
                    Value::Object(item)
                }
                // Deleted since the round started.
                None => removed(id),
            }
        })
        .collect();
    let link = format!("{base}{BASE_PATH}/me/calendarView/delta");
    let mut body =
        json!({"@odata.context": format!("{base}{BASE_PATH}/$metadata#Collection(event)")});
    let token = Token {
        v: TOKEN_VERSION,
        m: mailbox.id.clone(),
        e: epoch,
        s: state_id,
        c: end,
    };
    if end < state.pending.len() {
        body["@odata.nextLink"] = json!(format!("{link}?$skiptoken={}", token.encode()));
    } else {
        body["@odata.deltaLink"] = json!(format!("{link}?$deltatoken={}", token.encode()));
    }
    body["value"] = Value::Array(value);
    let mut response = Json(body).into_response();
    let mut applied = Vec::new();
    if let Some(size) = preferred {
        applied.push(format!("odata.maxpagesize={}", size.min(MAX_PAGE_SIZE)));
    }
    if let Some((_, name)) = &zone {
        applied.push(format!("outlook.timezone=\"{name}\""));
    }
    if !applied.is_empty()
        && let Ok(value) = HeaderValue::from_str(&applied.join(", "))
    {
        response.headers_mut().insert("preference-applied", value);
    }
    Ok(response)
}
