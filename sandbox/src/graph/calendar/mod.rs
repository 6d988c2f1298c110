//! Calendars, events, instances, calendar views and master categories (api-reference 1.3).
//!
//! - [`event`], the entity, series expansion and rendering;
//! - [`sync`], `calendarView/delta`;
//! - this module: the handlers.
//!
//! Every answer with `start`/`end` is in the zone of `Prefer: outlook.timezone` (echoed in
//! `Preference-Applied`), else in UTC.

pub mod event;
pub mod sync;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::contacts::check_etag;
use super::error::GraphError;
use super::extended::{self, Expand};
use super::folders::{mailbox, mailbox_mut};
use super::store::Mailbox;
use super::{BASE_PATH, Caller, context, json_body, query_pairs, query_value, tz};
use crate::links::BaseUrl;
use crate::state::AppState;
use crate::{ids, time};
use event::{CalendarStore, Instance, InstanceKind, Kind, Owner};

/// Page size of plain event lists, instances and calendar views without `$top`.
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 1000;

fn owner(mailbox: &Mailbox) -> Owner<'_> {
    Owner {
        name: &mailbox.display_name,
        address: &mailbox.email,
    }
}

fn with_zone(mut response: Response, zone: Option<&(Tz, String)>) -> Response {
    if let Some((_, name)) = zone
        && let Ok(value) = HeaderValue::from_str(&format!("outlook.timezone=\"{name}\""))
    {
        response.headers_mut().insert("preference-applied", value);
    }
    response
}

fn entity(
    base: &str,
    mailbox: &Mailbox,
    instance: &Instance<'_>,
    zone: Option<&(Tz, String)>,
    select: Option<&[String]>,
) -> Value {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(context(base, &mailbox.id, "events/$entity")),
    );
    body.extend(event::render(instance, &owner(mailbox), zone, select));
    Value::Object(body)
}

fn calendar_of(store: &CalendarStore, calendar_id: Option<&str>) -> Result<String, GraphError> {
    match calendar_id {
        None => Ok(store.default_id.clone()),
        Some(id) => store
            .calendars
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.id.clone())
            .ok_or_else(GraphError::item_not_found),
    }
}

/// `$top` and `$skip`.
fn paging(pairs: &[(String, String)]) -> Result<(usize, usize), GraphError> {
    let number = |name: &str, default: usize| -> Result<usize, GraphError> {
        match query_value(pairs, name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| {
                GraphError::parse_uri(format!("Invalid value '{raw}' for query option '{name}'."))
            }),
        }
    };
    Ok((
        number("$top", DEFAULT_TOP)?.clamp(1, MAX_TOP),
        number("$skip", 0)?,
    ))
}

