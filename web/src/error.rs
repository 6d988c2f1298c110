//! The crate's one error type. Errors of the services behind the page are passed through
//! unchanged (status and body); these are `web`'s own, in the same `{"code", "message"}` shape.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sign in first")]
    Unauthenticated,
    /// No session cookie, or one the auth-service no longer accepts.
    #[error("there is no session in this browser; sign in")]
    NoSession,
    #[error("requests to this endpoint must come from the page itself")]
    CrossOrigin,
    /// A body or path that does not parse (the shared extractors' answer).
    #[error(transparent)]
    BadInput(#[from] service_kit::extract::BadInput),
    #[error("not found")]
    NotFound,
    /// A service behind the page did not answer.
    #[error("{0} is unavailable; try again in a moment")]
    Unavailable(&'static str),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::NoSession => "invalid_session",
            Error::CrossOrigin => "cross_origin",
            Error::BadInput(input) => input.code(),
            Error::NotFound => "not_found",
            Error::Unavailable(_) => "upstream_unavailable",
            Error::Unexpected(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated | Error::NoSession => StatusCode::UNAUTHORIZED,
            Error::CrossOrigin => StatusCode::FORBIDDEN,
            Error::BadInput(input) => input.status(),
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Unavailable(_) => StatusCode::BAD_GATEWAY,
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let message = match &self {
            Error::Unexpected(err) => {
                tracing::error!(error = %format!("{err:#}"), "request failed");
                "internal error".to_owned()
            }
            Error::Unavailable(service) => {
                tracing::warn!(service, "upstream unavailable");
                self.to_string()
            }
            other => other.to_string(),
        };
        let body = match &self {
            Error::BadInput(input) => input.body(),
            _ => json!({"code": self.code(), "message": message}),
        };
        let mut response = (self.status(), Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
