//! Microsoft Graph v1.0 under `{base}/graph/v1.0` and the Microsoft identity platform under
//! `{base}/login/{tenant}/oauth2/v2.0/...`.
//!
//! - [`auth`]: the authorize and token endpoints, access tokens;
//! - [`folders`], [`contacts`], [`delta`]: contact folders, contacts, item delta;
//! - [`todo`]: Microsoft To Do lists and tasks;
//! - [`calendar`]: calendars, events, series, calendar views, master categories;
//! - [`recurrence`], [`tz`]: patterned recurrences and time zones;
//! - [`batch`]: JSON batching;
//! - [`concurrency`]: Outlook's 4 concurrent requests per app and mailbox;
//! - [`schema`]: the contact entity's properties, validation and rendering;
//! - [`store`]: mailboxes and their items, the change sequence;
//! - [`error`]: Graph's error envelope.

pub mod auth;
pub mod batch;
pub mod calendar;
pub mod concurrency;
pub mod contacts;
pub mod delta;
pub mod error;
pub mod extended;
pub mod folders;
pub mod recurrence;
pub mod schema;
pub mod store;
pub mod todo;
pub mod tz;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::faults;
use crate::meter::{self, Account, Api};
use crate::state::AppState;
use crate::time;
use concurrency::Entry;
use error::GraphError;

/// Where the Graph API is mounted.
pub const BASE_PATH: &str = "/graph/v1.0";

/// The mailbox an access token belongs to, set by the gate for the handlers.
#[derive(Debug, Clone)]
pub struct Caller {
    pub mailbox_id: String,
}

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/me", get(folders::me))
        .route("/$batch", post(batch::batch))
        .route(
            "/me/contactFolders",
            get(folders::list).post(folders::create),
        )
        .route("/me/contactFolders/{folder_id}", get(folders::get_one))
        .route(
            "/me/contactFolders/{folder_id}/childFolders",
            get(folders::list_children).post(folders::create_child),
        )
        .route(
            "/me/contactFolders/{folder_id}/contacts",
            get(contacts::list_in_folder).post(contacts::create_in_folder),
        )
        .route(
            "/me/contactFolders/{folder_id}/contacts/delta",
            get(delta::contacts_delta),
        )
        .route(
            "/me/contactFolders/{folder_id}/contacts/{contact_id}",
            get(contacts::get_in_folder)
                .patch(contacts::update_in_folder)
                .delete(contacts::delete_in_folder),
        )
        .route(
            "/me/contacts",
            get(contacts::list_default).post(contacts::create_default),
        )
        .route(
            "/me/contacts/{contact_id}",
            get(contacts::get_any)
                .patch(contacts::update_any)
                .delete(contacts::delete_any),
        )
        .route("/me/todo/lists", get(todo::lists).post(todo::create_list))
        .route("/me/todo/lists/delta", get(todo::lists_delta))
        .route(
            "/me/todo/lists/{list_id}",
            get(todo::get_list)
                .patch(todo::update_list)
                .delete(todo::delete_list),
        )
        .route(
            "/me/todo/lists/{list_id}/tasks",
            get(todo::list_tasks).post(todo::create_task),
        )
        .route(
            "/me/todo/lists/{list_id}/tasks/delta",
            get(todo::tasks_delta),
        )
        .route(
            "/me/todo/lists/{list_id}/tasks/{task_id}",
            get(todo::get_task)
                .patch(todo::update_task)
                .delete(todo::delete_task),
        )
        .route(
            "/me/calendars",
            get(calendar::calendars).post(calendar::create_calendar),
        )
        .route("/me/calendars/{calendar_id}", get(calendar::get_calendar))
        .route("/me/calendar", get(calendar::default_calendar))
        .route(
            "/me/calendar/events",
            get(calendar::list_default).post(calendar::create_default),
        )
        .route(
            "/me/events",
            get(calendar::list_default).post(calendar::create_default),
        )
        .route(
            "/me/events/{event_id}",
            get(calendar::get_any)
                .patch(calendar::update_any)
                .delete(calendar::delete_any),
        )
        .route("/me/events/{event_id}/instances", get(calendar::instances))
        .route(
            "/me/calendars/{calendar_id}/events",
            get(calendar::list_in).post(calendar::create_in),
        )
        .route(
            "/me/calendars/{calendar_id}/events/{event_id}",
            get(calendar::get_in)
                .patch(calendar::update_in)
                .delete(calendar::delete_in),
        )
        .route("/me/calendarView", get(calendar::calendar_view))
        .route("/me/calendarView/delta", get(calendar::calendar_view_delta))
        .route(
            "/me/outlook/masterCategories",
            get(calendar::categories).post(calendar::create_category),
        )
        .route(
            "/me/outlook/masterCategories/{category_id}",
            get(calendar::get_category)
                .patch(calendar::update_category)
                .delete(calendar::delete_category),
        )
        .route_layer(middleware::from_fn_with_state(state, gate))
        .fallback(unknown_segment)
}