/// A page of instances with `@odata.nextLink` carrying `keep` (the window), `$select` and the
/// extended-property `$filter` and `$expand` (see [`extended`]), which apply to the instance's
/// event (an occurrence has its master's properties).
#[allow(clippy::too_many_arguments)]
fn instance_page(
    base: &str,
    mailbox: &Mailbox,
    instances: &[Instance<'_>],
    pairs: &[(String, String)],
    path: &str,
    keep: &[&str],
    zone: Option<&(Tz, String)>,
    context_tail: &str,
) -> Result<Response, GraphError> {
    let (top, skip) = paging(pairs)?;
    let select_raw = query_value(pairs, "$select").map(str::to_owned);
    let select = select_raw.as_deref().map(event::parse_select).transpose()?;
    let filter_raw = query_value(pairs, "$filter").map(str::to_owned);
    let filter = extended::parse_filter(filter_raw.as_deref())?;
    let expand_raw = query_value(pairs, "$expand").map(str::to_owned);
    let (expand, _) = extended::parse_expand(expand_raw.as_deref())?;
    let owner = owner(mailbox);
    let instances: Vec<&Instance<'_>> = instances
        .iter()
        .filter(|i| extended::Filter::keep(filter.as_ref(), &i.event.props))
        .collect();
    let value: Vec<Value> = instances
        .iter()
        .skip(skip)
        .take(top)
        .map(|i| {
            let mut out = event::render(i, &owner, zone, select.as_deref());
            Expand::apply(expand.as_ref(), &i.event.props, &mut out);
            Value::Object(out)
        })
        .collect();
    let mut body = json!({
        "@odata.context": context(base, &mailbox.id, context_tail),
        "value": value,
    });
    if skip + top < instances.len() {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        for name in keep {
            if let Some(value) = query_value(pairs, name) {
                next.append_pair(name, value);
            }
        }
        next.append_pair("$top", &top.to_string());
        next.append_pair("$skip", &(skip + top).to_string());
        for (name, value) in [
            ("$select", &select_raw),
            ("$filter", &filter_raw),
            ("$expand", &expand_raw),
        ] {
            if let Some(value) = value {
                next.append_pair(name, value);
            }
        }
        body["@odata.nextLink"] = json!(format!("{base}{BASE_PATH}/{path}?{}", next.finish()));
    }
    Ok(with_zone(Json(body).into_response(), zone))
}

// --- calendars -------------------------------------------------------------------------------

fn calendar_json(mailbox: &Mailbox, calendar: &event::CalendarFolder) -> Value {
    let is_default = calendar.id == mailbox.calendar.default_id;
    json!({
        "@odata.etag": format!("W/\"{}\"", calendar.change_key),
        "id": calendar.id,
        "name": calendar.name,
        "color": "auto",
        "hexColor": "",
        "isDefaultCalendar": is_default,
        "changeKey": calendar.change_key,
        "canShare": true,
        "canViewPrivateItems": true,
        "canEdit": true,
        "isRemovable": !is_default,
        "isTallyingResponses": true,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "owner": {"name": mailbox.display_name, "address": mailbox.email},
    })
}

pub async fn calendars(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let value: Vec<Value> = mailbox
        .calendar
        .calendars
        .iter()
        .map(|c| calendar_json(mailbox, c))
        .collect();
    Ok(Json(json!({
        "@odata.context": context(&base, &mailbox.id, "calendars"),
        "value": value,
    })))
}

pub async fn create_calendar(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    body: Bytes,
) -> Result<Response, GraphError> {
    let body = json_body(&body)?;
    let Value::Object(fields) = &body else {
        return Err(GraphError::body_read("A 'StartObject' node was expected."));
    };
    let mut name = None;
    for (key, value) in fields {
        match key.as_str() {
            "name" => name = value.as_str().map(str::trim).map(str::to_owned),
            "color" | "hexColor" | "id" => {}
            k if k.starts_with('@') => {}
            other => {
                return Err(GraphError::body_read(format!(
                    "The property '{other}' does not exist on type 'microsoft.graph.calendar'."
                )));
            }
        }
    }
    let name = name.filter(|n| !n.is_empty()).ok_or_else(|| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The name of a calendar is required.",
        )
    })?;
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    if mailbox
        .calendar
        .calendars
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case(&name))
    {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        ));
    }
    let calendar = event::CalendarFolder {
        id: ids::graph_id(),
        name,
        change_key: ids::change_key(),
    };
    mailbox.calendar.calendars.push(calendar.clone());
    let mut answer = calendar_json(mailbox, &calendar);
    answer["@odata.context"] = json!(context(&base, &mailbox.id, "calendars/$entity"));
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

async fn one_calendar(
    state: AppState,
    caller: Caller,
    base: String,
    calendar_id: Option<String>,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let id = calendar_of(&mailbox.calendar, calendar_id.as_deref())?;
    let calendar = mailbox
        .calendar
        .calendars
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(GraphError::item_not_found)?;
    let mut answer = calendar_json(mailbox, calendar);
    answer["@odata.context"] = json!(context(&base, &mailbox.id, "calendars/$entity"));
    Ok(Json(answer))
}

