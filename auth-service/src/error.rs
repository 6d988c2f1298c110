//! The crate's one error type and its HTTP answer.
//!
//! Policy: every variant a caller can act on is a 4xx (or 502 for the providers) with a stable
//! machine-readable `code` and a human `message`, as `{"code": "...", "message": "..."}` (plus
//! `field` for input errors). Database and unexpected errors are logged with their whole cause
//! chain and answered as an opaque 500: their details help an attacker more than a caller.
//! Messages never contain a secret.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::crypto::VaultError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing or wrong credentials")]
    Unauthenticated,

    /// A request value failed validation.
    #[error("{message}")]
    InvalidInput {
        code: &'static str,
        field: Option<&'static str>,
        message: String,
    },

    /// The body, path or query does not parse as this endpoint takes, or holds a NUL
    /// character (the shared extractors' answer).
    #[error(transparent)]
    BadInput(#[from] service_kit::extract::BadInput),

    #[error("a user with this e-mail address already exists")]
    EmailTaken,

    #[error("no such user")]
    UserNotFound,

    #[error("unknown provider `{0}`; use `outlook` or `zoho`")]
    UnknownProvider(String),

    #[error("the user has not connected this provider")]
    NotConnected,

    /// The provider no longer accepts the stored grant; the user must connect again.
    #[error("the user must reconnect this provider: {reason}")]
    ReconnectNeeded { reason: String },

    /// The provider could not be reached or failed (timeouts, 5xx, rate limits).
    #[error("the provider is unavailable: {0}")]
    ProviderUnavailable(String),

    /// The provider refused us for a reason the user cannot fix (e.g. our client credentials).
    #[error("the provider rejected the request: {0}")]
    ProviderRejected(String),

    /// Wrong e-mail or password (never which of the two).
    #[error("wrong e-mail address or password")]
    InvalidCredentials,

    /// The password was right; the account also needs a TOTP or recovery code.
    #[error("this account has two-factor sign-in: give a TOTP code or a recovery code")]
    SecondFactorRequired,

    /// API sign-in with the main password of an account with two-factor sign-in.
    #[error(
        "this account has two-factor sign-in: API clients sign in with an app password \
         (create one under /v1/me/app-passwords), not the main password"
    )]
    AppPasswordRequired,

    #[error("the two-factor code is wrong or was already used")]
    InvalidSecondFactor,

    #[error("too many failed attempts; try again in {retry_after} seconds")]
    TooManyAttempts { retry_after: u64 },

    /// Every password-hashing slot is taken and the queue is full: come back shortly.
    #[error("the service is busy checking passwords; try again in {retry_after} seconds")]
    Busy { retry_after: u64 },

    /// A session opened with an app password asked for something only the account's owner,
    /// signed in with the main password, may do (or an app password was used to sign in to
    /// the settings page).
    #[error(
        "app passwords are for API clients and scripts: sign in with your password (and \
         second factor) for this"
    )]
    AppPasswordNotAllowed,

    /// A refresh token that is unknown, expired, revoked or replayed.
    #[error("the session is invalid or has ended; sign in again")]
    InvalidSession,

    #[error("this needs an administrator")]
    Forbidden,

    #[error("self sign-up is off on this server: ask an administrator for an account")]
    SelfSignupDisabled,

    #[error("{message}")]
    NotFound {
        code: &'static str,
        message: &'static str,
    },

    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: &'static str,
    },

    /// OpenID Connect sign-in refused (its own codes, [`crate::sso::error`]).
    #[error(transparent)]
    Sso(#[from] crate::sso::error::SsoFailure),

    #[error(transparent)]
    Vault(#[from] VaultError),

    #[error(transparent)]
    Database(#[from] sqlx::Error),

    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            code,
            field: Some(field),
            message: message.into(),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::InvalidInput { code, .. } => code,
            Error::BadInput(input) => input.code(),
            Error::EmailTaken => "email_taken",
            Error::UserNotFound => "user_not_found",
            Error::UnknownProvider(_) => "unknown_provider",
            Error::NotConnected => "not_connected",
            Error::ReconnectNeeded { .. } => "reconnect_needed",
            Error::ProviderUnavailable(_) => "provider_unavailable",
            Error::ProviderRejected(_) => "provider_error",
            Error::InvalidCredentials => "invalid_credentials",
            Error::SecondFactorRequired => "second_factor_required",
            Error::AppPasswordRequired => "app_password_required",
            Error::InvalidSecondFactor => "invalid_second_factor",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::Busy { .. } => "busy",
            Error::AppPasswordNotAllowed => "app_password_not_allowed",
            Error::InvalidSession => "invalid_session",
            Error::Forbidden => "forbidden",
            Error::SelfSignupDisabled => "self_signup_disabled",
            Error::NotFound { code, .. } | Error::Conflict { code, .. } => code,
            Error::Sso(failure) => failure.code(),
            Error::Vault(_) | Error::Database(_) | Error::Unexpected(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated
            | Error::InvalidCredentials
            | Error::SecondFactorRequired
            | Error::AppPasswordRequired
            | Error::InvalidSecondFactor
            | Error::InvalidSession => StatusCode::UNAUTHORIZED,
            Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Forbidden | Error::SelfSignupDisabled | Error::AppPasswordNotAllowed => {
                StatusCode::FORBIDDEN
            }
            Error::Sso(failure) => failure.status(),
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::BadInput(input) => input.status(),
            Error::InvalidInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::EmailTaken | Error::ReconnectNeeded { .. } => StatusCode::CONFLICT,
            Error::UserNotFound | Error::UnknownProvider(_) | Error::NotConnected => {
                StatusCode::NOT_FOUND
            }
            Error::ProviderUnavailable(_) | Error::ProviderRejected(_) => StatusCode::BAD_GATEWAY,
            Error::Vault(_) | Error::Database(_) | Error::Unexpected(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Error::Vault(_) | Error::Database(_) | Error::Unexpected(_) => {
                tracing::error!(error = ?anyhow_chain(&self), "request failed");
                json!({"code": "internal", "message": "an internal error occurred"})
            }
            Error::InvalidInput {
                code,
                field,
                message,
            } => {
                json!({"code": code, "message": message, "field": field})
            }
            Error::BadInput(input) => input.body(),
            other => {
                if status.is_server_error() && !matches!(other, Error::Busy { .. }) {
                    tracing::warn!(code = other.code(), error = %other, "provider call failed");
                }
                json!({"code": other.code(), "message": other.to_string()})
            }
        };
        let retry_after = match &self {
            Error::TooManyAttempts { retry_after } | Error::Busy { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The error and its sources, outermost first, for the log.
fn anyhow_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
