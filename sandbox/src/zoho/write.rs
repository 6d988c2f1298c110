//! Record writes: insert (`POST /{module}`), update (`PUT /{module}`, `PUT /{module}/{id}`),
//! upsert (`POST /{module}/upsert`) and delete (`DELETE /{module}?ids=`, `DELETE
//! /{module}/{id}`). Each record succeeds or fails on its own; the status says how the batch
//! went: all succeeded (201 for insert, 200 otherwise), some (207) or none (400; 412 when every
//! failure is `ALREADY_MODIFIED`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::custom;
use super::error::{ItemError, ZohoError};
use super::modules::{self, Kind, Module, check_record_with, parse_id};
use super::store::{Org, Record};
use super::{Caller, ModulePath, Query, RecordPath, org_of};
use crate::state::AppState;
use crate::time;

/// At most 100 records per write call.
pub const MAX_RECORDS: usize = 100;

type Outcome = Result<Value, ItemError>;

/// The module of a create, update or upsert: Zoho reports an unknown one inside `data[]`
/// (record.yaml: its 400 answers of those writes give `INVALID_MODULE` only there).
fn module(name: &str) -> Result<&'static Module, ZohoError> {
    modules::find(name).ok_or_else(|| ZohoError::invalid_module().into_data())
}

/// The module of a delete: Zoho reports an unknown one top-level.
fn delete_module(name: &str) -> Result<&'static Module, ZohoError> {
    modules::find(name).ok_or_else(ZohoError::invalid_module)
}

/// The body of a write: `{"data":[...≤100], ...}`.
fn records_body(body: &Bytes) -> Result<(Vec<Value>, Map<String, Value>), ZohoError> {
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(body) else {
        return Err(ZohoError::invalid_body());
    };
    let records = match top.remove("data") {
        None | Some(Value::Null) => return Err(ZohoError::required_param("data")),
        Some(Value::Array(records)) => records,
        Some(_) => {
            return Err(ZohoError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "invalid data",
                json!({"expected_data_type": "jsonarray", "api_name": "data", "json_path": "$.data"}),
            ));
        }
    };
    if records.is_empty() {
        return Err(ZohoError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "invalid data",
            json!({"api_name": "data", "json_path": "$.data"}),
        ));
    }
    if records.len() > MAX_RECORDS {
        return Err(ZohoError::too_many_records(MAX_RECORDS));
    }
    Ok((records, top))
}

fn as_object(record: &Value, index: usize) -> Result<&Map<String, Value>, ItemError> {
    record.as_object().ok_or_else(|| {
        ItemError::new(
            "INVALID_DATA",
            "invalid data",
            json!({"expected_data_type": "jsonobject", "api_name": "data",
                   "json_path": format!("$.data[{index}]")}),
        )
    })
}

fn respond(outcomes: Vec<Outcome>, all_ok: StatusCode) -> Response {
    let failures: Vec<&ItemError> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    let status = if failures.is_empty() {
        all_ok
    } else if failures.len() < outcomes.len() {
        StatusCode::MULTI_STATUS
    } else if failures.iter().all(|f| f.code == "ALREADY_MODIFIED") {
        StatusCode::PRECONDITION_FAILED
    } else {
        StatusCode::BAD_REQUEST
    };
    let data: Vec<Value> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|e| e.to_json()))
        .collect();
    (status, Json(json!({"data": data}))).into_response()
}

fn success(details: Value, message: &str) -> Value {
    json!({"code": "SUCCESS", "details": details, "message": message, "status": "success"})
}

fn if_unmodified_since(headers: &HeaderMap) -> Result<Option<DateTime<Utc>>, ZohoError> {
    match headers.get("if-unmodified-since") {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(time::parse_offset)
            .map(Some)
            .ok_or_else(|| ZohoError::invalid_param("If-Unmodified-Since", "invalid data")),
    }
}

fn insert_one(
    org: &mut Org,
    module: &'static Module,
    record: &Value,
    index: usize,
) -> Result<Record, ItemError> {
    let extra = org.extra_fields(module);
    let inputs = check_record_with(module, &extra, as_object(record, index)?, index, true)?;
    check_unique(org, module, &inputs, None, index)?;
    org.insert(module, inputs, index)
}

