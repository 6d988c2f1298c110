//! Application-specific passwords (Argon2id hashes).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::UserId;
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
pub struct AppPasswordRow {
    pub id: Uuid,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: UserId,
    name: &str,
    lookup: &str,
    hash: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO app_passwords (id, user_id, name, lookup, password_hash) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(user_id)
    .bind(name)
    .bind(lookup)
    .bind(hash)
    .execute(db)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            Error::Conflict { code: "app_password_name_taken", message: "an app password with this name exists" }
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// Active app passwords of a user, or only those whose lookup group matches.
pub async fn list_active(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    lookup: Option<&str>,
) -> Result<Vec<AppPasswordRow>> {
    let rows = sqlx::query_as(
        "SELECT id, name, password_hash, created_at, last_used_at FROM app_passwords \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR lookup = $2) \
         ORDER BY created_at",
    )
    .bind(user_id)
    .bind(lookup)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

pub async fn touch(db: impl PgExecutor<'_>, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE app_passwords SET last_used_at = now() WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes one and every session it opened; false when there is no such active one.
pub async fn revoke(db: &mut sqlx::PgConnection, user_id: UserId, id: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE app_passwords SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE app_password_id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(&mut *db)
    .await?;
    Ok(true)
}

/// Revokes all of a user's app passwords (their sessions are ended by the caller); how many.
pub async fn revoke_all(db: impl PgExecutor<'_>, user_id: UserId) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE app_passwords SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
