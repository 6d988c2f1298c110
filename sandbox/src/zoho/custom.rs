//! Custom fields and the Fields metadata API (`GET|POST /settings/fields?module=`), as Zoho's
//! "Fields Meta Data" and "Create Custom Fields" pages and its OpenAPI description
//! (`zoho/crm-oas`, `v8.0/fields`) give them. An org's custom fields extend its modules: their
//! values are read and written like the standard fields' (see [`Org::extra_fields`]), a
//! `unique` one refuses a value another record holds, and an `external` one (an External ID:
//! a custom single-line field holding the record's id in another system) is unique too and
//! names a record through the `X-EXTERNAL` header.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ItemError, ZohoError};
use super::modules::{self, Field, Kind, MODULES, Module, System};
use super::store::Org;
use super::{Caller, Query, org_of};
use crate::state::AppState;

/// The data types a custom field can be created with in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Text,
    Textarea,
    Email,
    Phone,
    Boolean,
}

impl DataType {
    fn parse(raw: &str) -> Option<DataType> {
        match raw {
            "text" => Some(DataType::Text),
            "textarea" => Some(DataType::Textarea),
            "email" => Some(DataType::Email),
            "phone" => Some(DataType::Phone),
            "boolean" => Some(DataType::Boolean),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DataType::Text => "text",
            DataType::Textarea => "textarea",
            DataType::Email => "email",
            DataType::Phone => "phone",
            DataType::Boolean => "boolean",
        }
    }

    /// Zoho's length limits (Field Types: Data Types and Length Limits): the default and the
    /// most a field may be given.
    fn lengths(self) -> (usize, usize) {
        match self {
            DataType::Text => (255, 255),
            DataType::Textarea => (2000, 32000),
            DataType::Email => (100, 100),
            DataType::Phone => (30, 30),
            DataType::Boolean => (5, 5),
        }
    }

    /// Whether Zoho lets the field be unique.
    fn can_be_unique(self) -> bool {
        matches!(self, DataType::Text | DataType::Email | DataType::Phone)
    }
}

/// `external`: `type` is `org` (one value per record) or `user` (Zoho keeps one per user; the
/// sandbox's org has one user, so both behave the same).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct External {
    #[serde(rename = "type")]
    pub kind: String,
    pub show: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CustomField {
    pub id: u64,
    pub api_name: String,
    pub label: String,
    pub data_type: DataType,
    pub length: usize,
    /// `Some(case_sensitive)` for a unique field.
    pub unique: Option<bool>,
    pub external: Option<External>,
    pub created: DateTime<Utc>,
}

impl CustomField {
    pub fn kind(&self) -> Kind {
        match self.data_type {
            DataType::Text => Kind::Text(self.length),
            DataType::Textarea => Kind::TextArea(self.length),
            DataType::Email => Kind::Email,
            DataType::Phone => Kind::Phone,
            DataType::Boolean => Kind::Boolean,
        }
    }

    pub fn field(&self) -> &'static Field {
        modules::custom_field(&self.api_name, self.kind())
    }

    /// How values clash: `Some(case_sensitive)` when no two records may share one. External
    /// ids compare exactly.
    pub fn uniqueness(&self) -> Option<bool> {
        if self.external.is_some() {
            Some(true)
        } else {
            self.unique
        }
    }

    fn metadata(&self, org: &Org) -> Value {
        let mut out = field_json(
            &self.id.to_string(),
            &self.api_name,
            &self.label,
            self.data_type.name(),
            json_type(self.kind()),
            Some(self.length),
            true,
            false,
            false,
        );
        out["unique"] = match self.unique {
            Some(case_sensitive) if self.external.is_none() => {
                json!({"casesensitive": case_sensitive.to_string()})
            }
            _ if self.external.is_some() => json!({"casesensitive": "true"}),
            _ => json!({}),
        };
        out["external"] = match &self.external {
            Some(external) => {
                json!({"type": external.kind, "show": external.show, "allow_multiple_config": false})
            }
            None => Value::Null,
        };
        out["created_time"] = json!(org.time(self.created));
        out["modified_time"] = json!(org.time(self.created));
        out["created_source"] = json!("crm");
        out
    }
}

