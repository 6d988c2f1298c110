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

/// [`admit`] for the messages of a batch at once, of one user or several (decisions #81, #87,
/// #115): the users' locks (taken in the order of their keys, so that two batches sharing users
/// cannot deadlock), the look for each user's held messages and the record of every id, in one
/// statement. One admission per message, in order; an id twice is new only the first time.
pub async fn admit_many(
    tx: &mut Tx<'_>,
    messages: &[(sync_model::UserId, Uuid)],
) -> sqlx::Result<Vec<Admission>> {
    // One row per held user (its id), one per message recorded (its id).
    let rows: Vec<(Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "WITH m AS (SELECT * FROM unnest($1::uuid[], $2::uuid[]) AS m(user_id, id)),
              locked AS (SELECT u.user_id, pg_advisory_xact_lock(u.key) AS done
                         FROM (SELECT DISTINCT user_id, hashtextextended(user_id::text, 0) AS key
                               FROM m ORDER BY key OFFSET 0) u),
              waiting AS (SELECT l.user_id,
                                 EXISTS (SELECT 1 FROM held_messages h
                                         WHERE h.user_id = l.user_id) AS held
                          FROM locked l),
              recorded AS (INSERT INTO processed_messages (message_id)
                           SELECT m.id FROM m JOIN waiting w ON w.user_id = m.user_id
                           WHERE NOT w.held
                           ON CONFLICT DO NOTHING RETURNING message_id)
         SELECT user_id, NULL::uuid FROM waiting WHERE held
         UNION ALL SELECT NULL::uuid, message_id FROM recorded",
    )
    .bind(messages.iter().map(|(u, _)| u.0).collect::<Vec<_>>())
    .bind(messages.iter().map(|(_, id)| *id).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut held = std::collections::HashSet::new();
    let mut new = std::collections::HashSet::new();
    for (user, recorded) in rows {
        held.extend(user);
        new.extend(recorded);
    }
    Ok(messages
        .iter()
        .map(
            |(user, id)| match (held.contains(&user.0), new.remove(id)) {
                (true, _) => Admission::Held,
                (false, true) => Admission::New,
                (false, false) => Admission::Duplicate,
            },
        )
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
