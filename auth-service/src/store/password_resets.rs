//! One-time password reset links (their tokens' hashes).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::domain::UserId;
use crate::error::Result;

/// Stores a new link for `user_id`; the user's unused older links stop working.
pub async fn replace(
    tx: &mut sqlx::PgConnection,
    user_id: UserId,
    token_hash: &[u8],
    created_by: UserId,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO password_resets (token_hash, user_id, created_by, expires_at)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(created_by)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Whether the link is valid now (unused, unexpired), without using it.
pub async fn is_valid(db: impl PgExecutor<'_>, token_hash: &[u8]) -> Result<bool> {
    let row: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM password_resets
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.is_some())
}

/// Uses the link: its user when it is valid (unused, unexpired), marked used in the same
/// statement, so a link works once even when two requests race.
pub async fn redeem(db: impl PgExecutor<'_>, token_hash: &[u8]) -> Result<Option<UserId>> {
    let row: Option<(UserId,)> = sqlx::query_as(
        "UPDATE password_resets SET used_at = now()
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(user,)| user))
}
