//! The control API under `/_sandbox`: not an emulation, the knobs tests and the demo turn.
//! Create mailboxes and orgs, mint tokens, read everything back without counting, seed data,
//! read the call counts, expire tokens. Every call is JSON; errors are `{"error": "..."}`.

mod activities;
mod faults;
mod people;
pub mod seed;
mod zoho_fields;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::graph::calendar::event as graph_event;
use crate::graph::store::{Collection, Item, Mailbox, TODO_LISTS};
use crate::graph::{extended, schema, todo};
use crate::links::BaseUrl;
use crate::state::{AppState, World};
use crate::zoho::{Dc, modules};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/graph/mailboxes", post(create_mailbox))
        .route(
            "/graph/mailboxes/{id}/access-token",
            post(mailbox_access_token),
        )
        .route("/graph/mailboxes/{id}/contacts", get(mailbox_contacts))
        .route("/graph/mailboxes/{id}/todo-lists", get(mailbox_lists))
        .route("/graph/mailboxes/{id}/tasks", get(mailbox_tasks))
        .route("/graph/mailboxes/{id}/events", get(mailbox_events))
        .route("/graph/mailboxes/{id}/categories", get(mailbox_categories))
        .route(
            "/graph/mailboxes/{id}/expire-delta-tokens",
            post(expire_delta_tokens),
        )
        .route(
            "/graph/mailboxes/{id}/expire-access-tokens",
            post(faults::expire_mailbox_tokens),
        )
        .route(
            "/graph/mailboxes/{id}/faults",
            put(faults::set_mailbox)
                .post(faults::set_mailbox)
                .delete(faults::clear_mailbox),
        )
        .route(
            "/graph/mailboxes/{id}/concurrency",
            get(faults::concurrency)
                .put(faults::set_concurrency)
                .post(faults::set_concurrency)
                .delete(faults::reset_concurrency),
        )
        .route("/zoho/orgs", post(create_org))
        .route("/zoho/orgs/{id}/access-token", post(org_access_token))
        .route("/zoho/orgs/{id}/records/{module}", get(org_records))
        .route(
            "/zoho/orgs/{id}/expire-access-tokens",
            post(faults::expire_org_tokens),
        )
        .route(
            "/zoho/orgs/{id}/faults",
            put(faults::set_org)
                .post(faults::set_org)
                .delete(faults::clear_org),
        )
        .route(
            "/zoho/orgs/{id}/fields/{module}",
            get(zoho_fields::list).post(zoho_fields::create),
        )
        .route(
            "/zoho/orgs/{id}/permissions",
            get(zoho_fields::permissions)
                .put(zoho_fields::permissions)
                .post(zoho_fields::permissions),
        )
        .route(
            "/zoho/orgs/{id}/unique-fields",
            put(faults::set_unique_fields).post(faults::set_unique_fields),
        )
        .route(
            "/zoho/orgs/{id}/credits",
            get(faults::credits)
                .put(faults::set_credits)
                .post(faults::set_credits),
        )
        .route(
            "/faults",
            get(faults::describe)
                .put(faults::set_global)
                .post(faults::set_global)
                .delete(faults::clear_all),
        )
        .nest("/oidc", crate::oidc::control::router())
        .route("/seed", post(seed::seed))
        .route("/snapshot", get(read_snapshot).post(write_snapshot))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/expire-access-tokens", post(expire_access_tokens))
        .fallback(|| async { ControlError::not_found("no such control call") })
}

#[derive(Debug)]
pub struct ControlError {
    status: StatusCode,
    message: String,
}

impl ControlError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ControlError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ControlError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.message}))).into_response()
    }
}

/// A JSON body, or the type's default for an empty body.
pub fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ControlError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ControlError::bad_request(format!("bad body: {e}")))
}

#[derive(Debug, Default, Deserialize)]
struct NewMailbox {
    display_name: Option<String>,
    email: Option<String>,
    /// `false`: a selected `cancelledOccurrences` is left out, as Graph does for some mailboxes.
    #[serde(default = "yes")]
    cancelled_occurrences: bool,
}

fn yes() -> bool {
    true
}

