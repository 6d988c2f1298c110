//! Held messages (decisions #58): a user's change whose handling failed, and every later change
//! of that user, kept in order in Postgres while the failed one is retried with backoff; after
//! the last attempt the user is blocked until an admin retries or skips it.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sync_model::UserId;
use sync_protocol::topology::change_routing_key;
use sync_protocol::{ChangeMessage, Envelope};
use uuid::Uuid;

use super::Tx;

/// The failed delivery, first of the user's held messages: retried after `backoff`.
pub async fn hold(
    pool: &PgPool,
    user: UserId,
    message_id: Uuid,
    payload: &[u8],
    error: &str,
    backoff: std::time::Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO held_messages (user_id, message_id, payload, attempts, next_attempt_at, last_error)
         VALUES ($1, $2, $3, 1, now() + make_interval(secs => $4), $5)
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(user.0)
    .bind(message_id)
    .bind(payload)
    .bind(backoff.as_secs_f64())
    .bind(reason(error))
    .execute(pool)
    .await?;
    Ok(())
}

/// A later delivery of a user with held messages: it waits behind them (a redelivery of one
/// already waiting is not added twice).
pub async fn append(
    tx: &mut Tx<'_>,
    user: UserId,
    message_id: Uuid,
    payload: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO held_messages (user_id, message_id, payload) VALUES ($1, $2, $3)
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(user.0)
    .bind(message_id)
    .bind(payload)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The users whose first held message is due for another attempt.
pub async fn due_users(pool: &PgPool, limit: i64) -> sqlx::Result<Vec<UserId>> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT h.user_id FROM held_messages h
         WHERE h.dead_at IS NULL AND h.next_attempt_at <= now()
           AND h.id = (SELECT min(id) FROM held_messages WHERE user_id = h.user_id)
         ORDER BY h.next_attempt_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(u,)| UserId(u)).collect())
}

/// The user's first held message, when it is due (read under the user's lock).
pub struct Head {
    pub id: i64,
    pub payload: Vec<u8>,
    pub attempts: i32,
}

pub async fn due_head(tx: &mut Tx<'_>, user: UserId) -> sqlx::Result<Option<Head>> {
    let row: Option<(i64, Vec<u8>, i32)> = sqlx::query_as(
        "SELECT id, payload, attempts FROM held_messages
         WHERE user_id = $1 AND id = (SELECT min(id) FROM held_messages WHERE user_id = $1)
           AND dead_at IS NULL AND next_attempt_at <= now()",
    )
    .bind(user.0)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(id, payload, attempts)| Head {
        id,
        payload,
        attempts,
    }))
}

pub async fn remove(tx: &mut Tx<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM held_messages WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Another attempt failed: the next after `backoff`, or none (`dead`: the user is blocked).
pub async fn failed_again(
    pool: &PgPool,
    id: i64,
    error: &str,
    backoff: std::time::Duration,
    dead: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE held_messages SET attempts = attempts + 1, last_error = $2,
                next_attempt_at = now() + make_interval(secs => $3),
                dead_at = CASE WHEN $4 THEN now() END
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason(error))
    .bind(backoff.as_secs_f64())
    .bind(dead)
    .execute(pool)
    .await?;
    Ok(())
}

/// A user whose changes wait: blocked (retries exhausted) or still being retried.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    pub user_id: Uuid,
    /// Why the first held message failed, last time.
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    pub attempts: i32,
    /// Set once its retries are exhausted: the user is blocked.
    pub blocked_at: Option<DateTime<Utc>>,
    /// Held messages of the user (the failed one included).
    pub messages: i64,
}

const WAITING: &str = "SELECT h.user_id, h.last_error AS reason, h.held_at AS since, h.attempts,
            h.dead_at AS blocked_at,
            (SELECT count(*) FROM held_messages c WHERE c.user_id = h.user_id) AS messages
     FROM held_messages h
     WHERE h.id = (SELECT min(id) FROM held_messages WHERE user_id = h.user_id)";

/// Every user whose changes wait, blocked ones first.
pub async fn waiting(pool: &PgPool) -> sqlx::Result<Vec<Waiting>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{WAITING} ORDER BY h.dead_at NULLS LAST, h.held_at LIMIT 1000"
    )))
    .fetch_all(pool)
    .await
}

pub async fn waiting_of(pool: &PgPool, user: UserId) -> sqlx::Result<Option<Waiting>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{WAITING} AND h.user_id = $1")))
        .bind(user.0)
        .fetch_optional(pool)
        .await
}

/// What an admin does with a blocked user's failed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unblock {
    /// Try it again now, with a fresh set of attempts (its cause was fixed).
    Retry,
    /// Set it aside among the dead letters (replayable) and go on with the user's next changes.
    Skip,
}

/// Returns false when the user is not blocked.
pub async fn unblock(pool: &PgPool, user: UserId, action: Unblock) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT id, payload FROM held_messages
         WHERE user_id = $1 AND dead_at IS NOT NULL
           AND id = (SELECT min(id) FROM held_messages WHERE user_id = $1)
         FOR UPDATE",
    )
    .bind(user.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, payload)) = head else {
        return Ok(false);
    };
    match action {
        Unblock::Retry => {
            sqlx::query(
                "UPDATE held_messages SET attempts = 0, dead_at = NULL, next_attempt_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        Unblock::Skip => {
            // Kept with the routing key it came with, so that a replay sends it the same way.
            let key = serde_json::from_slice::<Envelope<ChangeMessage>>(&payload)
                .map(|e| {
                    let body = &e.body;
                    change_routing_key(e.user_id, body.side(), body.kind(), body.verb())
                })
                .unwrap_or_default();
            sqlx::query("DELETE FROM held_messages WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO dead_letters (routing_key, payload) VALUES ($1, $2)")
                .bind(key)
                .bind(payload)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// Error texts are kept short (they are shown to users and admins).
fn reason(error: &str) -> String {
    error.chars().take(500).collect()
}
