//! Links, stored as documents with their lookup columns.

use sync_model::{ContentHash, ExternalId, ItemKind, LinkId, Side, UserId};
use sync_protocol::FailureCode;

use crate::domain::{Link, LinkStatus};

use super::Tx;

fn id_column(side: Side) -> &'static str {
    match side {
        Side::Outlook => "outlook_id",
        Side::Zoho => "zoho_id",
    }
}

fn parse(rows: Vec<(sqlx::types::Json<Link>,)>) -> Vec<Link> {
    rows.into_iter().map(|(json,)| json.0).collect()
}

/// The user's links of `kind` meeting `condition` (made here of our own column and key names
/// only), oldest first, locked for this transaction.
async fn locked_where(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    condition: &str,
) -> sqlx::Result<Vec<Link>> {
    let sql = format!(
        "SELECT doc FROM links WHERE user_id = $1 AND kind = $2 AND {condition}
         ORDER BY created_at FOR UPDATE"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user.0)
        .bind(kind.as_str())
        .fetch_all(&mut **tx)
        .await?;
    Ok(parse(rows))
}

/// The link of the item `id` on `side`, locked for this transaction.
pub async fn find(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    id: &ExternalId,
) -> sqlx::Result<Option<Link>> {
    let sql = format!(
        "SELECT doc FROM links WHERE user_id = $1 AND kind = $2 AND {} = $3 FOR UPDATE",
        id_column(side)
    );
    let row: Option<(sqlx::types::Json<Link>,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user.0)
        .bind(kind.as_str())
        .bind(&id.0)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|(json,)| json.0))
}

pub async fn get(tx: &mut Tx<'_>, link: LinkId) -> sqlx::Result<Option<Link>> {
    let row: Option<(sqlx::types::Json<Link>,)> =
        sqlx::query_as("SELECT doc FROM links WHERE id = $1 FOR UPDATE")
            .bind(link.0)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(json,)| json.0))
}

/// Links of a user and kind in `status`, oldest first, locked.
pub async fn with_status(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    status: &str,
) -> sqlx::Result<Vec<Link>> {
    let rows = sqlx::query_as(
        "SELECT doc FROM links WHERE user_id = $1 AND kind = $2 AND status = $3
         ORDER BY created_at FOR UPDATE",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(status)
    .fetch_all(&mut **tx)
    .await?;
    Ok(parse(rows))
}

/// Links that know an item on `side` (or are creating one there), locked.
pub async fn on_side(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> sqlx::Result<Vec<Link>> {
    // Also those out of scope whose item there departed (decision 105).
    let condition = format!(
        "(doc->'{side}' <> 'null'::jsonb OR doc->'departed'->>'side' = '{side}')",
        side = side.as_str()
    );
    locked_where(tx, user, kind, &condition).await
}

/// Out-of-scope links whose item on `side` departed (decision 105), locked.
pub async fn departed_on(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> sqlx::Result<Vec<Link>> {
    let condition = format!(
        "status = 'out_of_scope' AND doc->'departed'->>'side' = '{}'",
        side.as_str()
    );
    locked_where(tx, user, kind, &condition).await
}

/// The links that may have made an item read on `side` with content `hash`: those whose create
/// there carries that content (in flight, or lost unconfirmed; decisions #86), and those saved
/// before create hashes were kept. The domain (`unknown_read`) decides among them.
pub async fn creates_with(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    hash: &ContentHash,
) -> sqlx::Result<Vec<Link>> {
    // Two index scans (the hash, and the rows not saved since hashes were kept): an `OR` of
    // the two made Postgres scan every active link of the user instead (22 ms at 9,000).
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT doc FROM links
         WHERE id IN (SELECT id FROM links WHERE user_id = $1 AND kind = $2 AND {column} = $3
                      UNION ALL
                      SELECT id FROM links WHERE user_id = $1 AND kind = $2 AND hashes_stale)
           AND status = 'active' AND {id} IS NULL
         ORDER BY created_at FOR UPDATE",
        id = id_column(side),
        column = hash_column(side),
    )))
    .bind(user.0)
    .bind(kind.as_str())
    .bind(&hash.0)
    .fetch_all(&mut **tx)
    .await?;
    Ok(parse(rows))
}

