//! Microsoft To Do (api-reference 1.4): `/me/todo/lists` (every mailbox has the list "Tasks",
//! `wellknownListName: defaultList`), `/me/todo/lists/{id}/tasks` and their delta.
//!
//! Task properties follow the `todoTask` CSDL: `title`, `body`, `status`, `importance`,
//! `categories`, `isReminderOn`, `dueDateTime`, `startDateTime`, `reminderDateTime`,
//! `completedDateTime` (dateTimeTimeZone), `recurrence`, and the server-set `id`,
//! `createdDateTime`, `lastModifiedDateTime`, `bodyLastModifiedDateTime`, `hasAttachments`.
//! Unset dateTimeTimeZone properties and `recurrence` are left out of answers, as To Do does.
//! `linkedResources` may be given on create; they come back on the create answer and with
//! `$expand=linkedResources`.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::contacts::check_if_match;
use super::delta::{self, DeltaSpec};
use super::error::GraphError;
use super::extended::{self, Expand};
use super::folders::{mailbox, mailbox_mut};
use super::recurrence;
use super::store::{Collection, Item, Mailbox, TODO_LISTS};
use super::{BASE_PATH, Caller, context, json_body, query_pairs, query_value, tz};
use crate::links::BaseUrl;
use crate::state::AppState;
use crate::time;

/// Page size of a plain task list without `$top`, and the largest `$top`.
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 1000;

const STATUSES: &[&str] = &[
    "notStarted",
    "inProgress",
    "completed",
    "waitingOnOthers",
    "deferred",
];
const IMPORTANCES: &[&str] = &["low", "normal", "high"];
const DATE_TIMES: &[&str] = &[
    "dueDateTime",
    "startDateTime",
    "reminderDateTime",
    "completedDateTime",
];
/// Every property a task has, for `$select`.
const TASK_PROPERTIES: &[&str] = &[
    "id",
    "title",
    "body",
    "status",
    "importance",
    "categories",
    "isReminderOn",
    "dueDateTime",
    "startDateTime",
    "reminderDateTime",
    "completedDateTime",
    "recurrence",
    "createdDateTime",
    "lastModifiedDateTime",
    "bodyLastModifiedDateTime",
    "hasAttachments",
];
const TASK_READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "bodyLastModifiedDateTime",
    "hasAttachments",
];

fn no_such_property(name: &str, type_name: &str) -> GraphError {
    GraphError::body_read(format!(
        "The property '{name}' does not exist on type '{type_name}'. Make sure to only use \
         property names that are defined by the type or mark the type as open type."
    ))
}

fn expected(name: &str, type_name: &str, value: &Value) -> GraphError {
    GraphError::body_read(format!(
        "Cannot convert the literal '{value}' to the expected type '{type_name}' of property \
         '{name}'."
    ))
}

fn enum_value(name: &str, value: &Value, allowed: &[&str]) -> Result<Value, GraphError> {
    let raw = value
        .as_str()
        .ok_or_else(|| expected(name, "Edm.String", value))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(raw))
        .map(|a| json!(a))
        .ok_or_else(|| GraphError::body_read(format!("Requested value '{raw}' was not found.")))
}

/// A `dateTimeTimeZone` input, stored as `{"utc": <RFC 3339>, "timeZone": <as given>}`.
pub fn date_time_time_zone(name: &str, value: &Value) -> Result<Value, GraphError> {
    let Value::Object(parts) = value else {
        return Err(expected(name, "microsoft.graph.dateTimeTimeZone", value));
    };
    let raw = parts
        .get("dateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| expected(name, "microsoft.graph.dateTimeTimeZone", value))?;
    let zone_name = parts
        .get("timeZone")
        .and_then(Value::as_str)
        .unwrap_or("UTC");
    let zone = tz::zone(zone_name).ok_or_else(|| time_zone_not_supported(zone_name))?;
    let (local, absolute) = tz::parse_local(raw).ok_or_else(|| {
        GraphError::body_read(format!(
            "Cannot convert the literal '{raw}' to the expected type 'Edm.String' of property \
             'dateTime'."
        ))
    })?;
    let utc = if absolute {
        local.and_utc()
    } else {
        tz::to_utc(local, zone)
    };
    Ok(json!({"utc": utc.to_rfc3339(), "timeZone": zone_name}))
}

pub fn time_zone_not_supported(name: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "TimeZoneNotSupportedException",
        format!(
            "A valid TimeZone value must be specified. The following TimeZone value is not \
             supported: '{name}'."
        ),
    )
}

