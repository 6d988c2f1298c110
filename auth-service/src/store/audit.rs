//! The audit log of security events. Callers pass ids and non-secret details only.

use serde_json::Value;
use sqlx::PgExecutor;

use crate::domain::{Provider, UserId};
use crate::error::Result;

/// The kinds of event, as stored.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    UserCreated,
    ConnectionStored,
    TokenRefreshed,
    TokenRefreshFailed,
    ReconnectNeeded,
    SignedIn,
    SignInFailed,
    PasswordRecheckFailed,
    SignedOut,
    SessionRevoked,
    RefreshTokenReused,
    PasswordChanged,
    AdminBootstrapped,
    UserUpdated,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodesRegenerated,
    RecoveryCodeUsed,
    AppPasswordCreated,
    AppPasswordRevoked,
    ConnectionFailed,
    ConnectionRemoved,
    IdentityLinked,
    IdentityUnlinked,
    SignInPolicyChanged,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::UserCreated => "user_created",
            Event::ConnectionStored => "connection_stored",
            Event::TokenRefreshed => "token_refreshed",
            Event::TokenRefreshFailed => "token_refresh_failed",
            Event::ReconnectNeeded => "reconnect_needed",
            Event::SignedIn => "signed_in",
            Event::SignInFailed => "sign_in_failed",
            Event::PasswordRecheckFailed => "password_recheck_failed",
            Event::SignedOut => "signed_out",
            Event::SessionRevoked => "session_revoked",
            Event::RefreshTokenReused => "refresh_token_reused",
            Event::PasswordChanged => "password_changed",
            Event::AdminBootstrapped => "admin_bootstrapped",
            Event::UserUpdated => "user_updated",
            Event::TotpEnabled => "totp_enabled",
            Event::TotpDisabled => "totp_disabled",
            Event::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Event::RecoveryCodeUsed => "recovery_code_used",
            Event::AppPasswordCreated => "app_password_created",
            Event::AppPasswordRevoked => "app_password_revoked",
            Event::ConnectionFailed => "connection_failed",
            Event::ConnectionRemoved => "connection_removed",
            Event::IdentityLinked => "identity_linked",
            Event::IdentityUnlinked => "identity_unlinked",
            Event::SignInPolicyChanged => "sign_in_policy_changed",
        }
    }
}

pub async fn record(
    db: impl PgExecutor<'_>,
    user_id: Option<UserId>,
    event: Event,
    provider: Option<Provider>,
    detail: Value,
) -> Result<()> {
    sqlx::query("INSERT INTO audit_log (user_id, event, provider, detail) VALUES ($1, $2, $3, $4)")
        .bind(user_id)
        .bind(event.as_str())
        .bind(provider.map(Provider::as_str))
        .bind(detail)
        .execute(db)
        .await?;
    Ok(())
}

/// An audit entry as the admin API shows it.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub user_id: Option<UserId>,
    pub event: String,
    pub provider: Option<String>,
    pub detail: Value,
}

/// The newest entries first, of one user or of all.
pub async fn list(
    db: impl PgExecutor<'_>,
    user_id: Option<UserId>,
    limit: i64,
) -> Result<Vec<Entry>> {
    let rows = sqlx::query_as(
        "SELECT id, occurred_at, user_id, event, provider, detail FROM audit_log \
         WHERE ($1::uuid IS NULL OR user_id = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows)
}