async fn create_mailbox(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Response, ControlError> {
    let request: NewMailbox = body(&bytes)?;
    let mut world = state.world();
    let mailbox_id = world
        .graph
        .create_mailbox(request.display_name, request.email);
    let refresh_token = world.graph.issue_refresh_token(&mailbox_id);
    let mailbox = world
        .graph
        .mailboxes
        .get_mut(&mailbox_id)
        .ok_or_else(|| ControlError::not_found("mailbox vanished"))?;
    mailbox.cancelled_occurrences = request.cancelled_occurrences;
    let answer = json!({
        "mailbox_id": mailbox_id,
        "refresh_token": refresh_token,
        "default_contact_folder_id": mailbox.default_folder_id,
        "display_name": mailbox.display_name,
        "email": mailbox.email,
        "cancelled_occurrences": mailbox.cancelled_occurrences,
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn mailbox_access_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    if !world.graph.mailboxes.contains_key(&id) {
        return Err(ControlError::not_found("unknown mailbox"));
    }
    let (access_token, expires_in) = world.graph.issue_access_token(&id, None);
    Ok(Json(
        json!({"access_token": access_token, "expires_in": expires_in}),
    ))
}

async fn mailbox_contacts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let world = state.world();
    let mailbox = world
        .graph
        .mailboxes
        .get(&id)
        .ok_or_else(|| ControlError::not_found("unknown mailbox"))?;
    let value: Vec<Value> = mailbox
        .all_contacts()
        .into_iter()
        .map(|c| Value::Object(with_extended(schema::render(c, None), &c.props)))
        .collect();
    Ok(Json(json!({"value": value})))
}

/// Every extended property of an item, as Graph would expand them (left out when none), so an
/// oracle can read the link identity without knowing its id.
fn with_extended(
    mut rendered: serde_json::Map<String, Value>,
    props: &serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    if let Some(all) = extended::all(props) {
        rendered.insert(extended::PROPERTY.into(), all);
    }
    rendered
}

fn mailbox_of<'a>(world: &'a World, id: &str) -> Result<&'a Mailbox, ControlError> {
    world
        .graph
        .mailboxes
        .get(id)
        .ok_or_else(|| ControlError::not_found("unknown mailbox"))
}

/// Every To Do list, as Graph renders them.
async fn mailbox_lists(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let world = state.world();
    let mailbox = mailbox_of(&world, &id)?;
    let value: Vec<Value> = mailbox
        .items_in(Collection::TodoLists, TODO_LISTS)
        .into_iter()
        .map(|l| Value::Object(todo::render_list(l, None)))
        .collect();
    Ok(Json(json!({"value": value})))
}

/// Every task of every list (with its `listId`), times in UTC.
async fn mailbox_tasks(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let world = state.world();
    let mailbox = mailbox_of(&world, &id)?;
    let mut tasks: Vec<&Item> = mailbox.tasks.values().collect();
    tasks.sort_by_key(|t| t.order);
    let value: Vec<Value> = tasks
        .into_iter()
        .map(|t| {
            let mut task = with_extended(todo::render_task(t, None, None), &t.props);
            task.insert("listId".into(), json!(t.folder_id));
            Value::Object(task)
        })
        .collect();
    Ok(Json(json!({"value": value})))
}

/// Every stored event (single instances, series masters, exceptions) with its `calendarId`,
/// times in UTC. Occurrences are not stored: read them through `calendarView`.
async fn mailbox_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let world = state.world();
    let mailbox = mailbox_of(&world, &id)?;
    let store = &mailbox.calendar;
    let owner = graph_event::Owner {
        name: &mailbox.display_name,
        address: &mailbox.email,
    };
    let mut events: Vec<&graph_event::Event> = store.events.values().collect();
    events.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    let value: Vec<Value> = events
        .into_iter()
        .filter_map(|e| {
            let instance = graph_event::locate(store, &e.id)?;
            let mut rendered =
                with_extended(graph_event::render(&instance, &owner, None, None), &e.props);
            rendered.insert("calendarId".into(), json!(e.calendar_id));
            Some(Value::Object(rendered))
        })
        .collect();
    Ok(Json(json!({"value": value})))
}

async fn mailbox_categories(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let world = state.world();
    let mailbox = mailbox_of(&world, &id)?;
    let value: Vec<Value> = mailbox
        .calendar
        .categories
        .iter()
        .map(|c| json!({"id": c.id, "displayName": c.display_name, "color": c.color}))
        .collect();
    Ok(Json(json!({"value": value})))
}

async fn expire_delta_tokens(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    let mailbox = world
        .graph
        .mailboxes
        .get_mut(&id)
        .ok_or_else(|| ControlError::not_found("unknown mailbox"))?;
    mailbox.delta_epoch += 1;
    mailbox.calendar.syncs.clear();
    Ok(Json(json!({"expired": true})))
}

#[derive(Debug, Default, Deserialize)]
struct NewOrg {
    dc: Option<String>,
    user_name: Option<String>,
    user_email: Option<String>,
    /// API credits per 24 hours; absent: the sandbox's default (unlimited unless configured).
    credit_budget: Option<u64>,
    /// Enforce Zoho's per-refresh-token limits on refreshes (off by default).
    #[serde(default)]
    token_limits: bool,
    /// The user's IANA zone (`Etc/UTC` by default): every date-time is answered in it.
    time_zone: Option<String>,
}

