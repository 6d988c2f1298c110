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

/// How a delivery is let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// First seen: recorded, to be handled now.
    New,
    /// Handled before: acknowledge and skip.
    Duplicate,
    /// The user has held messages (decisions #58): this one waits behind them, not recorded.
    Held,
}

/// [`lock_user_and_record`], unless the user has held messages. One statement: the lock, the
/// look for held messages, the record. Its snapshot predates the lock, which is safe: a held
/// row is only added by the handling of an earlier delivery of the same partition (committed
/// before this one was delivered), and one removed meanwhile only makes this delivery wait
/// behind nothing, for the next retry round.
pub async fn admit(
    tx: &mut Tx<'_>,
    user: sync_model::UserId,
    message_id: Uuid,
) -> sqlx::Result<Admission> {
    let (held, recorded): (bool, i64) = sqlx::query_as(
        "WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))),
              waiting AS (SELECT EXISTS (SELECT 1 FROM held_messages WHERE user_id = $1) AS held
                          FROM locked),
              recorded AS (INSERT INTO processed_messages (message_id)
                           SELECT $2 FROM waiting WHERE NOT held
                           ON CONFLICT DO NOTHING RETURNING 1)
         SELECT held, (SELECT count(*) FROM recorded) FROM waiting",
    )
    .bind(user.0)
    .bind(message_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(match (held, recorded) {
        (true, _) => Admission::Held,
        (false, 1) => Admission::New,
        _ => Admission::Duplicate,
    })
}

/// [`admit`] for a user's messages of a batch at once (decisions #81, #87): the lock, the look
/// for held messages and the record of every id in one statement. One admission per id, in
/// order; an id twice in `message_ids` is new only the first time.
pub async fn admit_all(
    tx: &mut Tx<'_>,
    user: sync_model::UserId,
    message_ids: &[Uuid],
) -> sqlx::Result<Vec<Admission>> {
    let (held, recorded): (bool, Vec<Uuid>) = sqlx::query_as(
        "WITH locked AS (SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))),
              waiting AS (SELECT EXISTS (SELECT 1 FROM held_messages WHERE user_id = $1) AS held
                          FROM locked),
              recorded AS (INSERT INTO processed_messages (message_id)
                           SELECT batch.id FROM unnest($2::uuid[]) AS batch(id), waiting
                           WHERE NOT waiting.held
                           ON CONFLICT DO NOTHING RETURNING message_id)
         SELECT held, coalesce((SELECT array_agg(message_id) FROM recorded), '{}'::uuid[])
         FROM waiting",
    )
    .bind(user.0)
    .bind(message_ids)
    .fetch_one(&mut **tx)
    .await?;
    let mut new: std::collections::HashSet<Uuid> = recorded.into_iter().collect();
    Ok(message_ids
        .iter()
        .map(|id| match (held, new.remove(id)) {
            (true, _) => Admission::Held,
            (false, true) => Admission::New,
            (false, false) => Admission::Duplicate,
        })
        .collect())
}

/// Forgets the ids of messages handled longer than `age` ago (decisions #61): a message id only
/// comes back while the broker still holds its delivery (unacknowledged: redelivered within
/// minutes, and RabbitMQ's consumer timeout closes a channel holding one for 30 minutes) or
/// while a publisher repeats a page whose confirms it lacked (before its cursor moves, within
/// one poll round). Days later no copy of it can still arrive.
pub async fn prune(pool: &sqlx::PgPool, age: std::time::Duration) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM processed_messages WHERE processed_at < now() - make_interval(secs => $1)",
    )
    .bind(age.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