/// A stored dateTimeTimeZone rendered in `zone` (UTC when the request named none).
pub fn render_date_time(stored: &Value, zone: Option<&(Tz, String)>) -> Value {
    let Some(utc) = stored
        .get("utc")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
    else {
        return Value::Null;
    };
    match zone {
        Some((tz, name)) => json!({
            "dateTime": tz::graph_local(tz::to_local(utc, *tz)),
            "timeZone": name,
        }),
        None => json!({"dateTime": tz::graph_local(utc.naive_utc()), "timeZone": "UTC"}),
    }
}

fn item_body(name: &str, value: &Value) -> Result<Value, GraphError> {
    let Value::Object(parts) = value else {
        return Err(expected(name, "microsoft.graph.itemBody", value));
    };
    let mut content = "";
    let mut content_type = json!("text");
    for (key, part) in parts {
        match key.as_str() {
            "content" => {
                content = part
                    .as_str()
                    .ok_or_else(|| expected("content", "Edm.String", part))?;
            }
            "contentType" => content_type = enum_value("contentType", part, &["text", "html"])?,
            k if k.starts_with('@') => {}
            other => return Err(no_such_property(other, "microsoft.graph.itemBody")),
        }
    }
    Ok(json!({"content": content, "contentType": content_type}))
}

/// Checks a task write body; returns the properties it sets (`null` clears) and the linked
/// resources given (create only).
fn parse_task(
    body: &Value,
    creating: bool,
) -> Result<(Map<String, Value>, Vec<Value>), GraphError> {
    let Value::Object(fields) = body else {
        return Err(GraphError::body_read(
            "A 'StartObject' node was expected for a todoTask.",
        ));
    };
    let mut changes = Map::new();
    let mut linked = Vec::new();
    for (name, value) in fields {
        if name.starts_with('@') || TASK_READ_ONLY.contains(&name.as_str()) {
            continue;
        }
        let normalised = match name.as_str() {
            _ if value.is_null() => Value::Null,
            "title" => json!(
                value
                    .as_str()
                    .ok_or_else(|| expected(name, "Edm.String", value))?
            ),
            "body" => item_body(name, value)?,
            "status" => enum_value(name, value, STATUSES)?,
            "importance" => enum_value(name, value, IMPORTANCES)?,
            "isReminderOn" => json!(value.as_bool().ok_or_else(|| expected(
                name,
                "Edm.Boolean",
                value
            ))?),
            "categories" => match value {
                Value::Array(items) if items.iter().all(Value::is_string) => value.clone(),
                _ => return Err(expected(name, "Collection(Edm.String)", value)),
            },
            n if DATE_TIMES.contains(&n) => date_time_time_zone(name, value)?,
            "recurrence" => recurrence::parse(value)?,
            "linkedResources" if creating => {
                let Value::Array(items) = value else {
                    return Err(expected(
                        name,
                        "Collection(microsoft.graph.linkedResource)",
                        value,
                    ));
                };
                for resource in items {
                    let Value::Object(parts) = resource else {
                        return Err(expected(name, "microsoft.graph.linkedResource", resource));
                    };
                    let mut kept = Map::new();
                    kept.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
                    for (key, part) in parts {
                        match key.as_str() {
                            "webUrl" | "applicationName" | "displayName" | "externalId" => {
                                kept.insert(key.clone(), part.clone());
                            }
                            "id" => {}
                            k if k.starts_with('@') => {}
                            other => {
                                return Err(no_such_property(
                                    other,
                                    "microsoft.graph.linkedResource",
                                ));
                            }
                        }
                    }
                    linked.push(Value::Object(kept));
                }
                continue;
            }
            other => return Err(no_such_property(other, "microsoft.graph.todoTask")),
        };
        changes.insert(name.clone(), normalised);
    }
    Ok((changes, linked))
}

