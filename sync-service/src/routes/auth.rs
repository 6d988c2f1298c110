//! Who is calling: a user (bearer access token), an admin, or another service.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use sync_model::UserId;

use super::AppState;
use crate::error::ApiError;

/// A signed-in user.
pub struct CurrentUser(pub UserId);

/// A signed-in administrator.
pub struct AdminUser(pub UserId);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        let caller = state.verifier.verify(token).await.map_err(|err| {
            tracing::debug!(error = %err, "access token refused");
            ApiError::Unauthenticated
        })?;
        Ok(CurrentUser(caller.user_id))
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        let caller = state
            .verifier
            .verify(token)
            .await
            .map_err(|_| ApiError::Unauthenticated)?;
        if !caller.admin {
            return Err(ApiError::Forbidden);
        }
        Ok(AdminUser(caller.user_id))
    }
}

/// The internal API: the shared service token.
pub fn require_service(headers: &HeaderMap, state: &AppState) -> Result<(), ApiError> {
    if service_kit::auth::has_bearer(headers, &state.service_token) {
        Ok(())
    } else {
        Err(ApiError::Unauthenticated)
    }
}
