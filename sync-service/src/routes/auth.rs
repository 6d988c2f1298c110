//! Who is calling: a user (bearer access token), an admin, or another service.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use sync_model::UserId;

use super::AppState;
use crate::error::ApiError;

/// A signed-in user.
pub struct CurrentUser(pub UserId);

/// A signed-in administrator acting: releasing or discarding held deletions, replaying dead
/// letters, resyncing, rebuilding links, unblocking a user. Refused to a session opened with an
/// app password (403 `app_password_not_allowed`): a leaked script credential must not be able
/// to delete or rewrite other users' data (decisions #67).
pub struct AdminUser(pub UserId);

/// A signed-in administrator reading (link health, held deletions, dead letters, blocked
/// users): a monitoring script's app-password session may.
pub struct AdminReader;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The token's user, verified here and confirmed with auth-service (a signed-out, revoked or
/// disabled session is refused at once; `admin` is the role now).
async fn caller(parts: &Parts, state: &AppState) -> Result<auth_client::Caller, ApiError> {
    let token = bearer(&parts.headers).ok_or(ApiError::Unauthenticated)?;
    state.verifier.verify(token).await.map_err(|err| {
        if err.is_unavailable() {
            tracing::warn!(error = %err, "cannot confirm an access token with auth-service");
            ApiError::AuthUnavailable
        } else {
            tracing::debug!(error = %err, "access token refused");
            ApiError::Unauthenticated
        }
    })
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(CurrentUser(caller(parts, state).await?.user_id))
    }
}

impl FromRequestParts<AppState> for AdminReader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller(parts, state).await?;
        if !caller.admin {
            return Err(ApiError::Forbidden);
        }
        Ok(AdminReader)
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller(parts, state).await?;
        if !caller.admin {
            return Err(ApiError::Forbidden);
        }
        if caller.by_app_password() {
            return Err(ApiError::AppPasswordNotAllowed);
        }
        Ok(AdminUser(caller.user_id))
    }
}

/// The internal API: a known caller's credential (401) with `scope` (403).
pub fn require_service(
    headers: &HeaderMap,
    state: &AppState,
    scope: service_kit::auth::Scope,
) -> Result<(), ApiError> {
    match state.callers.authorise(headers, scope) {
        Ok(_) => Ok(()),
        Err(service_kit::auth::Refusal::Unauthenticated) => Err(ApiError::Unauthenticated),
        Err(service_kit::auth::Refusal::OutOfScope) => Err(ApiError::Forbidden),
    }
}