/// Authenticates the bearer token, admits the call against Outlook's concurrency limit (see
/// [`concurrency`]) and passes it through the meter.
async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        })
        .filter(|t| !t.is_empty());
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    // Nested routers see the path without their prefix; the template is the full one.
    let full_path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path().to_owned(), |u| u.path().to_owned());
    let operation = meter::operation(request.method().as_str(), &template, &full_path, 2, &[]);

    let batch_item = request.extensions().get::<batch::BatchItem>().is_some();
    // The batch call itself is answered by Graph, not the mailbox: only its requests count.
    let counted = operation != BATCH_OPERATION;
    let admitted = {
        let mut world = state.world();
        let grant = match &token {
            None => Err(GraphError::unauthenticated("Access token is empty.")),
            Some(token) => match world.graph.access_tokens.get(token) {
                None => Err(GraphError::unauthenticated(
                    "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to \
                     be in JWS or JWE Compact Serialization Format.",
                )),
                Some(grant) if grant.expires_at <= time::now() => Err(GraphError::unauthenticated(
                    "Lifetime validation failed, the token is expired.",
                )),
                Some(grant) => Ok((
                    grant.mailbox_id.clone(),
                    grant
                        .client_id
                        .clone()
                        .unwrap_or_else(|| concurrency::CONTROL_APP.to_owned()),
                )),
            },
        };
        match grant {
            Err(error) => {
                world.meter.record_unauthenticated(Api::Graph);
                Err(error.into_response())
            }
            Ok((mailbox_id, app)) => {
                let account = Account::Mailbox(mailbox_id.clone());
                let entered = counted.then(|| world.concurrency.enter(&mailbox_id, &app));
                match entered {
                    Some(Entry::Refused { seen, retry_after }) => {
                        world.meter.record(&account, &operation);
                        world.meter.record_in_flight(&account, seen);
                        world.meter.record_fault(&account, "concurrency");
                        Err(faults::graph_throttled(retry_after))
                    }
                    entered => {
                        if let Some(Entry::Admitted(now)) = entered {
                            world.meter.record_in_flight(&account, now);
                        }
                        let admission =
                            meter::admit(&mut world, Api::Graph, &account, &operation, batch_item);
                        Ok((mailbox_id, app, admission))
                    }
                }
            }
        }
    };
    let (mailbox_id, app, admission) = match admitted {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    // Made after the world's lock is released: it takes the lock again when dropped.
    let _in_flight = counted.then(|| InFlight {
        state: state.clone(),
        mailbox_id: mailbox_id.clone(),
        app,
    });
    request.extensions_mut().insert(Caller { mailbox_id });
    meter::pass(admission, request, next).await
}

/// The operation label of the batch call.
const BATCH_OPERATION: &str = "POST /$batch";

/// A request counted in flight against its mailbox until it has answered or was abandoned (the
/// client hung up).
struct InFlight {
    state: AppState,
    mailbox_id: String,
    app: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state
            .world()
            .concurrency
            .leave(&self.mailbox_id, &self.app);
    }
}

async fn unknown_segment(request: Request) -> GraphError {
    let path = request.uri().path();
    let segment = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
    GraphError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Resource not found for the segment '{segment}'."),
    )
}

/// Graph treats path segments case-insensitively (the docs themselves write both
/// `contactFolders` and `contactfolders`); routing is case-sensitive, so known segments are
/// spelled canonically before routing. Ids are left alone. `delta` is an OData function: the
/// SDKs call it `delta()`, older ones `microsoft.graph.delta()` or `microsoft.graph.delta`, and
/// Graph takes every spelling; all become `delta` (no Graph id has a dot or parentheses).
pub fn normalise_path(mut request: Request) -> Request {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix(BASE_PATH) else {
        return request;
    };
    let fixed_rest: Vec<&str> = rest
        .split('/')
        .map(|segment| match segment.to_ascii_lowercase().as_str() {
            "me" => "me",
            "contactfolders" => "contactFolders",
            "childfolders" => "childFolders",
            "contacts" => "contacts",
            "delta" | "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()" => "delta",
            "todo" => "todo",
            "lists" => "lists",
            "tasks" => "tasks",
            "events" => "events",
            "calendar" => "calendar",
            "calendars" => "calendars",
            "calendarview" => "calendarView",
            "instances" => "instances",
            "outlook" => "outlook",
            "mastercategories" => "masterCategories",
            "$batch" => "$batch",
            _ => segment,
        })
        .collect();
    let fixed = format!("{BASE_PATH}{}", fixed_rest.join("/"));
    if fixed == path {
        return request;
    }
    let with_query = match request.uri().query() {
        Some(query) => format!("{fixed}?{query}"),
        None => fixed,
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(path_and_query) = with_query.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The query string as decoded pairs (OData options keep their `$`).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A JSON request body; anything unreadable is Graph's 400, never an extractor's plain text.
pub fn json_body(body: &Bytes) -> Result<Value, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|_| GraphError::unreadable_body())
}

/// `@odata.context` for an entity or collection of the caller's mailbox.
pub fn context(base: &str, mailbox_id: &str, tail: &str) -> String {
    format!("{base}{BASE_PATH}/$metadata#users('{mailbox_id}')/{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_segments_are_spelled_canonically() {
        let request = Request::builder()
            .uri("/graph/v1.0/me/contactfolders/AAMk=/CONTACTS/delta?$deltatoken=x")
            .body(axum::body::Body::empty())
            .expect("request");
        let request = normalise_path(request);
        assert_eq!(
            request.uri().to_string(),
            "/graph/v1.0/me/contactFolders/AAMk=/contacts/delta?$deltatoken=x"
        );
    }

    #[test]
    fn every_spelling_of_the_delta_function_is_delta() {
        for spelling in [
            "delta",
            "delta()",
            "Delta()",
            "microsoft.graph.delta()",
            "microsoft.graph.delta",
            "Microsoft.Graph.Delta()",
        ] {
            let request = Request::builder()
                .uri(format!(
                    "/graph/v1.0/me/todo/lists/AQMk=/tasks/{spelling}?$top=1"
                ))
                .body(axum::body::Body::empty())
                .expect("request");
            assert_eq!(
                normalise_path(request).uri().to_string(),
                "/graph/v1.0/me/todo/lists/AQMk=/tasks/delta?$top=1",
                "{spelling}"
            );
        }
    }
}
