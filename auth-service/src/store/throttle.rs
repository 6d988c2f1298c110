//! Failed sign-ins per account, shared by all replicas.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgExecutor;

use crate::error::Result;

/// The failures within the window: how many, and when the oldest happened.
pub async fn recent(
    db: impl PgExecutor<'_>,
    email_key: &str,
    window: Duration,
) -> Result<(i64, Option<DateTime<Utc>>)> {
    let row = sqlx::query_as(
        "SELECT count(*), min(failed_at) FROM sign_in_failures \
         WHERE email_key = $1 AND failed_at > now() - make_interval(secs => $2)",
    )
    .bind(email_key)
    .bind(window.num_seconds() as f64)
    .fetch_one(db)
    .await?;
    Ok(row)
}

pub async fn record_failure(
    db: impl PgExecutor<'_>,
    email_key: &str,
    window: Duration,
) -> Result<()> {
    // Old rows of this account go at the same time; the table stays small.
    sqlx::query(
        "WITH gone AS (DELETE FROM sign_in_failures \
             WHERE email_key = $1 AND failed_at <= now() - make_interval(secs => $2)) \
         INSERT INTO sign_in_failures (email_key) VALUES ($1)",
    )
    .bind(email_key)
    .bind(window.num_seconds() as f64)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn clear(db: impl PgExecutor<'_>, email_key: &str) -> Result<()> {
    sqlx::query("DELETE FROM sign_in_failures WHERE email_key = $1")
        .bind(email_key)
        .execute(db)
        .await?;
    Ok(())
}
