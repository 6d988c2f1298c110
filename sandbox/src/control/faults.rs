//! Control calls for faults, Graph's concurrency limit, Zoho credits and token expiry per
//! account.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ControlError, body};
use crate::faults::FaultSpec;
use crate::graph::concurrency::Limit;
use crate::meter::Account;
use crate::state::{AppState, World};
use crate::time;

fn spec(bytes: &Bytes) -> Result<FaultSpec, ControlError> {
    let raw = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes.as_ref()
    };
    let spec: FaultSpec = serde_json::from_slice(raw)
        .map_err(|e| ControlError::bad_request(format!("bad fault setting: {e}")))?;
    spec.validate().map_err(ControlError::bad_request)?;
    Ok(spec)
}

fn mailbox(world: &World, id: &str) -> Result<Account, ControlError> {
    world
        .graph
        .mailboxes
        .contains_key(id)
        .then(|| Account::Mailbox(id.to_owned()))
        .ok_or_else(|| ControlError::not_found("unknown mailbox"))
}

fn org(world: &World, id: &str) -> Result<Account, ControlError> {
    world
        .zoho
        .orgs
        .contains_key(id)
        .then(|| Account::Org(id.to_owned()))
        .ok_or_else(|| ControlError::not_found("unknown org"))
}

pub async fn describe(State(state): State<AppState>) -> Json<Value> {
    Json(state.world().faults.describe())
}

pub async fn set_global(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Json<Value>, ControlError> {
    let spec = spec(&bytes)?;
    let mut world = state.world();
    world.faults.set(None, spec);
    Ok(Json(world.faults.describe()))
}

/// Clears every setting, global and per account.
pub async fn clear_all(State(state): State<AppState>) -> Json<Value> {
    let mut world = state.world();
    world.faults.clear(None);
    Json(world.faults.describe())
}

pub async fn set_mailbox(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ControlError> {
    let spec = spec(&bytes)?;
    let mut world = state.world();
    let account = mailbox(&world, &id)?;
    world.faults.set(Some(&account), spec);
    Ok(Json(world.faults.describe()))
}

pub async fn clear_mailbox(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    let account = mailbox(&world, &id)?;
    world.faults.clear(Some(&account));
    Ok(Json(world.faults.describe()))
}

/// The mailbox's concurrency limit and its requests in flight now.
pub async fn concurrency(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let world = state.world();
    mailbox(&world, &id)?;
    Ok(Json(world.concurrency.describe(&id)))
}

/// Sets the mailbox's concurrency limit (`{"enabled"?, "max_in_flight"?, "retry_after_seconds"?}`,
/// each defaulting to Outlook's: on, 4, 1 s).
pub async fn set_concurrency(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ControlError> {
    let limit: Limit = body(&bytes)?;
    limit.validate().map_err(ControlError::bad_request)?;
    let mut world = state.world();
    mailbox(&world, &id)?;
    world.concurrency.set(&id, limit);
    Ok(Json(world.concurrency.describe(&id)))
}

/// Back to Outlook's limit.
pub async fn reset_concurrency(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    mailbox(&world, &id)?;
    world.concurrency.set(&id, Limit::default());
    Ok(Json(world.concurrency.describe(&id)))
}

pub async fn set_org(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ControlError> {
    let spec = spec(&bytes)?;
    let mut world = state.world();
    let account = org(&world, &id)?;
    world.faults.set(Some(&account), spec);
    Ok(Json(world.faults.describe()))
}

pub async fn clear_org(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    let account = org(&world, &id)?;
    world.faults.clear(Some(&account));
    Ok(Json(world.faults.describe()))
}

pub async fn credits(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    let org = world
        .zoho
        .orgs
        .get_mut(&id)
        .ok_or_else(|| ControlError::not_found("unknown org"))?;
    Ok(Json(org.credits.describe(time::now())))
}

/// `{"budget": n | null, "used": n}`: either key may be left out (unchanged); a `null` budget
/// is unlimited; `used` sets the credits spent in the window (as if spent now).
pub async fn set_credits(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ControlError> {
    let request: Value = body(&bytes)?;
    let request = request.as_object().cloned().unwrap_or_default();
    let number = |name: &str| -> Result<Option<Option<u64>>, ControlError> {
        match request.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(value) => value.as_u64().map(|n| Some(Some(n))).ok_or_else(|| {
                ControlError::bad_request(format!("{name} must be a whole number or null"))
            }),
        }
    };
    let budget = number("budget")?;
    let used = number("used")?;
    let mut world = state.world();
    let org = world
        .zoho
        .orgs
        .get_mut(&id)
        .ok_or_else(|| ControlError::not_found("unknown org"))?;
    let now = time::now();
    if let Some(budget) = budget {
        org.credits.budget = budget;
    }
    if let Some(used) = used {
        org.credits.set_used(used.unwrap_or(0), now);
    }
    Ok(Json(org.credits.describe(now)))
}

pub async fn expire_mailbox_tokens(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    mailbox(&world, &id)?;
    let past = time::now() - chrono::Duration::seconds(1);
    for grant in world.graph.access_tokens.values_mut() {
        if grant.mailbox_id == id {
            grant.expires_at = past;
        }
    }
    Ok(Json(json!({"expired": true})))
}

pub async fn expire_org_tokens(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ControlError> {
    let mut world = state.world();
    org(&world, &id)?;
    let past = time::now() - chrono::Duration::seconds(1);
    for grant in world.zoho.access_tokens.values_mut() {
        if grant.org_id == id {
            grant.expires_at = past;
        }
    }
    Ok(Json(json!({"expired": true})))
}

/// `{"Contacts": ["Email"], "Tasks": []}`: the fields of each module whose values must be
/// unique in the org (text, e-mail and phone fields); replaces the modules named.
pub async fn set_unique_fields(
    State(state): State<AppState>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ControlError> {
    let request: std::collections::BTreeMap<String, Vec<String>> = body(&bytes)?;
    let mut checked = Vec::new();
    for (module_name, fields) in request {
        let module = crate::zoho::modules::find(&module_name)
            .ok_or_else(|| ControlError::bad_request(format!("unknown module `{module_name}`")))?;
        for field in &fields {
            let known = module.field(field).is_some_and(|f| {
                matches!(
                    f.kind,
                    crate::zoho::modules::Kind::Text(_)
                        | crate::zoho::modules::Kind::Email
                        | crate::zoho::modules::Kind::Phone
                )
            });
            if !known {
                return Err(ControlError::bad_request(format!(
                    "`{field}` is not a text, e-mail or phone field of {}",
                    module.api_name
                )));
            }
        }
        checked.push((module.api_name.to_owned(), fields));
    }
    let mut world = state.world();
    let org = world
        .zoho
        .orgs
        .get_mut(&id)
        .ok_or_else(|| ControlError::not_found("unknown org"))?;
    for (module, fields) in checked {
        if fields.is_empty() {
            org.unique_fields.remove(&module);
        } else {
            org.unique_fields.insert(module, fields);
        }
    }
    Ok(Json(json!(org.unique_fields)))
}