/// Applies checked changes; completing a task stamps `completedDateTime` (unless given),
/// reopening it clears it; a body change stamps `bodyLastModifiedDateTime`.
fn apply_task(props: &mut Map<String, Value>, changes: Map<String, Value>, now: DateTime<Utc>) {
    let completes = changes.get("status").and_then(Value::as_str) == Some("completed")
        && props.get("status").and_then(Value::as_str) != Some("completed");
    let reopens = changes
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|s| s != "completed");
    let body_changed = changes.contains_key("body");
    let changes_zone = changes
        .get("dueDateTime")
        .or_else(|| props.get("dueDateTime"))
        .and_then(|d| d["timeZone"].as_str())
        .map(str::to_owned);
    let completed_given = changes.contains_key("completedDateTime");
    for (name, value) in changes {
        if value.is_null() {
            props.remove(&name);
        } else {
            props.insert(name, value);
        }
    }
    // A recurrence without a zone takes the due date's (To Do repeats in local time), else UTC.
    if let Some(rule) = props.get_mut("recurrence")
        && rule["range"]["recurrenceTimeZone"]
            .as_str()
            .is_none_or(str::is_empty)
    {
        let zone = changes_zone.unwrap_or_else(|| "UTC".to_owned());
        rule["range"]["recurrenceTimeZone"] = json!(zone);
    }
    if completes && !completed_given {
        props.insert(
            "completedDateTime".into(),
            json!({"utc": now.to_rfc3339(), "timeZone": "UTC"}),
        );
    }
    if reopens && !completed_given {
        props.remove("completedDateTime");
    }
    if body_changed || !props.contains_key("bodyLastModified") {
        props.insert("bodyLastModified".into(), json!(time::graph_precise(now)));
    }
}

fn etag(item: &Item) -> String {
    format!("W/\"{}\"", item.change_key)
}

/// A task as To Do answers it.
pub fn render_task(
    task: &Item,
    select: Option<&[String]>,
    zone: Option<&(Tz, String)>,
) -> Map<String, Value> {
    let props = &task.props;
    let mut out = Map::new();
    out.insert("@odata.etag".into(), json!(etag(task)));
    out.insert(
        "importance".into(),
        props.get("importance").cloned().unwrap_or(json!("normal")),
    );
    out.insert(
        "isReminderOn".into(),
        props.get("isReminderOn").cloned().unwrap_or(json!(false)),
    );
    out.insert(
        "status".into(),
        props.get("status").cloned().unwrap_or(json!("notStarted")),
    );
    out.insert(
        "title".into(),
        props.get("title").cloned().unwrap_or(json!("")),
    );
    out.insert(
        "createdDateTime".into(),
        json!(time::graph_precise(task.created)),
    );
    out.insert(
        "lastModifiedDateTime".into(),
        json!(time::graph_precise(task.modified)),
    );
    out.insert("hasAttachments".into(), json!(false));
    out.insert(
        "categories".into(),
        props.get("categories").cloned().unwrap_or(json!([])),
    );
    out.insert("id".into(), json!(task.id));
    out.insert(
        "body".into(),
        props
            .get("body")
            .cloned()
            .unwrap_or(json!({"content": "", "contentType": "text"})),
    );
    out.insert(
        "bodyLastModifiedDateTime".into(),
        props
            .get("bodyLastModified")
            .cloned()
            .unwrap_or_else(|| json!(time::graph_precise(task.created))),
    );
    for name in DATE_TIMES {
        if let Some(stored) = props.get(*name) {
            out.insert((*name).to_owned(), render_date_time(stored, zone));
        }
    }
    if let Some(rule) = props.get("recurrence") {
        out.insert("recurrence".into(), rule.clone());
    }
    if let Some(selected) = select {
        out.retain(|name, _| name == "@odata.etag" || name == "id" || selected.contains(name));
    }
    out
}

