//! OpenID Connect sign-in over HTTP (`/v1/sso/...`), the user's linked identities
//! (`/v1/me/identities`) and the organisation's sign-in policy (`/v1/admin/sign-in-policy`).
//! A finished flow yields a one-time ticket that `POST /v1/sessions` turns into a session.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::extract::{
    AdminOwner, AdminUser, AuthUser, ClientAddress, Json, OwnerUser, Path, Query,
};
use crate::error::{Error, Result};
use crate::sso::flow::{self, Callback, Finished, cookie_name};
use crate::sso::store::{self, IdentityRow};
use crate::startup::AppState;
use crate::store::audit::{self, Event};

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/sso/providers", get(providers))
        .route("/v1/sso/{provider}/authorize", get(authorize))
        .route("/v1/sso/{provider}/callback", get(callback))
        .route("/v1/me/identities", get(identities))
        .route("/v1/me/identities/{id}", delete(unlink))
        .route("/v1/admin/sign-in-policy", get(get_policy).put(put_policy))
        .with_state(state)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProviderView {
    id: String,
    name: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SignInOptions {
    providers: Vec<ProviderView>,
    /// Password sign-in is on for the organisation (administrators keep it either way).
    password_sign_in: bool,
}

/// Public: what the sign-in screen offers.
#[utoipa::path(get, path = "/v1/sso/providers", tag = "sso", responses((status = 200, body = SignInOptions)))]
pub(crate) async fn providers(State(state): State<Arc<AppState>>) -> Result<Json<SignInOptions>> {
    Ok(Json(SignInOptions {
        providers: state
            .sso
            .all()
            .map(|p| ProviderView {
                id: p.id.clone(),
                name: p.display_name.clone(),
            })
            .collect(),
        password_sign_in: store::password_sign_in(&state.pool).await?,
    }))
}

fn cookie_path(provider: &str) -> String {
    format!("/v1/sso/{provider}")
}

/// Public: sends the browser to the provider, with the flow's cookie (`SameSite=Lax`: it
/// comes back on the provider's top-level redirect).
#[utoipa::path(get, path = "/v1/sso/{provider}/authorize", tag = "sso", params(("provider" = String, Path)), responses((status = 303, description = "to the provider; sets the flow cookie"), (status = 404, body = crate::openapi::ErrorBody, description = "unknown_identity_provider"), (status = 502, body = crate::openapi::ErrorBody, description = "provider_unavailable, provider_error")))]
pub(crate) async fn authorize(
    State(state): State<Arc<AppState>>,
    Path(provider): Path<String>,
) -> Result<Response> {
    let started = match flow::start(&state, &provider).await {
        Ok(started) => started,
        // A browser that clicked a button gets the page back with the reason, not JSON.
        Err(err) if state.sign_in_redirect_url.is_some() => {
            return back_to_page(&state, &provider, Err(&err), None);
        }
        Err(err) => return Err(err),
    };
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={}; Path={}; Max-Age=600; HttpOnly; SameSite=Lax{secure}",
        cookie_name(&provider),
        started.browser_cookie.expose_secret(),
        cookie_path(&provider),
    );
    Ok((
        StatusCode::SEE_OTHER,
        [
            (
                header::LOCATION,
                HeaderValue::from_str(&started.authorization_url)
                    .map_err(|e| Error::Unexpected(e.into()))?,
            ),
            (
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).map_err(|e| Error::Unexpected(e.into()))?,
            ),
        ],
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

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TicketView {
    /// One use, ten minutes: `POST /v1/sessions` with `{"sso_ticket"}`.
    sso_ticket: String,
    /// The account exists: the ticket needs the account's `password` too.
    link_required: bool,
}

/// Public: the provider's redirect. With `AUTH_SIGN_IN_REDIRECT_URL` set, 303 to it with the
/// outcome in the fragment (`#/sso?ticket=...&link=0|1` or `#/sso?error=<code>`: a fragment never
/// reaches a server log); else JSON.
#[utoipa::path(get, path = "/v1/sso/{provider}/callback", tag = "sso", params(("provider" = String, Path), ("code" = Option<String>, Query), ("state" = Option<String>, Query), ("error" = Option<String>, Query)), responses((status = 200, body = TicketView), (status = 303, description = "to AUTH_SIGN_IN_REDIRECT_URL with the ticket or the error code"), (status = 400, body = crate::openapi::ErrorBody, description = "invalid_state"), (status = 401, body = crate::openapi::ErrorBody, description = "provider_denied, invalid_authorization_code, invalid_id_token, invalid_id_token_signature, issuer_mismatch, audience_mismatch, nonce_mismatch, id_token_expired"), (status = 403, body = crate::openapi::ErrorBody, description = "email_not_verified, sign_up_not_allowed, account_disabled"), (status = 429, body = crate::openapi::ErrorBody, description = "too_many_attempts")))]
pub(crate) async fn callback(
    State(state): State<Arc<AppState>>,
    Path(provider): Path<String>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Result<Response> {
    let outcome = flow::finish(
        &state,
        &provider,
        callback,
        cookie_value(&headers, &cookie_name(&provider)),
        address,
    )
    .await;
    // A provider name no header can carry is no configured provider: `outcome` says so, and
    // there is no cookie of its to clear.
    let clear = HeaderValue::from_str(&format!(
        "{}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax",
        cookie_name(&provider),
        cookie_path(&provider)
    ))
    .ok();
    if state.sign_in_redirect_url.is_none() {
        let mut response = match outcome {
            Ok(Finished {
                ticket,
                link_required,
            }) => axum::Json(TicketView {
                sso_ticket: ticket.expose_secret().to_owned(),
                link_required,
            })
            .into_response(),
            Err(err) => err.into_response(),
        };
        if let Some(clear) = clear {
            response.headers_mut().append(header::SET_COOKIE, clear);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(response);
    }
    back_to_page(&state, &provider, outcome.as_ref(), clear)
}

/// 303 to the sign-in page with the outcome in the fragment.
fn back_to_page(
    state: &AppState,
    provider: &str,
    outcome: std::result::Result<&Finished, &Error>,
    clear_cookie: Option<HeaderValue>,
) -> Result<Response> {
    let target = state
        .sign_in_redirect_url
        .as_deref()
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("no sign-in redirect URL")))?;
    let mut url = url::Url::parse(target).map_err(|e| Error::Unexpected(e.into()))?;
    let fragment = match outcome {
        Ok(finished) => {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("provider", provider)
                .append_pair("ticket", finished.ticket.expose_secret())
                .append_pair("link", if finished.link_required { "1" } else { "0" })
                .finish();
            format!("/sso?{query}")
        }
        Err(err) => {
            if err.status().is_server_error() {
                tracing::warn!(code = err.code(), "single sign-on failed");
            }
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("provider", provider)
                .append_pair("error", err.code())
                .finish();
            format!("/sso?{query}")
        }
    };
    url.set_fragment(Some(&fragment));
    let location = HeaderValue::from_str(url.as_str()).map_err(|e| Error::Unexpected(e.into()))?;
    let mut response = (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response();
    if let Some(clear) = clear_cookie {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Identities {
    identities: Vec<IdentityView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct IdentityView {
    id: Uuid,
    provider: String,
    /// The provider's display name (the id when it is no longer configured).
    provider_name: String,
    email: Option<String>,
    linked_at: chrono::DateTime<chrono::Utc>,
    last_sign_in_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The signed-in user's linked identities.
#[utoipa::path(get, path = "/v1/me/identities", tag = "sso", security(("access_token" = [])), responses((status = 200, body = Identities)))]
pub(crate) async fn identities(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<Identities>> {
    let rows: Vec<IdentityRow> = store::list_identities(&state.pool, user.user_id).await?;
    Ok(Json(Identities {
        identities: rows
            .into_iter()
            .map(|row| IdentityView {
                provider_name: state
                    .sso
                    .get(&row.provider)
                    .map(|p| p.settings.display_name.clone())
                    .unwrap_or_else(|_| row.provider.clone()),
                id: row.id,
                provider: row.provider,
                email: row.email,
                linked_at: row.linked_at,
                last_sign_in_at: row.last_sign_in_at,
            })
            .collect(),
    }))
}

/// Unlinks one: 409 `last_sign_in_method` when the account would have no way to sign in. Not
/// from an app password's session (it changes how the account signs in).
#[utoipa::path(delete, path = "/v1/me/identities/{id}", tag = "sso", security(("access_token" = [])), params(("id" = String, Path)), responses((status = 204), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed"), (status = 404, body = crate::openapi::ErrorBody, description = "identity_not_found"), (status = 409, body = crate::openapi::ErrorBody, description = "last_sign_in_method")))]
pub(crate) async fn unlink(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    flow::unlink(&state, user.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct SignInPolicy {
    /// Off: single sign-on only (app passwords still work for scripts; administrators keep
    /// their password).
    password_sign_in: bool,
}

#[utoipa::path(get, path = "/v1/admin/sign-in-policy", tag = "admin", security(("access_token" = [])), responses((status = 200, body = SignInPolicy), (status = 403, body = crate::openapi::ErrorBody, description = "forbidden")))]
pub(crate) async fn get_policy(
    State(state): State<Arc<AppState>>,
    _admin: AdminUser,
) -> Result<Json<SignInPolicy>> {
    Ok(Json(SignInPolicy {
        password_sign_in: store::password_sign_in(&state.pool).await?,
    }))
}

#[utoipa::path(put, path = "/v1/admin/sign-in-policy", tag = "admin", security(("access_token" = [])), request_body = SignInPolicy, responses((status = 403, body = crate::openapi::ErrorBody, description = "forbidden: not an administrator; app_password_not_allowed: the session was opened with an app password"), (status = 200, body = SignInPolicy)))]
pub(crate) async fn put_policy(
    State(state): State<Arc<AppState>>,
    admin: AdminOwner,
    Json(policy): Json<SignInPolicy>,
) -> Result<Json<SignInPolicy>> {
    let mut tx = state.pool.begin().await?;
    store::set_password_sign_in(&mut *tx, policy.password_sign_in, admin.0.user_id).await?;
    audit::record(
        &mut *tx,
        Some(admin.0.user_id),
        Event::SignInPolicyChanged,
        None,
        json!({"password_sign_in": policy.password_sign_in}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(policy))
}