fn json_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Boolean | Kind::System(System::Locked) => "boolean",
        Kind::AccountLookup
        | Kind::ContactLookup
        | Kind::WhatLookup
        | Kind::Owner
        | Kind::Recurrence
        | Kind::System(System::CreatedBy | System::ModifiedBy) => "jsonobject",
        Kind::Tags | Kind::Participants => "jsonarray",
        Kind::RemindAt => "jsonobject",
        _ => "string",
    }
}

/// The `data_type` Zoho's metadata gives a standard field (the sandbox's reading of Zoho's type
/// names for the fields it has).
fn data_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text(_) | Kind::System(System::FullName) => "text",
        Kind::TextArea(_) => "textarea",
        Kind::Email => "email",
        Kind::Phone => "phone",
        Kind::Picklist | Kind::PicklistOf(_) | Kind::System(System::RecordStatus) => "picklist",
        Kind::DateTime
        | Kind::System(
            System::CreatedTime
            | System::ModifiedTime
            | System::LastActivityTime
            | System::ClosedTime,
        ) => "datetime",
        Kind::Date => "date",
        Kind::Boolean | Kind::System(System::Locked) => "boolean",
        Kind::AccountLookup | Kind::ContactLookup | Kind::WhatLookup => "lookup",
        Kind::Owner | Kind::System(System::CreatedBy | System::ModifiedBy) => "ownerlookup",
        Kind::Participants => "multiselectlookup",
        Kind::Recurrence => "RRULE",
        Kind::RemindAt => "event_reminder",
        Kind::Tags => "text",
        Kind::System(System::Id) => "bigint",
    }
}

fn length(kind: Kind) -> Option<usize> {
    match kind {
        Kind::Text(n) | Kind::TextArea(n) => Some(n),
        Kind::Email => Some(100),
        Kind::Phone => Some(30),
        Kind::Picklist | Kind::PicklistOf(_) => Some(120),
        _ => None,
    }
}

/// `First_Name` → `First Name`.
fn label_of(api_name: &str) -> String {
    api_name.trim_end_matches("__s").replace('_', " ")
}

#[allow(clippy::too_many_arguments)]
fn field_json(
    id: &str,
    api_name: &str,
    label: &str,
    data_type: &str,
    json_type: &str,
    length: Option<usize>,
    custom: bool,
    mandatory: bool,
    read_only: bool,
) -> Value {
    json!({
        "id": id,
        "api_name": api_name,
        "field_label": label,
        "display_label": label,
        "data_type": data_type,
        "json_type": json_type,
        "length": length,
        "custom_field": custom,
        "system_mandatory": mandatory,
        "read_only": read_only,
        "field_read_only": read_only,
        "visible": true,
        "type": "used",
        "unique": {},
        "external": null,
        "created_source": if custom { "crm" } else { "default" },
        "created_time": null,
        "modified_time": null,
    })
}

/// The metadata of every field of `module` in `org`: the standard ones, then the custom ones in
/// creation order. Standard fields get stable ids built from the org, module and field.
pub fn metadata(org: &Org, module: &'static Module) -> Vec<Value> {
    let module_number = MODULES
        .iter()
        .position(|m| m.api_name == module.api_name)
        .unwrap_or(0)
        + 1;
    let unique = org.unique_fields.get(module.api_name);
    let mut fields: Vec<Value> = module
        .fields
        .iter()
        .enumerate()
        .map(|(position, field)| {
            let read_only = matches!(field.kind, Kind::System(_));
            let mut out = field_json(
                &format!("{}{module_number}{position:09}", org.id),
                field.api_name,
                &label_of(field.api_name),
                data_type(field.kind),
                json_type(field.kind),
                length(field.kind),
                false,
                field.mandatory,
                read_only,
            );
            if unique.is_some_and(|u| u.iter().any(|n| n == field.api_name)) {
                out["unique"] = json!({"casesensitive": "false"});
            }
            out
        })
        .collect();
    fields.extend(org.custom(module).iter().map(|c| c.metadata(org)));
    fields
}

fn module_param(query: &Query) -> Result<&'static Module, ZohoError> {
    let name = query
        .get("module")
        .ok_or_else(|| ZohoError::required_param("module"))?;
    modules::find(name).ok_or_else(|| {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"param_name": "module"}),
        )
    })
}

