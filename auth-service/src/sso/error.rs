//! Why an OpenID Connect sign-in was refused, each with a stable code (mapped to HTTP in
//! [`crate::error`]). Messages name the rule, never a token or a claim's value.

use axum::http::StatusCode;
use openidconnect::{ClaimsVerificationError, SignatureVerificationError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoFailure {
    #[error("no sign-in provider with this name is configured")]
    UnknownProvider,
    #[error(
        "the sign-in attempt is unknown, expired, already used or from another browser; start again"
    )]
    InvalidState,
    #[error("the provider did not sign you in")]
    ProviderDenied,
    #[error("the provider refused the authorization code; start again")]
    CodeRefused,
    #[error("the provider's ID token is malformed or incomplete")]
    InvalidIdToken,
    #[error("the ID token's signature does not verify with the provider's published keys")]
    SignatureInvalid,
    #[error("the ID token comes from another issuer than the configured provider")]
    IssuerMismatch,
    #[error("the ID token was issued to another client (audience)")]
    AudienceMismatch,
    #[error("the ID token's nonce does not match this sign-in attempt")]
    NonceMismatch,
    #[error("the ID token has expired")]
    Expired,
    #[error("the provider does not vouch for this e-mail address (unverified or missing)")]
    EmailNotVerified,
    #[error(
        "no account has this e-mail address, and new accounts are not open to its domain: ask an administrator"
    )]
    SignUpNotAllowed,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error(
        "an account with this e-mail address exists: confirm with its password to link this sign-in to it"
    )]
    LinkConfirmationRequired,
    #[error("this identity is already linked to another account")]
    IdentityTaken,
    #[error("the sign-in ticket is unknown, expired or already used; sign in again")]
    InvalidTicket,
    #[error(
        "password sign-in is turned off for this organisation: sign in with your identity provider (or an app password for scripts)"
    )]
    PasswordSignInDisabled,
    #[error(
        "this is the account's only way to sign in: set a password or link another identity first"
    )]
    LastSignInMethod,
    #[error("no such linked identity")]
    IdentityNotFound,
    #[error("the identity provider is unavailable")]
    ProviderUnavailable,
    #[error("the identity provider is misconfigured: {0}")]
    ProviderMisconfigured(&'static str),
}

impl SsoFailure {
    pub fn code(&self) -> &'static str {
        match self {
            SsoFailure::UnknownProvider => "unknown_identity_provider",
            SsoFailure::InvalidState => "invalid_state",
            SsoFailure::ProviderDenied => "provider_denied",
            SsoFailure::CodeRefused => "invalid_authorization_code",
            SsoFailure::InvalidIdToken => "invalid_id_token",
            SsoFailure::SignatureInvalid => "invalid_id_token_signature",
            SsoFailure::IssuerMismatch => "issuer_mismatch",
            SsoFailure::AudienceMismatch => "audience_mismatch",
            SsoFailure::NonceMismatch => "nonce_mismatch",
            SsoFailure::Expired => "id_token_expired",
            SsoFailure::EmailNotVerified => "email_not_verified",
            SsoFailure::SignUpNotAllowed => "sign_up_not_allowed",
            SsoFailure::AccountDisabled => "account_disabled",
            SsoFailure::LinkConfirmationRequired => "link_confirmation_required",
            SsoFailure::IdentityTaken => "identity_linked_elsewhere",
            SsoFailure::InvalidTicket => "invalid_sso_ticket",
            SsoFailure::PasswordSignInDisabled => "password_sign_in_disabled",
            SsoFailure::LastSignInMethod => "last_sign_in_method",
            SsoFailure::IdentityNotFound => "identity_not_found",
            SsoFailure::ProviderUnavailable => "provider_unavailable",
            SsoFailure::ProviderMisconfigured(_) => "provider_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            SsoFailure::UnknownProvider | SsoFailure::IdentityNotFound => StatusCode::NOT_FOUND,
            SsoFailure::InvalidState => StatusCode::BAD_REQUEST,
            SsoFailure::ProviderDenied
            | SsoFailure::CodeRefused
            | SsoFailure::InvalidIdToken
            | SsoFailure::SignatureInvalid
            | SsoFailure::IssuerMismatch
            | SsoFailure::AudienceMismatch
            | SsoFailure::NonceMismatch
            | SsoFailure::Expired
            | SsoFailure::InvalidTicket => StatusCode::UNAUTHORIZED,
            SsoFailure::EmailNotVerified
            | SsoFailure::SignUpNotAllowed
            | SsoFailure::AccountDisabled
            | SsoFailure::PasswordSignInDisabled => StatusCode::FORBIDDEN,
            SsoFailure::LinkConfirmationRequired
            | SsoFailure::IdentityTaken
            | SsoFailure::LastSignInMethod => StatusCode::CONFLICT,
            SsoFailure::ProviderUnavailable | SsoFailure::ProviderMisconfigured(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }

    /// A failure that counts against the sign-in throttle (someone presenting bad proof).
    pub fn is_failed_proof(&self) -> bool {
        self.status() == StatusCode::UNAUTHORIZED || *self == SsoFailure::InvalidState
    }
}

impl From<ClaimsVerificationError> for SsoFailure {
    fn from(err: ClaimsVerificationError) -> Self {
        match err {
            ClaimsVerificationError::Expired(_) => SsoFailure::Expired,
            ClaimsVerificationError::InvalidAudience(_) => SsoFailure::AudienceMismatch,
            ClaimsVerificationError::InvalidIssuer(_) => SsoFailure::IssuerMismatch,
            ClaimsVerificationError::InvalidNonce(_) => SsoFailure::NonceMismatch,
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
                | SignatureVerificationError::CryptoError(_)
                | SignatureVerificationError::InvalidKey(_)
                | SignatureVerificationError::AmbiguousKeyId(_),
            ) => SsoFailure::SignatureInvalid,
            _ => SsoFailure::InvalidIdToken,
        }
    }
}