fn parse_task_select(raw: &str) -> Result<Vec<String>, GraphError> {
    select_from(raw, TASK_PROPERTIES, "microsoft.graph.todoTask")
}

fn parse_list_select(raw: &str) -> Result<Vec<String>, GraphError> {
    select_from(raw, LIST_PROPERTIES, "microsoft.graph.todoTaskList")
}

fn select_from(raw: &str, known: &[&str], type_name: &str) -> Result<Vec<String>, GraphError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|wanted| {
            known
                .iter()
                .find(|n| n.eq_ignore_ascii_case(wanted))
                .map(|n| (*n).to_owned())
                .ok_or_else(|| {
                    GraphError::parse_uri(format!(
                        "Could not find a property named '{wanted}' on type '{type_name}'."
                    ))
                })
        })
        .collect()
}

const LIST_PROPERTIES: &[&str] = &[
    "id",
    "displayName",
    "isOwner",
    "isShared",
    "wellknownListName",
];

pub fn render_list(list: &Item, select: Option<&[String]>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("@odata.etag".into(), json!(etag(list)));
    out.insert(
        "displayName".into(),
        list.props.get("displayName").cloned().unwrap_or(json!("")),
    );
    out.insert("isOwner".into(), json!(true));
    out.insert("isShared".into(), json!(false));
    out.insert(
        "wellknownListName".into(),
        list.props
            .get("wellknownListName")
            .cloned()
            .unwrap_or(json!("none")),
    );
    out.insert("id".into(), json!(list.id));
    if let Some(selected) = select {
        out.retain(|name, _| name == "@odata.etag" || name == "id" || selected.contains(name));
    }
    out
}

fn list_entity(base: &str, mailbox_id: &str, list: &Item) -> Value {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(context(base, mailbox_id, "todo/lists/$entity")),
    );
    body.extend(render_list(list, None));
    Value::Object(body)
}

fn locate_list<'a>(mailbox: &'a Mailbox, list_id: &str) -> Result<&'a Item, GraphError> {
    mailbox
        .todo_lists
        .get(list_id)
        .ok_or_else(GraphError::item_not_found)
}

fn locate_task<'a>(
    mailbox: &'a Mailbox,
    list_id: &str,
    task_id: &str,
) -> Result<&'a Item, GraphError> {
    locate_list(mailbox, list_id)?;
    mailbox
        .tasks
        .get(task_id)
        .filter(|t| t.folder_id == list_id)
        .ok_or_else(GraphError::item_not_found)
}

/// Adds `Preference-Applied: outlook.timezone="..."` when the request's zone was used.
fn applied(mut response: Response, zone: Option<&(Tz, String)>) -> Response {
    if let Some((_, name)) = zone
        && let Ok(value) = HeaderValue::from_str(&format!("outlook.timezone=\"{name}\""))
    {
        response.headers_mut().insert("preference-applied", value);
    }
    response
}

fn list_body(fields: &Value) -> Result<Option<String>, GraphError> {
    let Value::Object(fields) = fields else {
        return Err(GraphError::body_read(
            "A 'StartObject' node was expected for a todoTaskList.",
        ));
    };
    let mut display_name = None;
    for (name, value) in fields {
        match name.as_str() {
            "displayName" => {
                display_name = Some(
                    value
                        .as_str()
                        .ok_or_else(|| expected(name, "Edm.String", value))?
                        .to_owned(),
                );
            }
            "id" | "isOwner" | "isShared" | "wellknownListName" => {}
            n if n.starts_with('@') => {}
            other => return Err(no_such_property(other, "microsoft.graph.todoTaskList")),
        }
    }
    Ok(display_name)
}