/// `DUPLICATE_DATA` when a value of a unique field (made so by the control API, a unique custom
/// field or an External ID) is already another record's (`zoho_error_duplicate_data.json`).
fn check_unique(
    org: &Org,
    module: &'static Module,
    inputs: &[(&'static modules::Field, modules::Input)],
    own_id: Option<u64>,
    index: usize,
) -> Result<(), ItemError> {
    for (field, input) in inputs {
        let modules::Input::Value(Value::String(value)) = input else {
            continue;
        };
        let Some(case_sensitive) = org.uniqueness(module, field.api_name) else {
            continue;
        };
        let clash = org.find_by_value(module, field.api_name, value, case_sensitive, own_id);
        if let Some(clash) = clash {
            let mut owner = org.user_ref();
            owner["zuid"] = json!(org.user.id.to_string());
            return Err(ItemError::new(
                "DUPLICATE_DATA",
                "duplicate data",
                json!({
                    "api_name": field.api_name,
                    "duplicate_record": {"Owner": owner, "id": clash.id.to_string()},
                    "json_path": format!("$.data[{index}].{}", field.api_name),
                    "id": clash.id.to_string(),
                    "more_records": false,
                }),
            ));
        }
    }
    Ok(())
}

pub async fn insert(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<ModulePath>,
    body: Bytes,
) -> Result<Response, ZohoError> {
    let module = module(&path.module)?;
    let (records, _options) = records_body(&body)?;
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    let outcomes = records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let created = insert_one(org, module, record, index)?;
            let mut details = org.write_details(&created);
            details["$approval_state"] = json!("approved");
            Ok(success(details, "record added"))
        })
        .collect();
    Ok(respond(outcomes, StatusCode::CREATED))
}

/// Updates record `id` with `record`'s fields, honouring `If-Unmodified-Since`.
fn update_record(
    org: &mut Org,
    module: &'static Module,
    id: u64,
    record: &Map<String, Value>,
    index: usize,
    unmodified_since: Option<DateTime<Utc>>,
) -> Result<Record, ItemError> {
    let current = org
        .record(module, id)
        .ok_or_else(|| ItemError::invalid_id(index))?;
    if let Some(since) = unmodified_since
        && current.modified_time > since
    {
        return Err(ItemError::new(
            "ALREADY_MODIFIED",
            "record updated time has already passed if-unmodified-since time",
            org.write_details(current),
        ));
    }
    let extra = org.extra_fields(module);
    let inputs = check_record_with(module, &extra, record, index, false)?;
    check_unique(org, module, &inputs, Some(id), index)?;
    org.update(module, id, inputs, index)
}

pub async fn update_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<ModulePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ZohoError> {
    let module = module(&path.module)?;
    let unmodified_since = if_unmodified_since(&headers)?;
    let (records, _options) = records_body(&body)?;
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    // With `X-EXTERNAL`, a record without `id` is named by its External ID value.
    let external = custom::external_header(org, module, &headers)?.map(|f| f.api_name.clone());
    let outcomes = records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let fields = as_object(record, index)?;
            let id = match (fields.get("id"), &external) {
                (None | Some(Value::Null), Some(field)) => {
                    let value = fields
                        .get(field)
                        .and_then(Value::as_str)
                        .ok_or_else(|| ItemError::mandatory(field, index))?;
                    org.find_by_value(module, field, value, true, None)
                        .map(|r| r.id)
                        .ok_or_else(|| external_invalid(field, index))?
                }
                (None | Some(Value::Null), None) => {
                    return Err(ItemError::mandatory("id", index));
                }
                (Some(raw), _) => parse_id(raw).ok_or_else(|| ItemError::invalid_id(index))?,
            };
            let updated = update_record(org, module, id, fields, index, unmodified_since)?;
            Ok(success(org.write_details(&updated), "record updated"))
        })
        .collect();
    Ok(respond(outcomes, StatusCode::OK))
}

/// An External ID value no record holds ("The value of the external field is invalid.", one
/// of the messages of Zoho's records API).
fn external_invalid(field: &str, index: usize) -> ItemError {
    ItemError::new(
        "INVALID_DATA",
        "The value of the external field is invalid.",
        json!({"api_name": field, "json_path": format!("$.data[{index}].{field}")}),
    )
}

pub async fn update_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<RecordPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ZohoError> {
    let module = module(&path.module)?;
    let unmodified_since = if_unmodified_since(&headers)?;
    let (records, _options) = records_body(&body)?;
    if records.len() > 1 {
        return Err(ZohoError::too_many_records(1));
    }
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    // `X-EXTERNAL: {module}.{field}`: the path holds the record's External ID.
    let outcome = match custom::record_in_path(org, module, &headers, &path.id)? {
        None => Err(ItemError::new(
            "INVALID_DATA",
            "The value of the external field is invalid.",
            json!({"resource_path_index": 1}),
        )),
        Some(id) => as_object(&records[0], 0)
            .and_then(|fields| update_record(org, module, id, fields, 0, unmodified_since))
            .map(|updated| success(org.write_details(&updated), "record updated")),
    };
    Ok(respond(vec![outcome], StatusCode::OK))
}

/// The oldest record whose `field` equals `value`: exactly for an External ID or a
/// case-sensitive unique field, else trimmed and case-insensitively (e-mails).
fn find_duplicate(org: &Org, module: &'static Module, field: &str, value: &str) -> Option<u64> {
    let case_sensitive = org.uniqueness(module, field).unwrap_or(false);
    org.find_by_value(module, field, value, case_sensitive, None)
        .map(|r| r.id)
}

