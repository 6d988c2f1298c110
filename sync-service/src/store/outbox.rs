//! The outbox: commands written with the decision, published by the relay afterwards.

use sqlx::PgPool;
use sync_protocol::{CommandMessage, Envelope};
use uuid::Uuid;

use super::Tx;

pub async fn push(tx: &mut Tx<'_>, envelope: &Envelope<CommandMessage>) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO outbox (message_id, user_id, payload) VALUES ($1, $2, $3)")
        .bind(envelope.message_id)
        .bind(envelope.user_id.0)
        .bind(sqlx::types::Json(envelope))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops the user's writes of `kind` not yet published (a links rebuild: their links are gone,
/// and a create sent now could only duplicate what the rebuild pairs).
pub async fn drop_unpublished_writes(
    tx: &mut Tx<'_>,
    user: sync_model::UserId,
    kind: sync_model::ItemKind,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM outbox WHERE user_id = $1 AND published_at IS NULL
           AND payload->'body'->>'type' = 'apply' AND payload->'body'->>'kind' = $2",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Takes the oldest rows still to publish, in order: they are deleted in the caller's
/// transaction (decision 99), which commits once the broker confirmed them; until then other
/// relays skip them, and a rollback (a failed publish, a crash) puts them back. One statement
/// instead of a claim and an update, and no copy of each row written by the update.
pub async fn take(tx: &mut Tx<'_>, limit: i64) -> sqlx::Result<Vec<Envelope<CommandMessage>>> {
    let mut rows: Vec<(i64, sqlx::types::Json<Envelope<CommandMessage>>)> = sqlx::query_as(
        "DELETE FROM outbox WHERE id IN (
             SELECT id FROM outbox WHERE published_at IS NULL
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, payload",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.sort_unstable_by_key(|(id, _)| *id);
    Ok(rows.into_iter().map(|(_, json)| json.0).collect())
}

/// Rows marked published by a replica of an earlier version (before decision 99) are history.
pub async fn prune(pool: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM outbox WHERE published_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

pub fn new_message_id() -> Uuid {
    Uuid::now_v7()
}