pub async fn get_calendar(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(calendar_id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    one_calendar(state, caller, base, Some(calendar_id)).await
}

pub async fn default_calendar(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    one_calendar(state, caller, base, None).await
}

// --- events ----------------------------------------------------------------------------------

async fn create(
    state: AppState,
    caller: Caller,
    base: String,
    calendar_id: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let mut body = json_body(&body)?;
    let properties = extended::take(&mut body)?;
    let changes = event::parse(&body)?;
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let calendar = calendar_of(&mailbox.calendar, calendar_id.as_deref())?;
    // A create repeating a `transactionId` already used in the mailbox makes no second event:
    // it is answered the first one, as if this were its answer (see the README's choice).
    let repeated = changes
        .props
        .get("transactionId")
        .and_then(Value::as_str)
        .and_then(|wanted| event::by_transaction_id(&mailbox.calendar, wanted))
        .map(|e| e.id.clone());
    let id = match repeated {
        Some(id) => id,
        None => {
            let mut created = event::create(&calendar, changes, time::now_precise())?;
            extended::merge(&mut created.props, properties);
            let id = created.id.clone();
            mailbox.calendar.events.insert(id.clone(), created);
            id
        }
    };
    let instance = event::locate(&mailbox.calendar, &id).ok_or_else(GraphError::item_not_found)?;
    let answer = entity(&base, mailbox, &instance, zone.as_ref(), None);
    Ok(with_zone(
        (StatusCode::CREATED, Json(answer)).into_response(),
        zone.as_ref(),
    ))
}

pub async fn create_default(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    create(state, caller, base, None, headers, body).await
}

pub async fn create_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(calendar_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    create(state, caller, base, Some(calendar_id), headers, body).await
}

/// Single events and series masters of a calendar (never occurrences or exceptions), oldest
/// first.
async fn list(
    state: AppState,
    caller: Caller,
    base: String,
    calendar_id: Option<String>,
    raw_query: Option<String>,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let pairs = query_pairs(raw_query.as_deref());
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let calendar = calendar_of(&mailbox.calendar, calendar_id.as_deref())?;
    let mut events: Vec<&event::Event> = mailbox
        .calendar
        .events
        .values()
        .filter(|e| e.calendar_id == calendar && e.kind != Kind::Exception)
        .collect();
    events.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    let instances: Vec<Instance<'_>> = events
        .iter()
        .filter_map(|e| event::locate(&mailbox.calendar, &e.id))
        .collect();
    let path = match &calendar_id {
        None => "me/events".to_owned(),
        Some(id) => format!("me/calendars/{id}/events"),
    };
    instance_page(
        &base,
        mailbox,
        &instances,
        &pairs,
        &path,
        &[],
        zone.as_ref(),
        "events",
    )
}

pub async fn list_default(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    list(state, caller, base, None, raw_query, headers).await
}

pub async fn list_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(calendar_id): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    list(state, caller, base, Some(calendar_id), raw_query, headers).await
}

/// The event, exception or occurrence `id`, required to be in `calendar_id` when given.
fn find<'a>(
    store: &'a CalendarStore,
    calendar_id: Option<&str>,
    id: &str,
) -> Result<Instance<'a>, GraphError> {
    let calendar = calendar_of(store, calendar_id)?;
    event::locate(store, id)
        .filter(|i| calendar_id.is_none() || i.event.calendar_id == calendar)
        .ok_or_else(GraphError::item_not_found)
}

async fn get(
    state: AppState,
    caller: Caller,
    base: String,
    calendar_id: Option<String>,
    event_id: String,
    raw_query: Option<String>,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let pairs = query_pairs(raw_query.as_deref());
    let select = query_value(&pairs, "$select")
        .map(event::parse_select)
        .transpose()?;
    let (expand, _) = extended::parse_expand(query_value(&pairs, "$expand"))?;
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let instance = find(&mailbox.calendar, calendar_id.as_deref(), &event_id)?;
    let mut answer = entity(&base, mailbox, &instance, zone.as_ref(), select.as_deref());
    if let Value::Object(fields) = &mut answer {
        Expand::apply(expand.as_ref(), &instance.event.props, fields);
    }
    // Only a series master read by its own id, and only when asked for (Graph's event resource:
    // "Returned only on $select in a Get operation which specifies the ID ... of a series
    // master event").
    let is_master = instance.event.kind == Kind::Master && instance.kind == InstanceKind::Single;
    let selected = select
        .as_deref()
        .is_some_and(|s| s.iter().any(|n| n == "cancelledOccurrences"));
    if is_master && selected && mailbox.cancelled_occurrences {
        answer["cancelledOccurrences"] = event::cancelled_occurrences(instance.event);
    }
    Ok(with_zone(Json(answer).into_response(), zone.as_ref()))
}

pub async fn get_any(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(event_id): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    get(state, caller, base, None, event_id, raw_query, headers).await
}

pub async fn get_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path((calendar_id, event_id)): Path<(String, String)>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    get(
        state,
        caller,
        base,
        Some(calendar_id),
        event_id,
        raw_query,
        headers,
    )
    .await
}

