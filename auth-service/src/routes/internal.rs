//! The internal API (`/internal/v1/...`), for the other services and for provisioning. Every
//! route needs `Authorization: Bearer <credential>` of a known caller with the route's scope:
//! provisioning (users, connections) is the operator's; reading connection statuses is also
//! `web`'s (the status page); a user's provider access token is the connector of that
//! provider's, and no one else's (decisions #57).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use service_kit::auth::{Caller, Scope};

use super::extract::{Json, Path};
use crate::auth::accounts::{self, NewAccount};
use crate::domain::{MicrosoftTenant, Provider, UserId, ZohoDataCentre};
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::{connections, users};
use crate::tokens;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/internal/v1/users", post(create_user))
        .route(
            "/internal/v1/users/{user_id}/connections",
            get(list_connections),
        )
        .route(
            "/internal/v1/users/{user_id}/connections/{provider}",
            put(store_connection),
        )
        .route(PROVIDER_TOKENS, post(provider_token))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            identify_caller,
        ))
        .with_state(state)
}

/// Knows the caller by its credential (401 otherwise) and refuses a caller without the route's
/// scope (403) before the body is even read; the provider-token handler then checks the
/// provider's own scope.
async fn identify_caller(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response> {
    let caller = state
        .callers
        .identify(request.headers())
        .ok_or(Error::Unauthenticated)?;
    let reads_statuses = request.method() == axum::http::Method::GET
        && request.uri().path().ends_with("/connections");
    if reads_statuses {
        require(caller, Scope::Status)?;
    } else if request.uri().path() == PROVIDER_TOKENS {
        if !(caller.may(Scope::OutlookTokens) || caller.may(Scope::ZohoTokens)) {
            require(caller, Scope::OutlookTokens)?;
        }
    } else {
        require(caller, Scope::Provision)?;
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

const PROVIDER_TOKENS: &str = "/internal/v1/provider-tokens";

fn require(caller: Caller, scope: Scope) -> Result<()> {
    if caller.may(scope) {
        Ok(())
    } else {
        tracing::warn!(
            caller = caller.name(),
            ?scope,
            "a service credential was used outside its scope"
        );
        Err(Error::Forbidden)
    }
}

fn parse_user_id(raw: &str) -> Result<UserId> {
    raw.parse()
        .map_err(|_| Error::invalid("invalid_user_id", "user_id", "user_id must be a UUID"))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewUser {
    #[serde(default)]
    email: String,
    display_name: Option<String>,
    /// Optional: lets the user sign in with a password.
    #[schema(value_type = Option<String>)]
    password: Option<SecretString>,
    #[serde(default)]
    is_admin: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Created {
    user_id: UserId,
}

/// Provisions a user (demo, tests and automation; the admin API does the same for people).
#[utoipa::path(post, path = "/internal/v1/users", tag = "internal", security(("service_token" = [])), request_body = NewUser, responses((status = 201, body = Created), (status = 401, body = crate::openapi::ErrorBody, description = "unauthenticated"), (status = 403, body = crate::openapi::ErrorBody, description = "forbidden: not the operator's credential"), (status = 409, body = crate::openapi::ErrorBody, description = "email_taken"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_email, weak_password, invalid_body")))]
pub(crate) async fn create_user(
    State(state): State<Arc<AppState>>,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, Json<Created>)> {
    let account = NewAccount {
        email: body.email,
        display_name: body.display_name,
        password: body.password,
        is_admin: body.is_admin,
    };
    let user_id = accounts::create_user(&state, account, "internal_api").await?;
    Ok((StatusCode::CREATED, Json(Created { user_id })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewConnection {
    #[schema(value_type = String)]
    refresh_token: Option<SecretString>,
    data_centre: Option<String>,
    tenant: Option<String>,
}

/// Stores a provider grant (a refresh token obtained elsewhere), sealed.
#[utoipa::path(put, path = "/internal/v1/users/{user_id}/connections/{provider}", tag = "internal", security(("service_token" = [])), params(("user_id" = String, Path), ("provider" = String, Path, description = "outlook or zoho")), request_body = NewConnection, responses((status = 200, description = "{\"status\":\"connected\"}"), (status = 404, body = crate::openapi::ErrorBody, description = "user_not_found, unknown_provider"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_refresh_token, invalid_data_centre, invalid_tenant, invalid_user_id")))]
pub(crate) async fn store_connection(
    State(state): State<Arc<AppState>>,
    Path((user_id, provider)): Path<(String, String)>,
    Json(body): Json<NewConnection>,
) -> Result<Json<serde_json::Value>> {
    let user_id = parse_user_id(&user_id)?;
    let provider = Provider::parse(&provider).ok_or(Error::UnknownProvider(provider))?;
    let refresh_token = body
        .refresh_token
        .filter(|t| !t.expose_secret().trim().is_empty() && t.expose_secret().len() <= 16 * 1024)
        .ok_or_else(|| {
            Error::invalid(
                "invalid_refresh_token",
                "refresh_token",
                "refresh_token must be a non-empty string",
            )
        })?;
    // Each provider keeps only its own locator; the other field is ignored.
    let (data_centre, tenant) = match provider {
        Provider::Zoho => {
            let dc = match body.data_centre.as_deref() {
                None => ZohoDataCentre::default(),
                Some(raw) => ZohoDataCentre::parse(raw).ok_or_else(|| {
                    Error::invalid(
                        "invalid_data_centre",
                        "data_centre",
                        "data_centre must be one of com, eu, in, com.au, jp, ca, sa, com.cn",
                    )
                })?,
            };
            (Some(dc.code().to_owned()), None)
        }
        Provider::Outlook => {
            let tenant = match body.tenant.as_deref() {
                None => MicrosoftTenant::default(),
                Some(raw) => MicrosoftTenant::parse(raw).ok_or_else(|| {
                    Error::invalid(
                        "invalid_tenant",
                        "tenant",
                        "tenant must be common, organizations, consumers, a tenant id or a domain",
                    )
                })?,
            };
            (None, Some(tenant.as_str().to_owned()))
        }
    };

    let sealed = state.vault.seal(
        &refresh_token,
        &connections::seal_context(user_id, provider, "refresh_token"),
    )?;
    let mut tx = state.pool.begin().await?;
    if !users::exists(&mut *tx, user_id).await? {
        return Err(Error::UserNotFound);
    }
    connections::upsert(
        &mut *tx,
        user_id,
        provider,
        data_centre.as_deref(),
        tenant.as_deref(),
        &sealed,
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::ConnectionStored,
        Some(provider),
        json!({"data_centre": data_centre, "tenant": tenant, "key_id": sealed.key_id}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%user_id, %provider, "provider connection stored");
    Ok(Json(json!({"status": "connected"})))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectionStatus {
    provider: Provider,
    /// `connected`, `reconnect_needed` or `not_connected`.
    status: &'static str,
    reason: Option<String>,
    data_centre: Option<String>,
    tenant: Option<String>,
    api_domain: Option<String>,
    connected_at: Option<DateTime<Utc>>,
    last_refresh_at: Option<DateTime<Utc>>,
}

/// Every provider's connection state for one user, not connected ones included.
#[utoipa::path(get, path = "/internal/v1/users/{user_id}/connections", tag = "internal", security(("service_token" = [])), params(("user_id" = String, Path)), responses((status = 200, body = ConnectionStatuses), (status = 404, body = crate::openapi::ErrorBody, description = "user_not_found")))]
pub(crate) async fn list_connections(
    State(state): State<Arc<AppState>>,
    Path(user_id): Path<String>,
) -> Result<Json<ConnectionStatuses>> {
    let user_id = parse_user_id(&user_id)?;
    Ok(Json(connection_statuses(&state, user_id).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectionStatuses {
    user_id: UserId,
    connections: Vec<ConnectionStatus>,
}

/// Every provider's connection state for one user (`not_connected` included).
pub(crate) async fn connection_statuses(
    state: &AppState,
    user_id: UserId,
) -> Result<ConnectionStatuses> {
    if !users::exists(&state.pool, user_id).await? {
        return Err(Error::UserNotFound);
    }
    let rows = connections::list(&state.pool, user_id).await?;
    let statuses: Vec<ConnectionStatus> = Provider::ALL
        .into_iter()
        .map(
            |provider| match rows.iter().find(|r| r.provider == provider.as_str()) {
                None => ConnectionStatus {
                    provider,
                    status: "not_connected",
                    reason: None,
                    data_centre: None,
                    tenant: None,
                    api_domain: None,
                    connected_at: None,
                    last_refresh_at: None,
                },
                Some(row) => ConnectionStatus {
                    provider,
                    status: if row.status == connections::RECONNECT_NEEDED {
                        "reconnect_needed"
                    } else {
                        "connected"
                    },
                    reason: row.status_reason.clone(),
                    data_centre: row.data_centre.clone(),
                    tenant: row.tenant.clone(),
                    api_domain: row.api_domain.clone(),
                    connected_at: Some(row.connected_at),
                    last_refresh_at: row.last_refresh_at,
                },
            },
        )
        .collect();
    Ok(ConnectionStatuses {
        user_id,
        connections: statuses,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct TokenRequest {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    provider: String,
    /// The provider refused the last token (a 401): refresh even if it has not expired.
    #[serde(default)]
    force_refresh: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenResponse {
    access_token: String,
    expires_at: DateTime<Utc>,
    api_domain: Option<String>,
}

/// A usable access token for a user's provider account, refreshed when needed.
#[utoipa::path(post, path = "/internal/v1/provider-tokens", tag = "internal", security(("service_token" = [])), request_body = TokenRequest, responses((status = 200, body = TokenResponse), (status = 401, body = crate::openapi::ErrorBody, description = "unauthenticated"), (status = 403, body = crate::openapi::ErrorBody, description = "forbidden: the credential is not this provider's connector"), (status = 404, body = crate::openapi::ErrorBody, description = "not_connected"), (status = 409, body = crate::openapi::ErrorBody, description = "reconnect_needed"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_user_id, unknown_provider"), (status = 502, body = crate::openapi::ErrorBody, description = "provider_unavailable, provider_error")))]
pub(crate) async fn provider_token(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<TokenRequest>,
) -> Result<Json<TokenResponse>> {
    let user_id = parse_user_id(&body.user_id)?;
    let provider = Provider::parse(&body.provider).ok_or_else(|| {
        Error::invalid(
            "unknown_provider",
            "provider",
            "provider must be `outlook` or `zoho`",
        )
    })?;
    require(
        caller,
        match provider {
            Provider::Outlook => Scope::OutlookTokens,
            Provider::Zoho => Scope::ZohoTokens,
        },
    )?;
    let token = tokens::provider_token(&state, user_id, provider, body.force_refresh).await?;
    Ok(Json(TokenResponse {
        // Leaves the vault only here, in the answer to an authenticated service.
        access_token: token.access_token.expose_secret().to_owned(),
        expires_at: token.expires_at,
        api_domain: token.api_domain,
    }))
}