pub async fn lists(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, GraphError> {
    let pairs = query_pairs(raw_query.as_deref());
    let select = query_value(&pairs, "$select")
        .map(parse_list_select)
        .transpose()?;
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let value: Vec<Value> = mailbox
        .items_in(Collection::TodoLists, TODO_LISTS)
        .into_iter()
        .map(|list| {
            let mut item = Map::new();
            item.insert("@odata.type".into(), json!("#microsoft.graph.todoTaskList"));
            item.extend(render_list(list, select.as_deref()));
            Value::Object(item)
        })
        .collect();
    Ok(Json(json!({
        "@odata.context": context(&base, &mailbox.id, "todo/lists"),
        "value": value,
    })))
}

pub async fn create_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    body: Bytes,
) -> Result<Response, GraphError> {
    let display_name = list_body(&json_body(&body)?)?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::BAD_REQUEST,
                "invalidRequest",
                "The displayName of a list is required.",
            )
        })?;
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let mut props = Map::new();
    props.insert("displayName".into(), json!(display_name));
    props.insert("wellknownListName".into(), json!("none"));
    let list = mailbox.insert_item(Collection::TodoLists, TODO_LISTS, props);
    let answer = list_entity(&base, &mailbox.id, &list);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn get_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(list_id): Path<String>,
) -> Result<Json<Value>, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let list = locate_list(mailbox, &list_id)?;
    Ok(Json(list_entity(&base, &mailbox.id, list)))
}

pub async fn update_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(list_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    let display_name = list_body(&json_body(&body)?)?;
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    check_if_match(&headers, locate_list(mailbox, &list_id)?)?;
    let list = mailbox
        .update_item(Collection::TodoLists, &list_id, |props| {
            if let Some(name) = display_name {
                props.insert("displayName".into(), json!(name));
            }
        })
        .ok_or_else(GraphError::item_not_found)?;
    Ok(Json(list_entity(&base, &mailbox.id, &list)))
}

/// Deletes a list and its tasks; the default list cannot be deleted (it is a distinguished
/// folder of the mailbox).
pub async fn delete_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(list_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    check_if_match(&headers, locate_list(mailbox, &list_id)?)?;
    if list_id == mailbox.default_list_id {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "ErrorDeleteDistinguishedFolder",
            "Distinguished folders cannot be deleted.",
        ));
    }
    let tasks: Vec<String> = mailbox
        .items_in(Collection::Tasks, &list_id)
        .into_iter()
        .map(|t| t.id.clone())
        .collect();
    for task in tasks {
        mailbox.delete_item(Collection::Tasks, &task);
    }
    mailbox.delete_item(Collection::TodoLists, &list_id);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn lists_delta(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let render = |item: &Item, select: Option<&[String]>| render_list(item, select);
    let spec = DeltaSpec {
        kind: "todoLists",
        container: TODO_LISTS.to_owned(),
        link_path: "me/todo/lists/delta".to_owned(),
        odata_type: "#microsoft.graph.todoTaskList",
        context: format!("{base}{BASE_PATH}/$metadata#Collection(todoTaskList)"),
        items: mailbox.todo_lists.values().collect(),
        render: &render,
        parse_select: parse_list_select,
        top_sets_page_size: true,
        expands_extended: false,
        applied: Vec::new(),
    };
    delta::page(mailbox, spec, &base, raw_query.as_deref(), &headers)
}

fn task_entity(
    base: &str,
    mailbox_id: &str,
    list_id: &str,
    task: &Item,
    zone: Option<&(Tz, String)>,
    expand_linked: bool,
) -> Value {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(context(
            base,
            mailbox_id,
            &format!("todo/lists('{list_id}')/tasks/$entity")
        )),
    );
    body.extend(render_task(task, None, zone));
    if expand_linked {
        body.insert(
            "linkedResources".into(),
            task.props
                .get("linkedResources")
                .cloned()
                .unwrap_or(json!([])),
        );
    }
    Value::Object(body)
}