async fn create_org(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    bytes: Bytes,
) -> Result<Response, ControlError> {
    let request: NewOrg = body(&bytes)?;
    let dc = match request.dc.as_deref() {
        None => Dc::Com,
        Some(code) => Dc::parse(code).ok_or_else(|| {
            ControlError::bad_request(format!(
                "unknown dc `{code}`; use one of com, eu, in, com.au, jp, ca, sa, com.cn"
            ))
        })?,
    };
    let time_zone = match request.time_zone {
        Some(name) if name.parse::<chrono_tz::Tz>().is_err() => {
            return Err(ControlError::bad_request(format!(
                "unknown time_zone `{name}`; use an IANA name such as Asia/Tokyo"
            )));
        }
        other => other,
    };
    let mut world = state.world();
    let org_id = world
        .zoho
        .create_org(dc, request.user_name, request.user_email);
    let refresh_token = world.zoho.issue_refresh_token(&org_id);
    let org = world
        .zoho
        .orgs
        .get_mut(&org_id)
        .ok_or_else(|| ControlError::not_found("org vanished"))?;
    if let Some(budget) = request.credit_budget {
        org.credits.budget = Some(budget);
    }
    org.token_limits = request.token_limits;
    if let Some(name) = time_zone {
        org.user.time_zone = name;
    }
    let answer = json!({
        "org_id": org_id,
        "user_id": org.user.id.to_string(),
        "user_name": org.user.name,
        "user_email": org.user.email,
        "dc": dc.code(),
        "refresh_token": refresh_token,
        "api_domain": dc.api_domain(&base),
        "accounts_url": dc.accounts_url(&base),
        "credit_budget": org.credits.budget,
        "token_limits": org.token_limits,
        "time_zone": org.user.time_zone,
    });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn org_access_token(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    let (access_token, expires_in) = world
        .zoho
        .issue_access_token(&id)
        .ok_or_else(|| ControlError::not_found("unknown org"))?;
    let dc = world.zoho.orgs.get(&id).map_or(Dc::Com, |o| o.dc);
    Ok(Json(json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "api_domain": dc.api_domain(&base),
    })))
}

async fn org_records(
    State(state): State<AppState>,
    Path((id, module)): Path<(String, String)>,
) -> Result<Json<Value>, ControlError> {
    let module = modules::find(&module)
        .ok_or_else(|| ControlError::bad_request(format!("unknown module `{module}`")))?;
    let world = state.world();
    let org = world
        .zoho
        .orgs
        .get(&id)
        .ok_or_else(|| ControlError::not_found("unknown org"))?;
    let data: Vec<Value> = org
        .data(module)
        .records
        .values()
        .map(|r| org.render(module, r, None))
        .collect();
    Ok(Json(json!({"data": data})))
}

/// Call counts, injected faults, and the Zoho credits each org spent in the last 24 hours.
async fn stats(State(state): State<AppState>) -> Json<Value> {
    let mut world = state.world();
    let mut stats = world.meter.snapshot();
    let now = crate::time::now();
    let credits: serde_json::Map<String, Value> = world
        .zoho
        .orgs
        .iter_mut()
        .map(|(id, org)| (id.clone(), org.credits.describe(now)))
        .collect();
    stats["zoho"]["credits"] = Value::Object(credits);
    Json(stats)
}

/// The whole world as snapshot JSON (what the snapshot file holds).
async fn read_snapshot(State(state): State<AppState>) -> Result<Response, ControlError> {
    let bytes = crate::snapshot::to_json(&state.world())
        .map_err(|e| ControlError::bad_request(e.to_string()))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response())
}

/// Writes the snapshot file now.
async fn write_snapshot(State(state): State<AppState>) -> Result<Json<Value>, ControlError> {
    let Some(path) = state.settings().snapshot_file.clone() else {
        return Err(ControlError {
            status: StatusCode::CONFLICT,
            message: "no snapshot file is configured (SANDBOX_SNAPSHOT_FILE)".to_owned(),
        });
    };
    let bytes = crate::snapshot::to_json(&state.world())
        .map_err(|e| ControlError::bad_request(e.to_string()))?;
    let written = bytes.len();
    tokio::task::spawn_blocking(move || crate::snapshot::write(&path, &bytes).map(|()| path))
        .await
        .map_err(|e| ControlError::bad_request(e.to_string()))?
        .map(|path| Json(json!({"path": path.display().to_string(), "bytes": written})))
        .map_err(|e| ControlError::bad_request(format!("{e:#}")))
}

async fn reset_stats(State(state): State<AppState>) -> Json<Value> {
    state.world().meter.reset();
    Json(json!({"reset": true}))
}

async fn expire_access_tokens(State(state): State<AppState>) -> Json<Value> {
    let mut world = state.world();
    world.graph.expire_access_tokens();
    world.zoho.expire_access_tokens();
    Json(json!({"expired": true}))
}
