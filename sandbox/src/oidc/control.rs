//! `/_sandbox/oidc/...`: the provider's users, key rotation and deliberately wrong ID tokens.
//!
//! - `POST /users` `{"email", "email_verified"? (true), "name"?, "amr"? (["pwd"]), "tenant"?,
//!   "xms_edov"?}` (the last two for the Entra ID shape) → 201 the user
//!   (`sub` is new); `GET /users` lists them;
//! - `POST /keys/rotate` `{"retire_old"?: false}` → `{"active_kid", "published_kids"}`;
//!   `GET /keys` the same without rotating;
//! - `POST /next-id-token` `{"aud"?, "iss"?, "nonce"?, "expires_in"?, "amr"?, "unpublished_key"?}`: the
//!   next ID token carries these instead (one token);
//! - `GET /stats` → `{"id_tokens_issued"}`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Tamper, User};
use crate::control::{ControlError, body};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(add_user))
        .route("/keys", get(keys))
        .route("/keys/rotate", post(rotate))
        .route("/next-id-token", post(tamper))
        .route("/stats", get(stats))
}

#[derive(Debug, Default, Deserialize)]
struct NewUser {
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    amr: Option<Vec<String>>,
    tenant: Option<String>,
    xms_edov: Option<bool>,
}

async fn add_user(State(state): State<AppState>, bytes: Bytes) -> Result<Response, ControlError> {
    let new: NewUser = body(&bytes)?;
    let Some(email) = new.email.filter(|e| e.contains('@')) else {
        return Err(ControlError::bad_request("email is required"));
    };
    let user = User {
        sub: uuid::Uuid::new_v4().simple().to_string(),
        name: new
            .name
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned()),
        email,
        email_verified: new.email_verified.unwrap_or(true),
        amr: new.amr.unwrap_or_else(|| vec!["pwd".to_owned()]),
        tenant: new
            .tenant
            .unwrap_or_else(|| super::SANDBOX_TENANT.to_owned()),
        xms_edov: new.xms_edov,
    };
    state.oidc().users.push(user.clone());
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn list_users(State(state): State<AppState>) -> Response {
    Json(json!({"users": state.oidc().users})).into_response()
}

#[derive(Debug, Default, Deserialize)]
struct Rotate {
    #[serde(default)]
    retire_old: bool,
}

fn key_summary(state: &AppState) -> Response {
    let mut provider = state.oidc();
    let active = provider.keys.active().kid.clone();
    Json(json!({"active_kid": active, "published_kids": provider.keys.kids()})).into_response()
}

async fn keys(State(state): State<AppState>) -> Response {
    key_summary(&state)
}

async fn rotate(State(state): State<AppState>, bytes: Bytes) -> Result<Response, ControlError> {
    let rotate: Rotate = body(&bytes)?;
    state.oidc().keys.rotate(rotate.retire_old);
    Ok(key_summary(&state))
}

async fn tamper(State(state): State<AppState>, bytes: Bytes) -> Result<Response, ControlError> {
    let tamper: Tamper = body(&bytes)?;
    state.oidc().tamper = Some(tamper);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn stats(State(state): State<AppState>) -> Response {
    Json(json!({"id_tokens_issued": state.oidc().issued})).into_response()
}
