//! Failed sign-ins per account (and per client address), shared by all replicas.
//!
//! An attempt is counted *before* its password is checked: [`claim`] counts the recent
//! failures and adds the attempt under a per-key lock, in one transaction, so a burst of
//! parallel guesses cannot all read "under the limit" and all be checked. An attempt that was not
//! a failed guess is [`release`]d (or the whole key [`clear`]ed after a success).

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgExecutor, PgPool};

use crate::error::Result;

/// An attempt counted as a failure until it is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim(i64);

/// What [`claim`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Allowed(Claim),
    /// Too many failures within the window; the oldest of them.
    Refused {
        oldest: Option<DateTime<Utc>>,
    },
}

/// The failures within the window: how many, and when the oldest happened.
pub async fn recent(
    db: impl PgExecutor<'_>,
    key: &str,
    window: Duration,
) -> Result<(i64, Option<DateTime<Utc>>)> {
    let row = sqlx::query_as(
        "SELECT count(*), min(failed_at) FROM sign_in_failures \
         WHERE email_key = $1 AND failed_at > now() - make_interval(secs => $2)",
    )
    .bind(key)
    .bind(window.num_seconds() as f64)
    .fetch_one(db)
    .await?;
    Ok(row)
}

/// Counts an attempt for `key` unless `max_failures` were counted within the window.
pub async fn claim(
    pool: &PgPool,
    key: &str,
    max_failures: u32,
    window: Duration,
) -> Result<Attempt> {
    let mut tx = pool.begin().await?;
    // One claim per key at a time, across replicas: the count below sees every earlier claim.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7331))")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    let (failures, oldest) = recent(&mut *tx, key, window).await?;
    if failures >= i64::from(max_failures) {
        tx.commit().await?;
        return Ok(Attempt::Refused { oldest });
    }
    // Old rows of this key go at the same time; the table stays small.
    let (id,): (i64,) = sqlx::query_as(
        "WITH gone AS (DELETE FROM sign_in_failures \
             WHERE email_key = $1 AND failed_at <= now() - make_interval(secs => $2)) \
         INSERT INTO sign_in_failures (email_key) VALUES ($1) RETURNING id",
    )
    .bind(key)
    .bind(window.num_seconds() as f64)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Attempt::Allowed(Claim(id)))
}

/// The attempt was not a failed guess: it no longer counts.
pub async fn release(db: impl PgExecutor<'_>, claim: Claim) -> Result<()> {
    sqlx::query("DELETE FROM sign_in_failures WHERE id = $1")
        .bind(claim.0)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn clear(db: impl PgExecutor<'_>, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM sign_in_failures WHERE email_key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}
