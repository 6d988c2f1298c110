//! The admin API (`/v1/admin/...`), for signed-in administrators: users, their sessions and
//! connections, and the audit log.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::extract::{AdminOwner, AdminUser, Json, Path, Query};
use crate::auth::accounts::{self, NewAccount};
use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::users::UserRow;
use crate::store::{connections, second_factor, sessions, users};

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/admin/users", get(list_users).post(create_user))
        .route("/v1/admin/users/{user_id}", patch(update_user))
        .route(
            "/v1/admin/users/{user_id}/sessions",
            delete(revoke_sessions),
        )
        .route(
            "/v1/admin/users/{user_id}/connections",
            get(user_connections),
        )
        .route("/v1/admin/users/{user_id}/totp", delete(reset_totp))
        .route(
            "/v1/admin/users/{user_id}/password-reset",
            axum::routing::post(create_password_reset),
        )
        .route("/v1/admin/connections", get(all_connections))
        .route("/v1/admin/audit", get(audit_log))
        .with_state(state)
}

fn parse_user_id(raw: &str) -> Result<UserId> {
    raw.parse()
        .map_err(|_| Error::invalid("invalid_user_id", "user_id", "user_id must be a UUID"))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserView {
    user_id: UserId,
    email: String,
    display_name: Option<String>,
    is_admin: bool,
    disabled: bool,
    totp_enabled: bool,
    created_at: DateTime<Utc>,
}

async fn view(state: &AppState, row: UserRow) -> Result<UserView> {
    Ok(UserView {
        user_id: row.id,
        totp_enabled: second_factor::is_enabled(&state.pool, row.id).await?,
        email: row.email,
        display_name: row.display_name,
        is_admin: row.is_admin,
        disabled: row.disabled_at.is_some(),
        created_at: row.created_at,
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", security(("access_token" = [])), params(Page), responses((status = 200, body = UserList), (status = 403, body = crate::openapi::ErrorBody, description = "forbidden")))]
pub(crate) async fn list_users(
    State(state): State<Arc<AppState>>,
    _admin: AdminUser,
    Query(page): Query<Page>,
) -> Result<Json<UserList>> {
    let limit = page.limit.unwrap_or(100).clamp(1, 500);
    let offset = page.offset.unwrap_or(0).max(0);
    let mut views = Vec::new();
    for row in users::list(&state.pool, limit, offset).await? {
        views.push(view(&state, row).await?);
    }
    Ok(Json(UserList {
        users: views,
        limit,
        offset,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserList {
    users: Vec<UserView>,
    limit: i64,
    offset: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewUser {
    #[serde(default)]
    email: String,
    display_name: Option<String>,
    #[schema(value_type = Option<String>)]
    password: Option<SecretString>,
    #[serde(default)]
    is_admin: bool,
}

#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", security(("access_token" = [])), request_body = NewUser, responses((status = 403, body = crate::openapi::ErrorBody, description = "forbidden: not an administrator; app_password_not_allowed: the session was opened with an app password"), (status = 201, description = "user_id"), (status = 409, body = crate::openapi::ErrorBody, description = "email_taken"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_email, weak_password")))]
pub(crate) async fn create_user(
    State(state): State<Arc<AppState>>,
    AdminOwner(admin): AdminOwner,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Value>)> {
    let account = NewAccount {
        email: body.email,
        display_name: body.display_name,
        password: body.password,
        is_admin: body.is_admin,
    };
    let user_id =
        accounts::create_user(&state, account, &format!("admin:{}", admin.user_id)).await?;
    Ok((StatusCode::CREATED, Json(json!({"user_id": user_id}))))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct UserUpdate {
    is_admin: Option<bool>,
    disabled: Option<bool>,
}

/// Promotes, demotes, disables or enables a user. Disabling ends all the user's sessions. An
/// administrator cannot demote or disable themselves (no locking the last one out by accident).
#[utoipa::path(patch, path = "/v1/admin/users/{user_id}", tag = "admin", security(("access_token" = [])), params(("user_id" = String, Path)), request_body = UserUpdate, responses((status = 403, body = crate::openapi::ErrorBody, description = "forbidden: not an administrator; app_password_not_allowed: the session was opened with an app password"), (status = 200, body = UserView), (status = 404, body = crate::openapi::ErrorBody, description = "user_not_found"), (status = 409, body = crate::openapi::ErrorBody, description = "cannot_change_self")))]
pub(crate) async fn update_user(
    State(state): State<Arc<AppState>>,
    AdminOwner(admin): AdminOwner,
    Path(user_id): Path<String>,
    Json(body): Json<UserUpdate>,
) -> Result<Json<UserView>> {
    let user_id = parse_user_id(&user_id)?;
    if user_id == admin.user_id && (body.is_admin == Some(false) || body.disabled == Some(true)) {
        return Err(Error::Conflict {
            code: "cannot_change_self",
            message: "administrators cannot demote or disable themselves",
        });
    }
    let mut tx = state.pool.begin().await?;
    if !users::exists(&mut *tx, user_id).await? {
        return Err(Error::UserNotFound);
    }
    if let Some(is_admin) = body.is_admin {
        users::set_admin(&mut *tx, user_id, is_admin).await?;
    }
    if let Some(disabled) = body.disabled {
        users::set_disabled(&mut *tx, user_id, disabled).await?;
        if disabled {
            sessions::revoke_all(&mut *tx, user_id, None).await?;
        }
    }
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::UserUpdated,
        None,
        json!({"by": admin.user_id, "is_admin": body.is_admin, "disabled": body.disabled}),
    )
    .await?;
    tx.commit().await?;
    let row = users::find(&state.pool, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    Ok(Json(view(&state, row).await?))
}

#[utoipa::path(delete, path = "/v1/admin/users/{user_id}/sessions", tag = "admin", security(("access_token" = [])), params(("user_id" = String, Path)), responses((status = 403, body = crate::openapi::ErrorBody, description = "forbidden: not an administrator; app_password_not_allowed: the session was opened with an app password"), (status = 200, description = "revoked: count"), (status = 404, body = crate::openapi::ErrorBody, description = "user_not_found")))]
pub(crate) async fn revoke_sessions(
    State(state): State<Arc<AppState>>,
    AdminOwner(admin): AdminOwner,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    let user_id = parse_user_id(&user_id)?;
    if !users::exists(&state.pool, user_id).await? {
        return Err(Error::UserNotFound);
    }
    let revoked = sessions::revoke_all(&state.pool, user_id, None).await?;
    audit::record(
        &state.pool,
        Some(user_id),
        Event::SessionRevoked,
        None,
        json!({"by": admin.user_id, "all": true, "count": revoked}),
    )
    .await?;
    Ok(Json(json!({"revoked": revoked})))
}

#[utoipa::path(get, path = "/v1/admin/users/{user_id}/connections", tag = "admin", security(("access_token" = [])), params(("user_id" = String, Path)), responses((status = 200, body = crate::routes::internal::ConnectionStatuses), (status = 404, body = crate::openapi::ErrorBody, description = "user_not_found")))]
pub(crate) async fn user_connections(
    State(state): State<Arc<AppState>>,
    _admin: AdminUser,
    Path(user_id): Path<String>,
) -> Result<Json<super::internal::ConnectionStatuses>> {
    let user_id = parse_user_id(&user_id)?;
    Ok(Json(
        super::internal::connection_statuses(&state, user_id).await?,
    ))
}

/// Turns a user's two-factor sign-in off (e.g. a lost phone with no recovery codes left); they
/// sign in with the password alone and can enrol again. Idempotent.
#[utoipa::path(delete, path = "/v1/admin/users/{user_id}/totp", tag = "admin", security(("access_token" = [])), params(("user_id" = String, Path)), responses((status = 403, body = crate::openapi::ErrorBody, description = "forbidden: not an administrator; app_password_not_allowed: the session was opened with an app password"), (status = 200, description = "was_enabled: whether two-factor sign-in was on"), (status = 404, body = crate::openapi::ErrorBody, description = "user_not_found")))]
pub(crate) async fn reset_totp(
    State(state): State<Arc<AppState>>,
    AdminOwner(admin): AdminOwner,
    Path(user_id): Path<String>,
) -> Result<Json<Value>> {
    let user_id = parse_user_id(&user_id)?;
    let was_enabled = crate::auth::totp::reset_by_admin(&state, user_id, admin.user_id).await?;
    Ok(Json(json!({"was_enabled": was_enabled})))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConnectionsQuery {
    /// `connected` or `reconnect_needed`.
    status: Option<String>,
    /// `outlook` or `zoho`.
    provider: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectionHealth {
    user_id: UserId,
    email: String,
    provider: String,
    /// `connected` or `reconnect_needed`.
    status: String,
    /// Why a reconnect is needed (e.g. `invalid_grant`).
    reason: Option<String>,
    data_centre: Option<String>,
    tenant: Option<String>,
    api_domain: Option<String>,
    connected_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_refresh_at: Option<DateTime<Utc>>,
    access_token_expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectionCount {
    provider: String,
    status: String,
    count: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectionOverview {
    /// All connections per provider and status (not only this page).
    summary: Vec<ConnectionCount>,
    /// Those needing a reconnect first.
    connections: Vec<ConnectionHealth>,
    limit: i64,
    offset: i64,
}

/// Every user's provider connections and their health.
#[utoipa::path(get, path = "/v1/admin/connections", tag = "admin", security(("access_token" = [])), params(ConnectionsQuery), responses((status = 200, body = ConnectionOverview), (status = 403, body = crate::openapi::ErrorBody, description = "forbidden"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_status, unknown_provider")))]
pub(crate) async fn all_connections(
    State(state): State<Arc<AppState>>,
    _admin: AdminUser,
    Query(query): Query<ConnectionsQuery>,
) -> Result<Json<ConnectionOverview>> {
    if let Some(status) = query.status.as_deref()
        && status != connections::CONNECTED
        && status != connections::RECONNECT_NEEDED
    {
        return Err(Error::invalid(
            "invalid_status",
            "status",
            "status must be connected or reconnect_needed",
        ));
    }
    if let Some(provider) = query.provider.as_deref()
        && !crate::domain::Provider::ALL
            .iter()
            .any(|p| p.as_str() == provider)
    {
        return Err(Error::invalid(
            "unknown_provider",
            "provider",
            "provider must be outlook or zoho",
        ));
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let offset = query.offset.unwrap_or(0).max(0);
    let rows = connections::list_all(
        &state.pool,
        query.status.as_deref(),
        query.provider.as_deref(),
        limit,
        offset,
    )
    .await?;
    let summary = connections::count_by_status(&state.pool)
        .await?
        .into_iter()
        .map(|(provider, status, count)| ConnectionCount {
            provider,
            status,
            count,
        })
        .collect();
    let connections = rows
        .into_iter()
        .map(|r| ConnectionHealth {
            user_id: r.user_id,
            email: r.email,
            provider: r.provider,
            status: r.status,
            reason: r.status_reason,
            data_centre: r.data_centre,
            tenant: r.tenant,
            api_domain: r.api_domain,
            connected_at: r.connected_at,
            updated_at: r.updated_at,
            last_refresh_at: r.last_refresh_at,
            access_token_expires_at: r.access_token_expires_at,
        })
        .collect();
    Ok(Json(ConnectionOverview {
        summary,
        connections,
        limit,
        offset,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    user_id: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("access_token" = [])), params(AuditQuery), responses((status = 200, description = "events, newest first")))]
pub(crate) async fn audit_log(
    State(state): State<Arc<AppState>>,
    _admin: AdminUser,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>> {
    let user_id = query.user_id.as_deref().map(parse_user_id).transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let events = audit::list(&state.pool, user_id, limit).await?;
    Ok(Json(json!({"events": events})))
}

/// A one-time link for the user to set a new password (the token is shown once; the page makes
/// the link). A newer link replaces the user's unused one.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/password-reset", tag = "admin", security(("access_token" = [])), params(("user_id" = String, Path)), responses((status = 403, body = crate::openapi::ErrorBody, description = "forbidden: not an administrator; app_password_not_allowed: the session was opened with an app password"), (status = 201, description = "token (shown once), expires_at"), (status = 404, body = crate::openapi::ErrorBody, description = "user_not_found")))]
pub(crate) async fn create_password_reset(
    State(state): State<Arc<AppState>>,
    AdminOwner(admin): AdminOwner,
    Path(user_id): Path<String>,
) -> Result<(StatusCode, Json<Value>)> {
    use secrecy::ExposeSecret;
    let user_id = parse_user_id(&user_id)?;
    let (token, expires_at) =
        crate::auth::password_reset::create(&state, admin.user_id, user_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token.expose_secret(), "expires_at": expires_at})),
    ))
}
