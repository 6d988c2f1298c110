//! Consumer de-duplication by message id.

use uuid::Uuid;

use super::Tx;

/// `true` the first time `message_id` is seen (in this transaction's view), `false` for a repeat.
pub async fn first_time(tx: &mut Tx<'_>, message_id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO processed_messages (message_id) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(message_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Serialises the handling of one user's messages across replicas for the transaction's life.
pub async fn lock_user(tx: &mut Tx<'_>, user: sync_model::UserId) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(user.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
