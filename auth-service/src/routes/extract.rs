//! Extractors: who is calling (a user, the account's owner, an administrator), from where, and
//! the shared input extractors.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::Error;

/// Body, path and query extractors answering bad input with the JSON error body, shared by
/// every service (`service_kit::extract`): 422 `invalid_body` / `invalid_path` /
/// `invalid_query`, 413 `body_too_large`, 400 `nul_character`.
pub use service_kit::extract::{Json, Path, Query, from_json_value};

/// A signed-in user, from `Authorization: Bearer <access token>`. Besides the token's signature
/// and expiry, its session must still be active and the account enabled: signing out or being
/// disabled takes effect here at once.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: crate::domain::UserId,
    pub session_id: uuid::Uuid,
    pub is_admin: bool,
    pub amr: Vec<String>,
}

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(Error::Unauthenticated)?;
        let claims = state
            .jwt
            .verify(&state.pool, &state.vault, token.trim())
            .await?;
        let user_id = crate::domain::UserId(claims.sub);
        let is_admin = crate::store::sessions::check_active(&state.pool, user_id, claims.sid)
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok(AuthUser {
            user_id,
            session_id: claims.sid,
            is_admin,
            amr: claims.amr,
        })
    }
}

impl AuthUser {
    /// Whether this session was opened with an app password.
    pub fn by_app_password(&self) -> bool {
        self.amr
            .iter()
            .any(|m| m == crate::auth::sessions::AMR_APP_PASSWORD)
    }
}

/// A signed-in user whose session was opened with the account's password (and second factor),
/// not with an app password: only such a session may change how the account is secured or
/// connected (password, two-factor sign-in, recovery codes, app passwords, connections).
#[derive(Debug, Clone)]
pub struct OwnerUser(pub AuthUser);

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for OwnerUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.by_app_password() {
            Err(Error::AppPasswordNotAllowed)
        } else {
            Ok(OwnerUser(user))
        }
    }
}

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for AdminUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(AdminUser(user))
        } else {
            Err(Error::Forbidden)
        }
    }
}

/// An administrator signed in as a person, not with an app password: what changes users,
/// sessions and the sign-in policy. An app password leaked from a script must not make
/// administrators or turn off someone's second factor; it may still read (reports).
#[derive(Debug, Clone)]
pub struct AdminOwner(pub AuthUser);

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for AdminOwner {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let AdminUser(user) = AdminUser::from_request_parts(parts, state).await?;
        if user.by_app_password() {
            Err(Error::AppPasswordNotAllowed)
        } else {
            Ok(AdminOwner(user))
        }
    }
}

/// The `User-Agent` header, if any (shown in the session list).
pub fn user_agent(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The client's IP address: the connection's peer, or, when that peer is one of
/// `AUTH_TRUSTED_PROXIES`, the address its `X-Forwarded-For` names (decisions #64). `None` when
/// the peer is unknown.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for ClientAddress {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            state
                .jwt
                .settings()
                .trusted_proxies
                .of_request(&parts.extensions, &parts.headers),
        ))
    }
}
