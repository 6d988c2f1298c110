//! The signed-in user's provider connections (`/v1/connections/...`): status, the OAuth
//! authorization-code flow (authorize, callback) and disconnecting.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::extract::{AuthUser, Json, OwnerUser, Path, Query};
use crate::domain::Provider;
use crate::error::{Error, Result};
use crate::oauth::{self, Callback, Started, cookie_name};
use crate::startup::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/connections", get(list))
        .route(
            "/v1/connections/{provider}",
            axum::routing::delete(disconnect),
        )
        .route(
            "/v1/connections/{provider}/authorize",
            get(authorize_redirect).post(authorize_json),
        )
        .route("/v1/connections/{provider}/callback", get(callback))
        .with_state(state)
}

fn provider(raw: String) -> Result<Provider> {
    Provider::parse(&raw).ok_or(Error::UnknownProvider(raw))
}

#[utoipa::path(get, path = "/v1/connections", tag = "connections", security(("access_token" = [])), responses((status = 200, body = crate::routes::internal::ConnectionStatuses)))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<super::internal::ConnectionStatuses>> {
    Ok(Json(
        super::internal::connection_statuses(&state, user.user_id).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/connections/{provider}", tag = "connections", security(("access_token" = [])), params(("provider" = String, Path)), responses((status = 204), (status = 404, body = crate::openapi::ErrorBody, description = "not_connected, unknown_provider"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn disconnect(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    oauth::disconnect(&state, user.user_id, provider(raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuthorizeOptions {
    /// Zoho: the data centre to sign in at (default com).
    data_centre: Option<String>,
    /// Outlook: the tenant (default common).
    tenant: Option<String>,
}

/// The flow's browser cookie: HttpOnly, only sent to the connection routes, gone after the flow's
/// ten minutes. `SameSite=Lax` still sends it on the provider's top-level redirect back to us.
fn browser_cookie(state: &AppState, provider: Provider, started: &Started) -> Result<HeaderValue> {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={}; Path=/v1/connections/{provider}; Max-Age=600; HttpOnly; SameSite=Lax{secure}",
        cookie_name(provider),
        started.browser_cookie.expose_secret()
    );
    HeaderValue::from_str(&cookie).map_err(|e| Error::Unexpected(e.into()))
}

async fn start(
    state: &AppState,
    user: &AuthUser,
    raw: String,
    options: AuthorizeOptions,
) -> Result<(Provider, Started)> {
    let provider = provider(raw)?;
    let started = oauth::start(
        state,
        user.user_id,
        provider,
        options.data_centre.as_deref(),
        options.tenant.as_deref(),
    )
    .await?;
    Ok((provider, started))
}

/// `GET`: sends the browser to the provider's consent page.
#[utoipa::path(get, path = "/v1/connections/{provider}/authorize", tag = "connections", security(("access_token" = [])), params(("provider" = String, Path), AuthorizeOptions), responses((status = 303, description = "to the provider consent page; sets the flow cookie"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_data_centre, invalid_tenant"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn authorize_redirect(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Path(raw): Path<String>,
    Query(options): Query<AuthorizeOptions>,
) -> Result<Response> {
    let (provider, started) = start(&state, &user, raw, options).await?;
    let location = HeaderValue::from_str(&started.authorization_url)
        .map_err(|e| Error::Unexpected(e.into()))?;
    let cookie = browser_cookie(&state, provider, &started)?;
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
    )
        .into_response())
}

/// `POST`: the same for a script or single-page app, which navigates itself.
#[utoipa::path(post, path = "/v1/connections/{provider}/authorize", tag = "connections", security(("access_token" = [])), params(("provider" = String, Path)), request_body(content = Option<AuthorizeOptions>), responses((status = 200, description = "authorization_url; sets the flow cookie"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_data_centre, invalid_tenant"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn authorize_json(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Path(raw): Path<String>,
    service_kit::extract::RawBody(body): service_kit::extract::RawBody,
) -> Result<Response> {
    // The body is optional: no options means the defaults.
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        AuthorizeOptions::default()
    } else {
        let value = serde_json::from_slice(&body)
            .map_err(|e| service_kit::extract::BadInput::Body(e.to_string()))?;
        super::extract::from_json_value(value)?
    };
    let (provider, started) = start(&state, &user, raw, options).await?;
    let cookie = browser_cookie(&state, provider, &started)?;
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(json!({"authorization_url": started.authorization_url})),
    )
        .into_response())
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Where the provider sends the browser back. Answers JSON, or redirects to the configured
/// settings page with `provider` and `status` (`connected`, or `error` with a `code`).
#[utoipa::path(get, path = "/v1/connections/{provider}/callback", tag = "connections", params(("provider" = String, Path), ("code" = Option<String>, Query), ("state" = Option<String>, Query), ("error" = Option<String>, Query), ("location" = Option<String>, Query, description = "Zoho: the account data centre")), responses((status = 200, description = "connected (JSON mode)"), (status = 303, description = "to AUTH_CONNECTED_REDIRECT_URL with provider, status and code"), (status = 409, body = crate::openapi::ErrorBody, description = "authorization_denied, invalid_authorization_code"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_state, missing_code")))]
pub(crate) async fn callback(
    State(state): State<Arc<AppState>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Result<Response> {
    let provider = provider(raw)?;
    let outcome = oauth::finish(
        &state,
        provider,
        callback,
        cookie_value(&headers, &cookie_name(provider)),
    )
    .await;
    // The flow is over either way: drop the cookie.
    let clear = HeaderValue::from_str(&format!(
        "{}=; Path=/v1/connections/{provider}; Max-Age=0; HttpOnly; SameSite=Lax",
        cookie_name(provider)
    ))
    .map_err(|e| Error::Unexpected(e.into()))?;
    let Some(target) = &state.connected_redirect_url else {
        return Ok(match outcome {
            Ok(_) => (
                [(header::SET_COOKIE, clear)],
                axum::Json(json!({"provider": provider, "status": "connected"})),
            )
                .into_response(),
            Err(err) => {
                let mut response = err.into_response();
                response.headers_mut().insert(header::SET_COOKIE, clear);
                response
            }
        });
    };
    let mut url = url::Url::parse(target).map_err(|e| Error::Unexpected(e.into()))?;
    match &outcome {
        Ok(_) => {
            url.query_pairs_mut()
                .append_pair("provider", provider.as_str())
                .append_pair("status", "connected");
        }
        Err(err) => {
            if err.status().is_server_error() {
                tracing::warn!(error = %err, "provider connection failed");
            }
            url.query_pairs_mut()
                .append_pair("provider", provider.as_str())
                .append_pair("status", "error")
                .append_pair("code", err.code());
        }
    }
    let location = HeaderValue::from_str(url.as_str()).map_err(|e| Error::Unexpected(e.into()))?;
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::SET_COOKIE, clear)],
    )
        .into_response())
}
