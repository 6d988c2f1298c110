//! An org's custom fields and its user's permission to customise the CRM: read them, make
//! fields as the org's administrator already had (the same body as Zoho's Create Custom Fields),
//! and take the permission away so that the API refuses field creation as it refuses a user
//! without "Customize Zoho CRM".

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ControlError, body};
use crate::state::AppState;
use crate::zoho::{custom, modules};

fn module_named(name: &str) -> Result<&'static modules::Module, ControlError> {
    modules::find(name).ok_or_else(|| ControlError::bad_request(format!("unknown module `{name}`")))
}

/// `GET /zoho/orgs/{id}/fields/{module}` → `{"fields": [custom fields, as Zoho's metadata]}`.
pub async fn list(
    State(state): State<AppState>,
    Path((id, module)): Path<(String, String)>,
) -> Result<Json<Value>, ControlError> {
    let module = module_named(&module)?;
    let world = state.world();
    let org = world
        .zoho
        .orgs
        .get(&id)
        .ok_or_else(|| ControlError::not_found("unknown org"))?;
    let fields: Vec<Value> = custom::metadata(org, module)
        .into_iter()
        .filter(|f| f["custom_field"] == true)
        .collect();
    Ok(Json(json!({"fields": fields})))
}

/// `POST /zoho/orgs/{id}/fields/{module}` with `{"fields": [...]}` → Zoho's answer to Create
/// Custom Fields, whatever the user's permission.
pub async fn create(
    State(state): State<AppState>,
    Path((id, module)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ControlError> {
    let module = module_named(&module)?;
    let mut world = state.world();
    let org = world
        .zoho
        .orgs
        .get_mut(&id)
        .ok_or_else(|| ControlError::not_found("unknown org"))?;
    custom::create(org, module, &bytes)
        .map_err(|e| ControlError::bad_request(format!("refused: {}", e.body)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Permissions {
    customize_crm: Option<bool>,
}

/// `GET|PUT|POST /zoho/orgs/{id}/permissions` with `{"customize_crm": false}` →
/// `{"customize_crm": false}`. Without it, `POST /settings/fields` answers 403 `NO_PERMISSION`.
pub async fn permissions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ControlError> {
    let request: Permissions = body(&bytes)?;
    let mut world = state.world();
    let org = world
        .zoho
        .orgs
        .get_mut(&id)
        .ok_or_else(|| ControlError::not_found("unknown org"))?;
    if let Some(allowed) = request.customize_crm {
        org.customize_crm = allowed;
    }
    Ok(Json(json!({"customize_crm": org.customize_crm})))
}
