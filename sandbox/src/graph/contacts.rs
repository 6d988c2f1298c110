//! Contact CRUD, through `/me/contacts` (any folder for reads and writes, the default folder for
//! creation) and through `/me/contactFolders/{id}/contacts` (that folder only).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::IF_MATCH;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::error::GraphError;
use super::extended::{self, Expand};
use super::folders::{mailbox, mailbox_mut};
use super::store::{Contact, Mailbox};
use super::{BASE_PATH, Caller, context, json_body, query_pairs, query_value, schema};
use crate::links::BaseUrl;
use crate::state::AppState;

/// Graph's default page size for a plain contact list.
const DEFAULT_TOP: usize = 10;
const MAX_TOP: usize = 1000;

fn entity(
    base: &str,
    mailbox_id: &str,
    contact: &Contact,
    select: Option<&[String]>,
    expand: Option<&Expand>,
) -> Value {
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(context(base, mailbox_id, "contacts/$entity")),
    );
    body.extend(schema::render(contact, select));
    Expand::apply(expand, &contact.props, &mut body);
    Value::Object(body)
}

/// A contact by id, optionally required to be in `folder_id`.
fn locate<'a>(
    mailbox: &'a Mailbox,
    folder_id: Option<&str>,
    contact_id: &str,
) -> Result<&'a Contact, GraphError> {
    if let Some(folder_id) = folder_id {
        mailbox
            .folder(folder_id)
            .ok_or_else(GraphError::item_not_found)?;
    }
    mailbox
        .contacts
        .get(contact_id)
        .filter(|c| folder_id.is_none_or(|f| c.folder_id == f))
        .ok_or_else(GraphError::item_not_found)
}

/// `If-Match` against the current etag; `*` matches anything. Graph's contact pages do not
/// document `If-Match` (api-reference 1.5): the sandbox honours it so conflicts can be tested.
pub(super) fn check_if_match(headers: &HeaderMap, contact: &Contact) -> Result<(), GraphError> {
    check_etag(headers, &contact.change_key)
}