/// `GET /settings/fields?module=`: `{"fields": [...]}`.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw_query): RawQuery,
) -> Result<Response, ZohoError> {
    let query = Query::parse(raw_query.as_deref());
    let module = module_param(&query)?;
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    Ok(Json(json!({"fields": metadata(org, module)})).into_response())
}

/// The answer to a user without the "Customize Zoho CRM" permission (Zoho's fields examples,
/// `deleteCustomField/response-403`).
pub fn no_permission() -> ZohoError {
    ZohoError::new(
        StatusCode::FORBIDDEN,
        "NO_PERMISSION",
        "permission denied",
        json!({"permissions": ["Crm_Implied_Customize_Zoho_CRM"]}),
    )
}

fn invalid(key: &str, index: usize) -> ItemError {
    ItemError::new(
        "INVALID_DATA",
        "invalid data",
        json!({"api_name": key, "json_path": format!("$.fields[{index}].{key}")}),
    )
}

/// The API name Zoho derives from a label: letters and digits kept, runs of anything else
/// become one `_`.
fn api_name_of(label: &str) -> String {
    let mut name = String::new();
    for c in label.trim().chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('_') && !name.is_empty() {
            name.push('_');
        }
    }
    let name = name.trim_end_matches('_').to_owned();
    match name.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => name,
        _ => format!("Field_{name}"),
    }
}

/// Checks one field of a create body and adds it to the org.
fn create_one(
    org: &mut Org,
    module: &'static Module,
    body: &Value,
    index: usize,
) -> Result<Value, ItemError> {
    let Value::Object(fields) = body else {
        return Err(ItemError::new(
            "INVALID_DATA",
            "invalid data",
            json!({"expected_data_type": "jsonobject", "json_path": format!("$.fields[{index}]")}),
        ));
    };
    let mandatory = |key: &str| {
        ItemError::new(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": key, "json_path": format!("$.fields[{index}].{key}")}),
        )
    };
    let label = match fields.get("field_label") {
        None | Some(Value::Null) => return Err(mandatory("field_label")),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 50 => {
            s.trim().to_owned()
        }
        Some(_) => return Err(invalid("field_label", index)),
    };
    let data_type = match fields.get("data_type") {
        None | Some(Value::Null) => return Err(mandatory("data_type")),
        Some(Value::String(s)) => DataType::parse(s).ok_or_else(|| invalid("data_type", index))?,
        Some(_) => return Err(invalid("data_type", index)),
    };
    let (default_length, max_length) = data_type.lengths();
    let length = match fields.get("length") {
        None | Some(Value::Null) => default_length,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=max_length).contains(n))
            .ok_or_else(|| invalid("length", index))?,
        Some(_) => return Err(invalid("length", index)),
    };
    let unique = match fields.get("unique") {
        None | Some(Value::Null) => None,
        Some(Value::Object(options)) if data_type.can_be_unique() => {
            let flag = options
                .get("case_sensitive")
                .or_else(|| options.get("casesensitive"));
            Some(match flag {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
                Some(_) => return Err(invalid("unique", index)),
            })
        }
        Some(_) => return Err(invalid("unique", index)),
    };
    let external = match fields.get("external") {
        None | Some(Value::Null) => None,
        Some(Value::Object(options)) if data_type == DataType::Text => {
            let kind = match options.get("type") {
                None | Some(Value::Null) => "org".to_owned(),
                Some(Value::String(t)) if t == "org" || t == "user" => t.clone(),
                Some(_) => return Err(invalid("external", index)),
            };
            let show = match options.get("show") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(invalid("external", index)),
            };
            Some(External { kind, show })
        }
        Some(_) => return Err(invalid("external", index)),
    };
    let taken_label = module
        .fields
        .iter()
        .map(|f| label_of(f.api_name))
        .chain(org.custom(module).iter().map(|c| c.label.clone()))
        .any(|l| l.eq_ignore_ascii_case(&label));
    if taken_label {
        return Err(ItemError::new(
            "DUPLICATE_DATA",
            "duplicate data",
            json!({"api_name": "field_label", "json_path": format!("$.fields[{index}].field_label")}),
        ));
    }
    let base = api_name_of(&label);
    let taken = |name: &str| {
        module
            .fields
            .iter()
            .any(|f| f.api_name.eq_ignore_ascii_case(name))
            || org
                .custom(module)
                .iter()
                .any(|c| c.api_name.eq_ignore_ascii_case(name))
    };
    let mut api_name = base.clone();
    let mut suffix = 1;
    while taken(&api_name) {
        api_name = format!("{base}{suffix}");
        suffix += 1;
    }
    let created = CustomField {
        id: org.next_id(),
        api_name,
        label,
        data_type,
        length,
        unique,
        external,
        created: crate::time::now(),
    };
    let id = created.id.to_string();
    org.add_custom_field(module, created);
    Ok(
        json!({"code": "SUCCESS", "details": {"id": id}, "message": "field created",
              "status": "success"}),
    )
}