/// Updates an event. Patching an occurrence turns it into an exception (kept under the
/// occurrence's id); patching a master's times or pattern drops its exceptions and
/// cancellations.
async fn update(
    state: AppState,
    caller: Caller,
    base: String,
    calendar_id: Option<String>,
    event_id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let store = &mut mailbox.calendar;
    let (kind, change_key, master_id, date) = {
        let instance = find(store, calendar_id.as_deref(), &event_id)?;
        (
            instance.kind,
            instance.event.change_key.clone(),
            instance.event.id.clone(),
            instance.original_date,
        )
    };
    check_etag(&headers, &change_key)?;
    let mut body = json_body(&body)?;
    let properties = extended::take(&mut body)?;
    let changes = event::parse(&body)?;
    if let Some(wanted) = changes.props.get("transactionId") {
        let current = store
            .events
            .get(&master_id)
            .and_then(|e| e.props.get("transactionId"));
        if current.unwrap_or(&Value::Null) != wanted {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                "The transactionId of an event cannot be changed after it was created.",
            ));
        }
    }
    let now = time::now_precise();
    if kind == InstanceKind::Occurrence {
        if matches!(changes.recurrence, Some(Some(_))) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                "An occurrence of a series cannot have its own recurrence.",
            ));
        }
        let date = date.ok_or_else(GraphError::item_not_found)?;
        let master = store
            .events
            .get(&master_id)
            .ok_or_else(GraphError::item_not_found)?;
        let mut exception = event::exception_from(master, date, now);
        event::apply(&mut exception, changes, now)?;
        extended::merge(&mut exception.props, properties);
        let exception_id = exception.id.clone();
        store.events.insert(exception_id.clone(), exception);
        if let Some(master) = store.events.get_mut(&master_id) {
            master.exceptions.insert(date, exception_id);
        }
    } else {
        let target = store
            .events
            .get_mut(&event_id)
            .ok_or_else(GraphError::item_not_found)?;
        let dropped = event::apply(target, changes, now)?;
        extended::merge(&mut target.props, properties);
        for id in dropped {
            store.events.remove(&id);
        }
    }
    let instance =
        event::locate(&mailbox.calendar, &event_id).ok_or_else(GraphError::item_not_found)?;
    let answer = entity(&base, mailbox, &instance, zone.as_ref(), None);
    Ok(with_zone(Json(answer).into_response(), zone.as_ref()))
}

pub async fn update_any(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    update(state, caller, base, None, event_id, headers, body).await
}