/// `If-Match: W/"<changeKey>"` (with or without `W/`, or `*`) against `change_key`.
pub(super) fn check_etag(headers: &HeaderMap, change_key: &str) -> Result<(), GraphError> {
    let Some(wanted) = headers.get(IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let wanted = wanted.trim();
    if wanted == "*" {
        return Ok(());
    }
    let bare = wanted
        .strip_prefix("W/")
        .unwrap_or(wanted)
        .trim_matches('"');
    if bare == change_key {
        Ok(())
    } else {
        Err(GraphError::irresolvable_conflict())
    }
}

/// `$select` and the extended-property `$expand` of a read.
fn selection(raw_query: Option<&str>) -> Result<(Option<Vec<String>>, Option<Expand>), GraphError> {
    let pairs = query_pairs(raw_query);
    let select = query_value(&pairs, "$select")
        .map(schema::parse_select)
        .transpose()?;
    let (expand, _) = extended::parse_expand(query_value(&pairs, "$expand"))?;
    Ok((select, expand))
}

async fn create(
    state: AppState,
    caller: Caller,
    folder_id: Option<String>,
    base: String,
    body: Bytes,
) -> Result<Response, GraphError> {
    let mut body = json_body(&body)?;
    let properties = extended::take(&mut body)?;
    let changes = schema::parse_write(&body)?;
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let folder_id = folder_id.unwrap_or_else(|| mailbox.default_folder_id.clone());
    mailbox
        .folder(&folder_id)
        .ok_or_else(GraphError::item_not_found)?;
    let mut props = Map::new();
    schema::apply(&mut props, changes);
    schema::fill_display_name(&mut props);
    extended::merge(&mut props, properties);
    let contact = mailbox.insert_contact(&folder_id, props);
    let answer = entity(&base, &mailbox.id, &contact, None, None);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn create_default(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    body: Bytes,
) -> Result<Response, GraphError> {
    create(state, caller, None, base, body).await
}

pub async fn create_in_folder(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(folder_id): Path<String>,
    body: Bytes,
) -> Result<Response, GraphError> {
    create(state, caller, Some(folder_id), base, body).await
}

async fn get(
    state: AppState,
    caller: Caller,
    folder_id: Option<String>,
    contact_id: String,
    base: String,
    raw_query: Option<String>,
) -> Result<Json<Value>, GraphError> {
    let (select, expand) = selection(raw_query.as_deref())?;
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let contact = locate(mailbox, folder_id.as_deref(), &contact_id)?;
    Ok(Json(entity(
        &base,
        &mailbox.id,
        contact,
        select.as_deref(),
        expand.as_ref(),
    )))
}

pub async fn get_any(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(contact_id): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, GraphError> {
    get(state, caller, None, contact_id, base, raw_query).await
}

pub async fn get_in_folder(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path((folder_id, contact_id)): Path<(String, String)>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, GraphError> {
    get(state, caller, Some(folder_id), contact_id, base, raw_query).await
}

async fn update(
    state: AppState,
    caller: Caller,
    folder_id: Option<String>,
    contact_id: String,
    base: String,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let contact = locate(mailbox, folder_id.as_deref(), &contact_id)?;
    check_if_match(&headers, contact)?;
    let mut body = json_body(&body)?;
    let properties = extended::take(&mut body)?;
    let changes = schema::parse_write(&body)?;
    let contact = mailbox
        .update_contact(&contact_id, |props| {
            schema::apply(props, changes);
            extended::merge(props, properties);
        })
        .ok_or_else(GraphError::item_not_found)?;
    Ok(Json(entity(&base, &mailbox.id, &contact, None, None)))
}

pub async fn update_any(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(contact_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    update(state, caller, None, contact_id, base, headers, body).await
}

pub async fn update_in_folder(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path((folder_id, contact_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    update(
        state,
        caller,
        Some(folder_id),
        contact_id,
        base,
        headers,
        body,
    )
    .await
}

async fn delete(
    state: AppState,
    caller: Caller,
    folder_id: Option<String>,
    contact_id: String,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    let mut world = state.world();
    let mailbox = mailbox_mut(&mut world, &caller)?;
    let contact = locate(mailbox, folder_id.as_deref(), &contact_id)?;
    check_if_match(&headers, contact)?;
    mailbox.delete_contact(&contact_id);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn delete_any(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    delete(state, caller, None, contact_id, headers).await
}

pub async fn delete_in_folder(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((folder_id, contact_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    delete(state, caller, Some(folder_id), contact_id, headers).await
}

/// A plain (non-delta) page of a folder's contacts: `$top` (default 10), `$skip`, `$select`,
/// the extended-property `$filter` and `$expand` (see [`extended`]).
async fn list(
    state: AppState,
    caller: Caller,
    folder_id: Option<String>,
    base: String,
    raw_query: Option<String>,
) -> Result<Json<Value>, GraphError> {
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
    let select = select_raw
        .as_deref()
        .map(schema::parse_select)
        .transpose()?;
    let filter_raw = query_value(&pairs, "$filter").map(str::to_owned);
    let filter = extended::parse_filter(filter_raw.as_deref())?;
    let expand_raw = query_value(&pairs, "$expand").map(str::to_owned);
    let (expand, _) = extended::parse_expand(expand_raw.as_deref())?;

    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    let folder_id = folder_id.unwrap_or_else(|| mailbox.default_folder_id.clone());
    mailbox
        .folder(&folder_id)
        .ok_or_else(GraphError::item_not_found)?;
    let mut contacts = mailbox.contacts_in(&folder_id);
    contacts.retain(|c| extended::Filter::keep(filter.as_ref(), &c.props));
    let value: Vec<Value> = contacts
        .iter()
        .skip(skip)
        .take(top)
        .map(|c| {
            let mut out = schema::render(c, select.as_deref());
            Expand::apply(expand.as_ref(), &c.props, &mut out);
            Value::Object(out)
        })
        .collect();
    let mut body = json!({
        "@odata.context": context(&base, &mailbox.id, "contacts"),
        "value": value,
    });
    if skip + top < contacts.len() {
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
        let path = if folder_id == mailbox.default_folder_id {
            "me/contacts".to_owned()
        } else {
            format!("me/contactFolders/{folder_id}/contacts")
        };
        body["@odata.nextLink"] = json!(format!("{base}{BASE_PATH}/{path}?{}", next.finish()));
    }
    Ok(Json(body))
}

pub async fn list_default(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, GraphError> {
    list(state, caller, None, base, raw_query).await
}

pub async fn list_in_folder(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(folder_id): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, GraphError> {
    list(state, caller, Some(folder_id), base, raw_query).await
}
