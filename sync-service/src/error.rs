//! The one error type of the HTTP API and its mapping to responses: domain errors become 4xx with
//! a stable `code`; anything else is logged with its cause and answered as an opaque 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::settings::InvalidSetting;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required")]
    Unauthenticated,
    #[error(
        "not allowed for this caller: it needs an administrator, or a service credential with this scope"
    )]
    Forbidden,
    /// An administrator's action asked by a session opened with an app password.
    #[error(
        "app passwords are for API clients and scripts: sign in with your password (and \
         second factor) for administrators' actions"
    )]
    AppPasswordNotAllowed,
    #[error("auth-service cannot confirm the session; try again in a moment")]
    AuthUnavailable,
    /// The request does not fit the current state: a stable code and its explanation.
    #[error("{1}")]
    Conflict(&'static str, &'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid setting: {0}")]
    InvalidSetting(#[from] InvalidSetting),
    /// A body, path or query that does not parse as the operation takes (the shared
    /// extractors' answer, also for values a handler checks itself).
    #[error(transparent)]
    BadInput(#[from] service_kit::extract::BadInput),
    #[error("{0} must not contain a NUL character")]
    NulCharacter(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Internal(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                json!({"code": "unauthenticated", "message": self.to_string()}),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                json!({"code": "forbidden", "message": self.to_string()}),
            ),
            ApiError::AppPasswordNotAllowed => (
                StatusCode::FORBIDDEN,
                json!({"code": "app_password_not_allowed", "message": self.to_string()}),
            ),
            ApiError::AuthUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"code": "auth_unavailable", "message": self.to_string()}),
            ),
            ApiError::Conflict(code, message) => (
                StatusCode::CONFLICT,
                json!({"code": code, "message": message}),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                json!({"code": "not_found", "message": format!("{what} not found")}),
            ),
            ApiError::InvalidSetting(invalid) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"code": "invalid_setting", "field": invalid.field, "message": invalid.reason}),
            ),
            ApiError::NulCharacter(field) => (
                StatusCode::BAD_REQUEST,
                json!({"code": "nul_character", "field": field, "message": self.to_string()}),
            ),
            ApiError::BadInput(input) => (input.status(), input.body()),
            ApiError::Internal(err) => {
                tracing::error!(error = %format!("{err:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"code": "internal", "message": "internal error"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