/// The links among `ids` that exist, locked for this transaction: the [`get`] of a batch's
/// results in one statement (decisions #96).
pub async fn get_many(tx: &mut Tx<'_>, ids: &[LinkId]) -> sqlx::Result<Vec<Link>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as("SELECT doc FROM links WHERE id = ANY($1) FOR UPDATE")
        .bind(ids.iter().map(|id| id.0).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
    Ok(parse(rows))
}

/// What the end of a round of `side` looks at, locked: links whose create there lost its
/// answer (`failure_code` `create_unconfirmed`), and copies our creates made there that no read
/// has listed since (`SideState::unlisted`). One statement for both, over two partial indexes.
pub async fn round_end_candidates(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> sqlx::Result<Vec<Link>> {
    let condition = format!(
        "((status = 'active' AND {} IS NULL AND failure_code = '{}')
          OR (doc->'{}'->>'unlisted') = 'true')",
        id_column(side),
        FailureCode::CreateUnconfirmed,
        side.as_str()
    );
    locked_where(tx, user, kind, &condition).await
}

fn hash_column(side: Side) -> &'static str {
    match side {
        Side::Outlook => "create_hash_outlook",
        Side::Zoho => "create_hash_zoho",
    }
}

/// Inserts or replaces a link; without held conflicts, its held entries of the conflict log are
/// dropped (decision 107).
pub async fn save(tx: &mut Tx<'_>, link: &Link) -> sqlx::Result<()> {
    super::batch::save(tx, &[link], &[]).await
}

/// Removes many links in one statement, their held conflicts dropped except those of the ids in
/// `saved_holding` (removed, then saved anew with held conflicts by the same run).
pub async fn remove_many(
    tx: &mut Tx<'_>,
    links: &[LinkId],
    saved_holding: &[LinkId],
) -> sqlx::Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH gone AS (DELETE FROM links WHERE id = ANY($1))
         UPDATE conflicts SET status = 'dropped'
         WHERE status = 'held' AND link_id = ANY($1) AND link_id <> ALL($2)",
    )
    .bind(links.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(saved_holding.iter().map(|l| l.0).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) fn deleted_by(link: &Link) -> Option<&'static str> {
    match link.status {
        LinkStatus::StagedDelete { by } | LinkStatus::HeldDelete { by } => Some(by.as_str()),
        _ => None,
    }
}

pub(super) fn last_error(link: &Link) -> Option<String> {
    link.last_error
        .as_ref()
        .map(|e| format!("{}: {}: {}", e.side, e.code, e.message))
}