pub async fn create_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(list_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let mut body = json_body(&body)?;
    let properties = extended::take(&mut body)?;
    let (changes, linked) = parse_task(&body, true)?;
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    locate_list(mailbox, &list_id)?;
    let mut props = Map::new();
    apply_task(&mut props, changes, time::now_precise());
    extended::merge(&mut props, properties);
    let has_linked = !linked.is_empty();
    if has_linked {
        props.insert("linkedResources".into(), Value::Array(linked));
    }
    let task = mailbox.insert_item(Collection::Tasks, &list_id, props);
    let answer = task_entity(
        &base,
        &mailbox.id,
        &list_id,
        &task,
        zone.as_ref(),
        has_linked,
    );
    Ok(applied(
        (StatusCode::CREATED, Json(answer)).into_response(),
        zone.as_ref(),
    ))
}

pub async fn get_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path((list_id, task_id)): Path<(String, String)>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let pairs = query_pairs(raw_query.as_deref());
    let select = query_value(&pairs, "$select")
        .map(parse_task_select)
        .transpose()?;
    let (properties, others) = extended::parse_expand(query_value(&pairs, "$expand"))?;
    let expand = others
        .iter()
        .any(|p| p.trim().eq_ignore_ascii_case("linkedResources"));
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let task = locate_task(mailbox, &list_id, &task_id)?;
    let mut answer = task_entity(&base, &mailbox.id, &list_id, task, zone.as_ref(), expand);
    if let Value::Object(fields) = &mut answer {
        if let Some(selected) = &select {
            fields.retain(|name, _| {
                name.starts_with('@')
                    || name == "id"
                    || name == "linkedResources"
                    || selected.contains(name)
            });
        }
        Expand::apply(properties.as_ref(), &task.props, fields);
    }
    Ok(applied(Json(answer).into_response(), zone.as_ref()))
}

