//! Refresh sessions. Only hashes of refresh-token secrets are stored.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::UserId;
use crate::error::Result;

#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: UserId,
    pub secret_hash: Vec<u8>,
    pub long_lived: bool,
    pub amr: Vec<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, secret_hash, long_lived, amr, user_agent, created_at, last_used_at, expires_at, revoked_at";

pub struct NewSession<'a> {
    pub id: Uuid,
    pub user_id: UserId,
    pub secret_hash: &'a [u8],
    pub long_lived: bool,
    pub amr: &'a [String],
    pub user_agent: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
    /// The app password that opened it; revoking that ends the session.
    pub app_password_id: Option<Uuid>,
}

pub async fn insert(db: impl PgExecutor<'_>, s: NewSession<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, secret_hash, long_lived, amr, user_agent, expires_at, \
             app_password_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(s.secret_hash)
    .bind(s.long_lived)
    .bind(s.amr)
    .bind(s.user_agent)
    .bind(s.expires_at)
    .bind(s.app_password_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Locks the session row: two refreshes of one session must not both rotate it.
pub async fn find_for_update(tx: &mut PgConnection, id: Uuid) -> Result<Option<SessionRow>> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await?;
    Ok(row)
}

/// Replaces the session's secret, retiring the old one (kept to recognise its replay).
pub async fn rotate(
    tx: &mut PgConnection,
    id: Uuid,
    new_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO retired_refresh_secrets (session_id, secret_hash) \
         SELECT id, secret_hash FROM sessions WHERE id = $1 ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE sessions SET secret_hash = $2, last_used_at = now(), expires_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(new_hash)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whether `hash` is a secret this session retired: a replayed refresh token.
pub async fn was_retired(db: impl PgExecutor<'_>, id: Uuid, hash: &[u8]) -> Result<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM retired_refresh_secrets WHERE session_id = $1 AND secret_hash = $2",
    )
    .bind(id)
    .bind(hash)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// Revokes one session of a user; false when there is no such active session.
pub async fn revoke(db: impl PgExecutor<'_>, user_id: UserId, id: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes all of a user's sessions except `keep`; returns how many.
pub async fn revoke_all(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    keep: Option<Uuid>,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = now() \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(user_id)
    .bind(keep)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

pub async fn list_active(db: impl PgExecutor<'_>, user_id: UserId) -> Result<Vec<SessionRow>> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// Whether an access token's session still stands, and whether its user is an administrator
/// now (a demotion or a disabled account takes effect at once, not when the token expires).
pub async fn check_active(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    id: Uuid,
) -> Result<Option<bool>> {
    let admin = sqlx::query_scalar(
        "SELECT u.is_admin FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > now() \
           AND u.disabled_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(admin)
}
