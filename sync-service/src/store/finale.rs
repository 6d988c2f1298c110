//! The first sync's finale in pages (decisions #83): the finales under way and the steps of
//! their plans still to settle.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use sqlx::types::Json;
use sync_model::{ItemKind, LinkId, UserId};

use crate::domain::finale::{Step, Waiting};
use crate::domain::{Link, LinkStatus};

use super::Tx;

/// The view the plan needs of every waiting link of the user and kind. The documents are read
/// one row at a time and only their keys kept: the plan for 20,000 links holds a few MiB, not
/// the links. Not locked: the caller holds the user's lock, and each page locks what it settles.
pub async fn waiting(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    rebuilding: bool,
) -> sqlx::Result<Vec<Waiting>> {
    let mut rows = sqlx::query_as::<_, (Json<Link>,)>(
        "SELECT doc FROM links WHERE user_id = $1 AND kind = $2 AND status IN ($3, $4)",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(LinkStatus::Unmatched.as_str())
    .bind(LinkStatus::OutOfScope.as_str())
    .fetch(&mut **tx);
    let mut waiting = Vec::new();
    while let Some((Json(link),)) = rows.try_next().await? {
        waiting.extend(Waiting::of(&link, rebuilding));
    }
    Ok(waiting)
}

/// Whether a finale of the user's kind is under way.
pub async fn is_open(tx: &mut Tx<'_>, user: UserId, kind: ItemKind) -> sqlx::Result<bool> {
    let (open,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM finales WHERE user_id = $1 AND kind = $2)")
            .bind(user.0)
            .bind(kind.as_str())
            .fetch_one(&mut **tx)
            .await?;
    Ok(open)
}

/// Opens the finale (if it is not) and queues `steps` after those already queued.
pub async fn queue(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    steps: &[Step],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO finales (user_id, kind, planned) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, kind) DO UPDATE SET planned = finales.planned + excluded.planned",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(steps.len() as i64)
    .execute(&mut **tx)
    .await?;
    let docs: Vec<Json<&Step>> = steps.iter().map(Json).collect();
    sqlx::query(
        "INSERT INTO finale_steps (user_id, kind, seq, step)
         SELECT $1, $2,
                (SELECT coalesce(max(seq), 0) FROM finale_steps WHERE user_id = $1 AND kind = $2)
                  + batch.n,
                batch.step
         FROM unnest($3::jsonb[]) WITH ORDINALITY AS batch(step, n)",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(docs)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The finales under way, least recently paged first (at most `limit`).
pub async fn due(pool: &sqlx::PgPool, limit: i64) -> sqlx::Result<Vec<(UserId, ItemKind)>> {
    let rows: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT user_id, kind FROM finales ORDER BY paged_at LIMIT $1")
            .bind(limit)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(user, kind)| Some((UserId(user), kind.parse().ok()?)))
        .collect())
}

/// Takes the user's lock, waiting at most `wait` for the transaction holding it (the user's
/// changes are handled in short transactions, one after another: a page that only tried the
/// lock found it taken nearly every time while the first sync's results streamed in, and the
/// finale starved). `false`: still held after `wait`; the transaction must then be dropped.
pub async fn lock_user_within(
    tx: &mut Tx<'_>,
    user: UserId,
    wait: std::time::Duration,
) -> sqlx::Result<bool> {
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", wait.as_millis().max(1)))
        .execute(&mut **tx)
        .await?;
    let locked = sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(user.0)
        .execute(&mut **tx)
        .await;
    match locked {
        Ok(_) => {
            sqlx::query("SELECT set_config('lock_timeout', '0', true)")
                .execute(&mut **tx)
                .await?;
            Ok(true)
        }
        // lock_not_available: the wait ran out.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => Ok(false),
        Err(e) => Err(e),
    }
}

/// The next `limit` steps of the finale, in plan order, with their sequence numbers.
pub async fn next_steps(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    limit: i64,
) -> sqlx::Result<Vec<(i64, Step)>> {
    let rows: Vec<(i64, Json<Step>)> = sqlx::query_as(
        "SELECT seq, step FROM finale_steps WHERE user_id = $1 AND kind = $2
         ORDER BY seq LIMIT $3",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, Json(step))| (seq, step))
        .collect())
}

/// The links that still exist among `ids`, locked for the page's transaction.
pub async fn links(tx: &mut Tx<'_>, ids: &[LinkId]) -> sqlx::Result<HashMap<LinkId, Link>> {
    let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<(Json<Link>,)> =
        sqlx::query_as("SELECT doc FROM links WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(ids)
            .fetch_all(&mut **tx)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(Json(link),)| (link.id, link))
        .collect())
}

/// The steps up to `last` are settled: gone from the queue, counted.
pub async fn settled(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    last: i64,
    count: usize,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM finale_steps WHERE user_id = $1 AND kind = $2 AND seq <= $3")
        .bind(user.0)
        .bind(kind.as_str())
        .bind(last)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE finales SET settled = settled + $3, paged_at = now()
         WHERE user_id = $1 AND kind = $2",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(count as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A page of the finale failed: it goes behind the other finales.
pub async fn postpone(pool: &sqlx::PgPool, user: UserId, kind: ItemKind) -> sqlx::Result<()> {
    sqlx::query("UPDATE finales SET paged_at = now() WHERE user_id = $1 AND kind = $2")
        .bind(user.0)
        .bind(kind.as_str())
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends the finale (its steps included): it is done, or a re-scope replaces it.
pub async fn close(tx: &mut Tx<'_>, user: UserId, kind: ItemKind) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM finale_steps WHERE user_id = $1 AND kind = $2")
        .bind(user.0)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM finales WHERE user_id = $1 AND kind = $2")
        .bind(user.0)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Steps settled and planned so far, per kind with a finale under way (the status).
pub async fn progress(
    pool: &sqlx::PgPool,
    user: UserId,
) -> sqlx::Result<HashMap<String, (i64, i64)>> {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT kind, settled, planned FROM finales WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, settled, planned)| (kind, (settled, planned)))
        .collect())
}