pub async fn update_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path((list_id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    check_if_match(&headers, locate_task(mailbox, &list_id, &task_id)?)?;
    let mut body = json_body(&body)?;
    let properties = extended::take(&mut body)?;
    let (changes, _) = parse_task(&body, false)?;
    let now = time::now_precise();
    let task = mailbox
        .update_item(Collection::Tasks, &task_id, |props| {
            apply_task(props, changes, now);
            extended::merge(props, properties);
        })
        .ok_or_else(GraphError::item_not_found)?;
    let answer = task_entity(&base, &mailbox.id, &list_id, &task, zone.as_ref(), false);
    Ok(applied(Json(answer).into_response(), zone.as_ref()))
}

pub async fn delete_task(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((list_id, task_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    check_if_match(&headers, locate_task(mailbox, &list_id, &task_id)?)?;
    mailbox.delete_item(Collection::Tasks, &task_id);
    Ok(StatusCode::NO_CONTENT)
}

/// A plain page of a list's tasks: `$top` (default 10), `$skip`, `$select`, the
/// extended-property `$filter` and `$expand` (see [`extended`]).
pub async fn list_tasks(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(list_id): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let pairs = query_pairs(raw_query.as_deref());
    let number = |name: &str, default: usize| -> Result<usize, GraphError> {
        match query_value(&pairs, name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| {
                GraphError::parse_uri(format!("Invalid value '{raw}' for query option '{name}'."))
            }),
        }
    };
    let top = number("$top", DEFAULT_TOP)?.clamp(1, MAX_TOP);
    let skip = number("$skip", 0)?;
    let select_raw = query_value(&pairs, "$select").map(str::to_owned);
    let select = select_raw.as_deref().map(parse_task_select).transpose()?;
    let filter_raw = query_value(&pairs, "$filter").map(str::to_owned);
    let filter = extended::parse_filter(filter_raw.as_deref())?;
    let expand_raw = query_value(&pairs, "$expand").map(str::to_owned);
    let (expand, _) = extended::parse_expand(expand_raw.as_deref())?;
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    locate_list(mailbox, &list_id)?;
    let mut tasks = mailbox.items_in(Collection::Tasks, &list_id);
    tasks.retain(|t| extended::Filter::keep(filter.as_ref(), &t.props));
    let value: Vec<Value> = tasks
        .iter()
        .skip(skip)
        .take(top)
        .map(|t| {
            let mut out = render_task(t, select.as_deref(), zone.as_ref());
            Expand::apply(expand.as_ref(), &t.props, &mut out);
            Value::Object(out)
        })
        .collect();
    let mut body = json!({
        "@odata.context": context(&base, &mailbox.id, &format!("todo/lists('{list_id}')/tasks")),
        "value": value,
    });
    if skip + top < tasks.len() {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
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
        body["@odata.nextLink"] = json!(format!(
            "{base}{BASE_PATH}/me/todo/lists/{list_id}/tasks?{}",
            next.finish()
        ));
    }
    Ok(applied(Json(body).into_response(), zone.as_ref()))
}

pub async fn tasks_delta(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(list_id): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let zone = tz::preferred(&headers);
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    locate_list(mailbox, &list_id)?;
    let render = |item: &Item, select: Option<&[String]>| render_task(item, select, zone.as_ref());
    let spec = DeltaSpec {
        kind: "tasks",
        container: list_id.clone(),
        link_path: format!("me/todo/lists/{list_id}/tasks/delta"),
        odata_type: "#microsoft.graph.todoTask",
        context: format!("{base}{BASE_PATH}/$metadata#Collection(todoTask)"),
        items: mailbox
            .tasks
            .values()
            .filter(|t| t.folder_id == list_id)
            .collect(),
        render: &render,
        parse_select: parse_task_select,
        top_sets_page_size: true,
        expands_extended: true,
        applied: zone
            .iter()
            .map(|(_, name)| format!("outlook.timezone=\"{name}\""))
            .collect(),
    };
    delta::page(mailbox, spec, &base, raw_query.as_deref(), &headers)
}

/// Seeds a task directly (control API); `body` is a task write body.
pub fn seed_task(mailbox: &mut Mailbox, list_id: &str, body: &Value) -> Result<Item, GraphError> {
    let (changes, _) = parse_task(body, true)?;
    let mut props = Map::new();
    apply_task(&mut props, changes, time::now_precise());
    Ok(mailbox.insert_item(Collection::Tasks, list_id, props))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_bodies_are_checked() {
        assert!(parse_task(&json!({"title": "x", "status": "completed"}), true).is_ok());
        let bad = parse_task(&json!({"status": "done"}), true).expect_err("enum");
        assert!(bad.message.contains("'done'"));
        assert!(parse_task(&json!({"importance": 3}), true).is_err());
        assert!(parse_task(&json!({"nope": 1}), true).is_err());
        assert!(
            parse_task(
                &json!({"dueDateTime": {"dateTime": "2020-01-01T00:00:00", "timeZone": "Mars"}}),
                true
            )
            .is_err_and(|e| e.code == "TimeZoneNotSupportedException")
        );
        assert!(parse_task(&json!({"linkedResources": []}), false).is_err());
    }

    #[test]
    fn a_task_recurrence_takes_the_due_dates_zone() {
        let (changes, _) = parse_task(
            &json!({
                "dueDateTime": {"dateTime": "2024-01-01T00:00:00", "timeZone": "Tokyo Standard Time"},
                "recurrence": {"pattern": {"type": "daily"}, "range": {"type": "noEnd", "startDate": "2024-01-01"}},
            }),
            true,
        )
        .expect("valid");
        let mut props = Map::new();
        apply_task(&mut props, changes, time::now_precise());
        assert_eq!(
            props["recurrence"]["range"]["recurrenceTimeZone"],
            "Tokyo Standard Time"
        );
    }

    #[test]
    fn completing_stamps_and_reopening_clears_completed_date_time() {
        let now = time::now_precise();
        let mut props = Map::new();
        let (changes, _) = parse_task(&json!({"status": "completed"}), true).expect("valid");
        apply_task(&mut props, changes, now);
        assert!(props.contains_key("completedDateTime"));
        let (changes, _) = parse_task(&json!({"status": "inProgress"}), false).expect("valid");
        apply_task(&mut props, changes, now);
        assert!(!props.contains_key("completedDateTime"));
    }
}