/// Creates the fields of `body` (`{"fields": [...]}`) in `module`: `{"fields": [outcome...]}`,
/// 201 when all were made, 207 when some, 400 when none.
pub fn create(org: &mut Org, module: &'static Module, body: &Bytes) -> Result<Response, ZohoError> {
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(body) else {
        return Err(ZohoError::invalid_body());
    };
    let items = match top.remove("fields") {
        None | Some(Value::Null) => return Err(ZohoError::required_param("fields")),
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            return Err(ZohoError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "invalid data",
                json!({"expected_data_type": "jsonarray", "api_name": "fields", "json_path": "$.fields"}),
            ));
        }
    };
    let outcomes: Vec<Result<Value, ItemError>> = items
        .iter()
        .enumerate()
        .map(|(index, item)| create_one(org, module, item, index))
        .collect();
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    let status = match failed {
        0 => StatusCode::CREATED,
        n if n < outcomes.len() => StatusCode::MULTI_STATUS,
        _ => StatusCode::BAD_REQUEST,
    };
    let fields: Vec<Value> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|e| e.to_json()))
        .collect();
    Ok((status, Json(json!({"fields": fields}))).into_response())
}

/// `POST /settings/fields?module=` with `{"fields": [...]}`; refused with `NO_PERMISSION` when
/// the org's user may not customise the CRM (control API).
pub async fn create_fields(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw_query): RawQuery,
    body: Bytes,
) -> Result<Response, ZohoError> {
    let query = Query::parse(raw_query.as_deref());
    let module = module_param(&query)?;
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    if !org.customize_crm {
        return Err(no_permission());
    }
    create(org, module, &body)
}

/// The External ID field named by `X-EXTERNAL: {module}.{field}` (Zoho's header for records
/// named by their External ID), if the request has the header. A header that does not name an
/// External ID field of this module is refused.
pub fn external_header<'a>(
    org: &'a Org,
    module: &'static Module,
    headers: &HeaderMap,
) -> Result<Option<&'a CustomField>, ZohoError> {
    let Some(raw) = headers.get("x-external") else {
        return Ok(None);
    };
    let named = raw
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once('.'))
        .filter(|(m, _)| m.eq_ignore_ascii_case(module.api_name))
        .and_then(|(_, field)| org.external_field(module, field.trim()));
    named
        .map(Some)
        .ok_or_else(|| ZohoError::invalid_param("X-EXTERNAL", "invalid data"))
}

/// The record id a path segment names: the id itself, or, with `X-EXTERNAL`, the record whose
/// External ID it is (`None` when no record has it). A path that is neither is a 400.
pub fn record_in_path(
    org: &Org,
    module: &'static Module,
    headers: &HeaderMap,
    raw: &str,
) -> Result<Option<u64>, ZohoError> {
    match external_header(org, module, headers)? {
        Some(field) => Ok(org
            .find_by_value(module, &field.api_name, raw, true, None)
            .map(|r| r.id)),
        None => raw.trim().parse().map(Some).map_err(|_| {
            ZohoError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "the id given seems to be invalid",
                json!({"resource_path_index": 1}),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_come_from_labels() {
        assert_eq!(api_name_of("Sync Link Id"), "Sync_Link_Id");
        assert_eq!(api_name_of("  Outlook-ID (sync) "), "Outlook_ID_sync");
        assert_eq!(api_name_of("1st"), "Field_1st");
    }
}
