//! Rows of OpenID Connect sign-in: linked identities, pending flows, tickets, the policy.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::UserId;
use crate::error::Result;

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct IdentityRow {
    pub id: Uuid,
    #[serde(skip)]
    pub user_id: UserId,
    pub provider: String,
    pub issuer: String,
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, provider, issuer, subject, email, linked_at, last_sign_in_at";

pub async fn find_identity(
    db: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
) -> Result<Option<IdentityRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM external_identities WHERE issuer = $1 AND subject = $2"
    )))
    .bind(issuer)
    .bind(subject)
    .fetch_optional(db)
    .await?)
}

pub async fn list_identities(db: impl PgExecutor<'_>, user_id: UserId) -> Result<Vec<IdentityRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM external_identities WHERE user_id = $1 ORDER BY linked_at"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await?)
}

pub struct NewIdentity<'a> {
    pub user_id: UserId,
    pub provider: &'a str,
    pub issuer: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
}

/// Links an identity; `false` when it is already linked (to anyone).
pub async fn link(db: impl PgExecutor<'_>, new: NewIdentity<'_>) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO external_identities (id, user_id, provider, issuer, subject, email) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (issuer, subject) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(new.user_id)
    .bind(new.provider)
    .bind(new.issuer)
    .bind(new.subject)
    .bind(new.email)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn touch(
    db: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
    email: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE external_identities SET last_sign_in_at = now(), email = COALESCE($3, email) \
         WHERE issuer = $1 AND subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .bind(email)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn unlink(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    id: Uuid,
) -> Result<Option<IdentityRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "DELETE FROM external_identities WHERE user_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Whether password sign-in is on for the organisation.
pub async fn password_sign_in(db: impl PgExecutor<'_>) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT password_sign_in FROM sign_in_policy WHERE singleton")
            .fetch_optional(db)
            .await?
            .unwrap_or(true),
    )
}

pub async fn set_password_sign_in(db: impl PgExecutor<'_>, on: bool, by: UserId) -> Result<()> {
    sqlx::query(
        "INSERT INTO sign_in_policy (singleton, password_sign_in, updated_at, updated_by) \
         VALUES (true, $1, now(), $2) ON CONFLICT (singleton) DO UPDATE \
         SET password_sign_in = $1, updated_at = now(), updated_by = $2",
    )
    .bind(on)
    .bind(by)
    .execute(db)
    .await?;
    Ok(())
}
