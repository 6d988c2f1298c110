use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::domain::{EmailAddress, UserId};
use crate::error::{Error, Result};

/// A user row. No `Debug`: it carries the password hash.
#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, email, display_name, password_hash, is_admin, disabled_at, created_at";

pub struct NewUser<'a> {
    pub id: UserId,
    pub email: &'a EmailAddress,
    pub display_name: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub is_admin: bool,
}

#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn insert(db: impl PgExecutor<'_>, user: NewUser<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, email_key, display_name, password_hash, is_admin) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.id)
    .bind(user.email.as_str())
    .bind(user.email.key())
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(user.is_admin)
    .execute(db)
    .await
    .map_err(|e| {
        if super::is_unique_violation(&e) {
            Error::EmailTaken
        } else {
            e.into()
        }
    })?;
    Ok(())
}

pub async fn exists(db: impl PgExecutor<'_>, id: UserId) -> Result<bool> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

pub async fn find(db: impl PgExecutor<'_>, id: UserId) -> Result<Option<UserRow>> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row)
}

pub async fn find_by_email(
    db: impl PgExecutor<'_>,
    email: &EmailAddress,
) -> Result<Option<UserRow>> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE email_key = $1"
    )))
    .bind(email.key())
    .fetch_optional(db)
    .await?;
    Ok(row)
}

pub async fn list(db: impl PgExecutor<'_>, limit: i64, offset: i64) -> Result<Vec<UserRow>> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2"
    )))
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

pub async fn set_password(db: impl PgExecutor<'_>, id: UserId, hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_admin(db: impl PgExecutor<'_>, id: UserId, is_admin: bool) -> Result<()> {
    sqlx::query("UPDATE users SET is_admin = $2 WHERE id = $1")
        .bind(id)
        .bind(is_admin)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_disabled(db: impl PgExecutor<'_>, id: UserId, disabled: bool) -> Result<()> {
    sqlx::query(
        "UPDATE users SET disabled_at = CASE WHEN $2 THEN COALESCE(disabled_at, now()) END WHERE id = $1",
    )
    .bind(id)
    .bind(disabled)
    .execute(db)
    .await?;
    Ok(())
}
