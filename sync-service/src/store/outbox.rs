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

pub struct Pending {
    pub id: i64,
    pub envelope: Envelope<CommandMessage>,
}

/// Claims the oldest unpublished rows; other relays skip them until this transaction ends.
pub async fn claim(tx: &mut Tx<'_>, limit: i64) -> sqlx::Result<Vec<Pending>> {
    let rows: Vec<(i64, sqlx::types::Json<Envelope<CommandMessage>>)> = sqlx::query_as(
        "SELECT id, payload FROM outbox WHERE published_at IS NULL
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, json)| Pending {
            id,
            envelope: json.0,
        })
        .collect())
}

pub async fn mark_published(tx: &mut Tx<'_>, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Published rows older than a day are only history.
pub async fn prune(pool: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM outbox WHERE published_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

pub fn new_message_id() -> Uuid {
    Uuid::now_v7()
}