/// Removes a link (its held conflicts dropped).
pub async fn remove(tx: &mut Tx<'_>, link: LinkId) -> sqlx::Result<()> {
    sqlx::query(
        "WITH gone AS (DELETE FROM links WHERE id = $1)
         UPDATE conflicts SET status = 'dropped' WHERE status = 'held' AND link_id = $1",
    )
    .bind(link.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Links with a delete staged or held for `by`'s deletions.
pub async fn deletes_by(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    by: Side,
    status: &str,
) -> sqlx::Result<Vec<Link>> {
    let rows = sqlx::query_as(
        "SELECT doc FROM links WHERE user_id = $1 AND kind = $2 AND status = $3 AND deleted_by = $4
         ORDER BY created_at FOR UPDATE",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(status)
    .bind(by.as_str())
    .fetch_all(&mut **tx)
    .await?;
    Ok(parse(rows))
}

/// Items of a user and kind that count for the mass-delete guard (everything not yet deleted).
pub async fn live_count(tx: &mut Tx<'_>, user: UserId, kind: ItemKind) -> sqlx::Result<i64> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM links WHERE user_id = $1 AND kind = $2 AND status <> 'deleted'",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok(count)
}

/// Links whose item on `side` is known (id confirmed) and not deleted on both sides, locked:
/// what a full re-read of `side` beginning now must show.
pub async fn known_on(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> sqlx::Result<Vec<Link>> {
    // A link given up still takes part while its delete there is in flight (`full_read::begin`).
    let condition = format!(
        "{} IS NOT NULL
           AND (status <> 'deleted' OR doc->'{side}'->'inflight'->'op'->>'op' = 'delete')",
        id_column(side),
        side = side.as_str()
    );
    locked_where(tx, user, kind, &condition).await
}

/// Links still awaiting the full re-read `round` of `side`, locked.
pub async fn unseen_in(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    round: uuid::Uuid,
) -> sqlx::Result<Vec<Link>> {
    let sql = format!(
        "SELECT doc FROM links WHERE user_id = $1 AND kind = $2 AND doc->'unseen'->>'{}' = $3
         ORDER BY created_at FOR UPDATE",
        side.as_str()
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user.0)
        .bind(kind.as_str())
        .bind(round.to_string())
        .fetch_all(&mut **tx)
        .await?;
    Ok(parse(rows))
}

/// Stores the documents of many links in one statement, when only their documents changed (not
/// their ids, status, error or creates: the full-read marks).
pub async fn save_docs(tx: &mut Tx<'_>, links: &[Link]) -> sqlx::Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = links.iter().map(|l| l.id.0).collect();
    let docs: Vec<sqlx::types::Json<&Link>> = links.iter().map(sqlx::types::Json).collect();
    sqlx::query(
        "UPDATE links SET doc = batch.doc, updated_at = now()
         FROM unnest($1::uuid[], $2::jsonb[]) AS batch(id, doc)
         WHERE links.id = batch.id",
    )
    .bind(ids)
    .bind(docs)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets links marked deleted whose last change is older than `age` (decisions #74). Until
/// then a late read of the deleted item finds its link and is ignored instead of bringing the
/// item back. Kept whatever their age: a link with a write in flight (its result must find
/// it), and every link of a user whose changes are held (decisions #58): those wait for an
/// admin, for as long as it takes, and may hold such a late read.
pub async fn prune_deleted(pool: &sqlx::PgPool, age: std::time::Duration) -> sqlx::Result<u64> {
    let done: (i64,) = sqlx::query_as(
        "WITH gone AS (
             DELETE FROM links l
             WHERE l.status = 'deleted' AND l.updated_at < now() - make_interval(secs => $1)
               AND coalesce(l.doc->'outlook'->'inflight', 'null'::jsonb) = 'null'::jsonb
               AND coalesce(l.doc->'zoho'->'inflight', 'null'::jsonb) = 'null'::jsonb
               AND NOT EXISTS (SELECT 1 FROM held_messages h WHERE h.user_id = l.user_id)
             RETURNING l.id),
              dropped AS (
             UPDATE conflicts SET status = 'dropped'
             WHERE status = 'held' AND link_id IN (SELECT id FROM gone))
         SELECT count(*) FROM gone",
    )
    .bind(age.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(done.0 as u64)
}

/// Drops every link of a user and kind (a links rebuild), and their held conflicts; answers how
/// many there were.
pub async fn remove_kind(tx: &mut Tx<'_>, user: UserId, kind: ItemKind) -> sqlx::Result<u64> {
    let done: (i64,) = sqlx::query_as(
        "WITH gone AS (DELETE FROM links WHERE user_id = $1 AND kind = $2 RETURNING id),
              dropped AS (
             UPDATE conflicts SET status = 'dropped'
             WHERE status = 'held' AND user_id = $1 AND kind = $2)
         SELECT count(*) FROM gone",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok(done.0 as u64)
}

/// The links that know any of `keys` (user, kind, side, item id), locked for this transaction:
/// the [`find`] of a batch's messages in one statement (decisions #87, #115).
pub async fn find_many(
    tx: &mut Tx<'_>,
    keys: &[(UserId, ItemKind, Side, &ExternalId)],
) -> sqlx::Result<Vec<Link>> {
    let (mut outlook, mut zoho): (Columns, Columns) = Default::default();
    for (user, kind, side, id) in keys {
        let columns = match side {
            Side::Outlook => &mut outlook,
            Side::Zoho => &mut zoho,
        };
        columns.0.push(user.0);
        columns.1.push(kind.as_str());
        columns.2.push(id.0.as_str());
    }
    // One index scan per key and side (the unique indexes on the ids).
    let rows = sqlx::query_as(
        "SELECT doc FROM links
         WHERE id IN (SELECT l.id FROM unnest($1::uuid[], $2::text[], $3::text[])
                                       AS k(user_id, kind, item)
                        JOIN links l ON l.user_id = k.user_id AND l.kind = k.kind
                                    AND l.outlook_id = k.item
                      UNION ALL
                      SELECT l.id FROM unnest($4::uuid[], $5::text[], $6::text[])
                                       AS k(user_id, kind, item)
                        JOIN links l ON l.user_id = k.user_id AND l.kind = k.kind
                                    AND l.zoho_id = k.item)
         FOR UPDATE",
    )
    .bind(outlook.0)
    .bind(outlook.1)
    .bind(outlook.2)
    .bind(zoho.0)
    .bind(zoho.1)
    .bind(zoho.2)
    .fetch_all(&mut **tx)
    .await?;
    Ok(parse(rows))
}

/// Users, kinds and item ids of one side, as arrays.
type Columns<'a> = (Vec<uuid::Uuid>, Vec<&'a str>, Vec<&'a str>);