pub async fn update_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path((calendar_id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    update(
        state,
        caller,
        base,
        Some(calendar_id),
        event_id,
        headers,
        body,
    )
    .await
}

/// Deletes an event; a master takes its exceptions along; deleting an occurrence or exception
/// cancels that occurrence of its series.
async fn delete(
    state: AppState,
    caller: Caller,
    calendar_id: Option<String>,
    event_id: String,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let store = &mut mailbox.calendar;
    let (kind, change_key, source_id, master_id, date) = {
        let instance = find(store, calendar_id.as_deref(), &event_id)?;
        (
            instance.kind,
            instance.event.change_key.clone(),
            instance.event.id.clone(),
            instance.event.master_id.clone(),
            instance.original_date,
        )
    };
    check_etag(&headers, &change_key)?;
    match kind {
        InstanceKind::Occurrence => {
            if let (Some(master), Some(date)) = (store.events.get_mut(&source_id), date) {
                master.cancelled.insert(date);
            }
        }
        InstanceKind::Exception => {
            store.events.remove(&source_id);
            if let (Some(master), Some(date)) =
                (master_id.and_then(|id| store.events.get_mut(&id)), date)
            {
                master.exceptions.remove(&date);
                master.cancelled.insert(date);
            }
        }
        InstanceKind::Single => {
            if let Some(removed) = store.events.remove(&source_id) {
                for id in removed.exceptions.values() {
                    store.events.remove(id);
                }
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_any(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    delete(state, caller, None, event_id, headers).await
}

pub async fn delete_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((calendar_id, event_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    delete(state, caller, Some(calendar_id), event_id, headers).await
}

/// `GET /me/events/{id}/instances?startDateTime=&endDateTime=`: the occurrences and exceptions
/// of a series in the window (nothing for a single event).
pub async fn instances(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(event_id): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let pairs = query_pairs(raw_query.as_deref());
    let (from, to) = sync::window(&pairs)?;
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let store = &mailbox.calendar;
    let master = store
        .events
        .get(&event_id)
        .ok_or_else(GraphError::item_not_found)?;
    let found = if master.kind == Kind::Master {
        event::instances_of(store, master, from, to)
    } else {
        Vec::new()
    };
    instance_page(
        &base,
        mailbox,
        &found,
        &pairs,
        &format!("me/events/{event_id}/instances"),
        &["startDateTime", "endDateTime"],
        zone.as_ref(),
        &format!("events('{event_id}')/instances"),
    )
}

/// `GET /me/calendarView?startDateTime=&endDateTime=`: single events, occurrences and
/// exceptions of the default calendar in the window, by start.
pub async fn calendar_view(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let pairs = query_pairs(raw_query.as_deref());
    let (from, to): (DateTime<Utc>, DateTime<Utc>) = sync::window(&pairs)?;
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let store = &mailbox.calendar;
    let found = event::view(store, &store.default_id, from, to);
    instance_page(
        &base,
        mailbox,
        &found,
        &pairs,
        "me/calendarView",
        &["startDateTime", "endDateTime"],
        zone.as_ref(),
        "calendarView",
    )
}

pub async fn calendar_view_delta(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    sync::page(mailbox, &base, raw_query.as_deref(), &headers)
}

// --- master categories -----------------------------------------------------------------------

fn color(value: &Value) -> Result<String, GraphError> {
    let raw = value.as_str().unwrap_or_default();
    let known = raw.eq_ignore_ascii_case("none")
        || raw
            .to_ascii_lowercase()
            .strip_prefix("preset")
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| n <= 24);
    if known {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(GraphError::body_read(format!(
            "Requested value '{raw}' was not found."
        )))
    }
}

fn category_json(category: &event::Category) -> Value {
    json!({"id": category.id, "displayName": category.display_name, "color": category.color})
}

pub async fn categories(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    Ok(Json(json!({
        "@odata.context": context(&base, &mailbox.id, "outlook/masterCategories"),
        "value": mailbox.calendar.categories.iter().map(category_json).collect::<Vec<_>>(),
    })))
}

fn category_fields(body: &Value) -> Result<(Option<String>, Option<String>), GraphError> {
    let Value::Object(fields) = body else {
        return Err(GraphError::body_read("A 'StartObject' node was expected."));
    };
    let mut name = None;
    let mut colour = None;
    for (key, value) in fields {
        match key.as_str() {
            "displayName" => name = value.as_str().map(str::trim).map(str::to_owned),
            "color" => colour = Some(color(value)?),
            "id" => {}
            k if k.starts_with('@') => {}
            other => {
                return Err(GraphError::body_read(format!(
                    "The property '{other}' does not exist on type 'microsoft.graph.outlookCategory'."
                )));
            }
        }
    }
    Ok((name, colour))
}

pub async fn create_category(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    body: Bytes,
) -> Result<Response, GraphError> {
    let (name, colour) = category_fields(&json_body(&body)?)?;
    let name = name.filter(|n| !n.is_empty()).ok_or_else(|| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The displayName of a category is required.",
        )
    })?;
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    if mailbox
        .calendar
        .categories
        .iter()
        .any(|c| c.display_name.eq_ignore_ascii_case(&name))
    {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "ErrorAlreadyExists",
            "A category with the specified name already exists.",
        ));
    }
    let category = event::Category {
        id: uuid::Uuid::new_v4().to_string(),
        display_name: name,
        color: colour.unwrap_or_else(|| "none".to_owned()),
    };
    mailbox.calendar.categories.push(category.clone());
    let mut answer = category_json(&category);
    answer["@odata.context"] = json!(context(
        &base,
        &mailbox.id,
        "outlook/masterCategories/$entity"
    ));
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn get_category(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    mailbox
        .calendar
        .categories
        .iter()
        .find(|c| c.id == id)
        .map(|c| Json(category_json(c)))
        .ok_or_else(GraphError::item_not_found)
}

/// Only `color` can change; a category keeps its name.
pub async fn update_category(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    let (name, colour) = category_fields(&json_body(&body)?)?;
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let category = mailbox
        .calendar
        .categories
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or_else(GraphError::item_not_found)?;
    if name.is_some_and(|n| n != category.display_name) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The displayName of a category cannot be changed.",
        ));
    }
    if let Some(colour) = colour {
        category.color = colour;
    }
    Ok(Json(category_json(category)))
}

pub async fn delete_category(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let before = mailbox.calendar.categories.len();
    mailbox.calendar.categories.retain(|c| c.id != id);
    if mailbox.calendar.categories.len() == before {
        return Err(GraphError::item_not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
