//! Consumer de-duplication by message id.

use uuid::Uuid;

use super::Tx;

/// Serialises the handling of one user's messages across replicas for the transaction's life.
pub async fn lock_user(tx: &mut Tx<'_>, user: sync_model::UserId) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(user.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// [`lock_user`], then records `message_id` as processed: `true` the first time it is seen,
/// `false` for a repeat. One round trip (every message does both); the insert runs once the lock
/// is held, and the later statements of the transaction see what the previous holder committed.
pub async fn lock_user_and_record(
    tx: &mut Tx<'_>,
    user: sync_model::UserId,
    message_id: Uuid,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0)))
         INSERT INTO processed_messages (message_id) SELECT $2 FROM locked
         ON CONFLICT DO NOTHING",
    )
    .bind(user.0)
    .bind(message_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