pub async fn upsert(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<ModulePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ZohoError> {
    let module = module(&path.module)?;
    let (records, options) = records_body(&body)?;
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    let extra = org.extra_fields(module);
    let check_fields: Vec<&'static str> = match options.get("duplicate_check_fields") {
        // The module's own duplicate-check fields, then the org's unique custom fields and
        // External IDs in the order they were made.
        None | Some(Value::Null) => module
            .duplicate_check
            .iter()
            .copied()
            .chain(
                org.custom(module)
                    .iter()
                    .filter(|c| c.uniqueness().is_some())
                    .map(|c| c.field().api_name),
            )
            .collect(),
        Some(Value::Array(names)) => {
            let mut fields = Vec::new();
            for (index, name) in names.iter().enumerate() {
                let field = name
                    .as_str()
                    .and_then(|n| module.field_or(&extra, n))
                    .filter(|f| {
                        matches!(
                            f.kind,
                            Kind::Text(_)
                                | Kind::Email
                                | Kind::Phone
                                | Kind::Picklist
                                | Kind::PicklistOf(_)
                        )
                    })
                    .ok_or_else(|| {
                        ZohoError::new(
                            StatusCode::BAD_REQUEST,
                            "INVALID_DATA",
                            "invalid data",
                            json!({"api_name": "duplicate_check_fields",
                                   "json_path": format!("$.duplicate_check_fields[{index}]")}),
                        )
                    })?;
                fields.push(field.api_name);
            }
            fields
        }
        Some(_) => {
            return Err(ZohoError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "invalid data",
                json!({"expected_data_type": "jsonarray", "api_name": "duplicate_check_fields",
                       "json_path": "$.duplicate_check_fields"}),
            ));
        }
    };
    // `X-EXTERNAL: {module}.{field}`: the External ID is checked first.
    let check_fields: Vec<&'static str> = match custom::external_header(org, module, &headers)? {
        Some(external) => {
            let first = external.field().api_name;
            std::iter::once(first)
                .chain(check_fields.into_iter().filter(|f| *f != first))
                .collect()
        }
        None => check_fields,
    };
    let outcomes = records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let fields = as_object(record, index)?;
            let explicit = match fields.get("id") {
                None | Some(Value::Null) => None,
                Some(raw) => Some(parse_id(raw).ok_or_else(|| ItemError::invalid_id(index))?),
            };
            let duplicate = explicit.map(|id| (id, None)).or_else(|| {
                check_fields.iter().find_map(|field| {
                    let value = fields.get(*field)?.as_str()?;
                    find_duplicate(org, module, field, value).map(|id| (id, Some(*field)))
                })
            });
            let (record, action, duplicate_field, message) = match duplicate {
                Some((id, field)) => {
                    let updated = update_record(org, module, id, fields, index, None)?;
                    (updated, "update", field, "record updated")
                }
                None => (
                    insert_one(org, module, record, index)?,
                    "insert",
                    None,
                    "record added",
                ),
            };
            Ok(json!({
                "code": "SUCCESS",
                "duplicate_field": duplicate_field,
                "action": action,
                "details": org.write_details(&record),
                "message": message,
                "status": "success",
            }))
        })
        .collect();
    Ok(respond(outcomes, StatusCode::OK))
}

fn delete_ids(org: &mut Org, module: &'static Module, ids: &[&str]) -> Vec<Outcome> {
    ids.iter()
        .map(|raw| {
            let deleted = raw
                .trim()
                .parse::<u64>()
                .is_ok_and(|id| org.delete(module, id));
            if deleted {
                Ok(success(json!({"id": raw.trim()}), "record deleted"))
            } else {
                Err(ItemError::new(
                    "INVALID_DATA",
                    "record not deleted",
                    json!({"id": raw.trim()}),
                ))
            }
        })
        .collect()
}

pub async fn delete_many(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<ModulePath>,
    RawQuery(raw_query): RawQuery,
) -> Result<Response, ZohoError> {
    let module = delete_module(&path.module)?;
    let query = Query::parse(raw_query.as_deref());
    let ids: Vec<&str> = query
        .get("ids")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .collect();
    if ids.is_empty() {
        return Err(ZohoError::required_param("ids"));
    }
    if ids.len() > MAX_RECORDS {
        return Err(ZohoError::limit_exceeded(
            json!({"limit": MAX_RECORDS, "param_name": "ids"}),
        ));
    }
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    Ok(respond(delete_ids(org, module, &ids), StatusCode::OK))
}

pub async fn delete_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<RecordPath>,
    headers: HeaderMap,
) -> Result<Response, ZohoError> {
    let module = delete_module(&path.module)?;
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    // `X-EXTERNAL: {module}.{field}`: the path holds the record's External ID (an unknown one
    // is answered as an unknown id).
    let id = custom::record_in_path(org, module, &headers, &path.id)?.unwrap_or(0);
    // The single-record delete answers a record it cannot delete with a top-level error naming
    // the id's place in the path (record.yaml, `RecordDeleteByIdInvalidDataError`), not with
    // the `data[]` entry of the many-record delete.
    if !org.delete(module, id) {
        return Err(ZohoError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "record not deleted",
            json!({"resource_path_index": 1}),
        ));
    }
    Ok(respond(
        vec![Ok(success(json!({"id": id.to_string()}), "record deleted"))],
        StatusCode::OK,
    ))
}
