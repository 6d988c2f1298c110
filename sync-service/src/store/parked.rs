//! Parked changes: new items read while a create with the same content is in flight there.

use sync_model::{ExternalId, Item, ItemKind, Modified, Side, UserId, Version};

use super::Tx;

#[derive(Debug, Clone)]
pub struct Parked {
    pub id: i64,
    pub external_id: ExternalId,
    pub version: Version,
    pub item: Item,
    pub modified: Option<Modified>,
    /// A windowed re-read of its side began since it was parked and no read has replaced it
    /// since (decision 102).
    pub unconfirmed: bool,
}

/// A read to park: what a `Changed` input carries.
pub struct Read<'a> {
    pub version: &'a Version,
    pub item: &'a Item,
    pub modified: Option<Modified>,
}

#[derive(sqlx::FromRow)]
struct ParkedRow {
    id: i64,
    external_id: String,
    version: String,
    item: sqlx::types::Json<Item>,
    modified: Option<chrono::DateTime<chrono::Utc>>,
    unconfirmed: bool,
}

impl From<ParkedRow> for Parked {
    fn from(row: ParkedRow) -> Self {
        Parked {
            id: row.id,
            external_id: ExternalId(row.external_id),
            version: Version(row.version),
            item: row.item.0,
            modified: row.modified.map(Modified),
            unconfirmed: row.unconfirmed,
        }
    }
}

/// Replaces the parked read of `id` with a newer one (a read changed before the parked one,
/// published late, leaves it as it is: decision 100), which shows the item is there
/// (decision 102); `false` when `id` is not parked.
pub async fn replace(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    id: &ExternalId,
    read: Read<'_>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE parked_changes
            SET version = CASE WHEN $7::timestamptz < modified THEN version ELSE $5 END,
                item = CASE WHEN $7::timestamptz < modified THEN item ELSE $6 END,
                modified = CASE WHEN $7::timestamptz < modified THEN modified ELSE $7 END,
                unconfirmed = CASE WHEN $7::timestamptz < modified THEN unconfirmed ELSE false END
         WHERE user_id = $1 AND kind = $2 AND side = $3 AND external_id = $4",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(side.as_str())
    .bind(&id.0)
    .bind(&read.version.0)
    .bind(sqlx::types::Json(read.item))
    .bind(read.modified.map(|m| m.0))
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn park(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    id: &ExternalId,
    read: Read<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO parked_changes (user_id, kind, side, external_id, version, item, modified)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(side.as_str())
    .bind(&id.0)
    .bind(&read.version.0)
    .bind(sqlx::types::Json(read.item))
    .bind(read.modified.map(|m| m.0))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn list(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> sqlx::Result<Vec<Parked>> {
    let rows: Vec<ParkedRow> = sqlx::query_as(
        "SELECT id, external_id, version, item, modified, unconfirmed FROM parked_changes
         WHERE user_id = $1 AND kind = $2 AND side = $3 ORDER BY id FOR UPDATE",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(side.as_str())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(Parked::from).collect())
}

/// [`list`] for several (user, kind, side) triples at once, each triple's reads in their order,
/// locked.
pub async fn list_many(
    tx: &mut Tx<'_>,
    triples: &[(UserId, ItemKind, Side)],
) -> sqlx::Result<Vec<(UserId, ItemKind, Side, Parked)>> {
    if triples.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(sqlx::FromRow)]
    struct Listed {
        user_id: uuid::Uuid,
        kind: String,
        side: String,
        #[sqlx(flatten)]
        row: ParkedRow,
    }
    let (users, kinds, sides) = super::triple_columns(triples);
    let rows: Vec<Listed> = sqlx::query_as(
        "SELECT p.user_id, p.kind, p.side, p.id, p.external_id, p.version, p.item, p.modified,
                p.unconfirmed
             FROM parked_changes p
             JOIN unnest($1::uuid[], $2::text[], $3::text[]) AS k(user_id, kind, side)
               ON p.user_id = k.user_id AND p.kind = k.kind AND p.side = k.side
             ORDER BY p.id FOR UPDATE OF p",
    )
    .bind(users)
    .bind(kinds)
    .bind(sides)
    .fetch_all(&mut **tx)
    .await?;
    let mut listed = Vec::with_capacity(rows.len());
    for Listed {
        user_id,
        kind,
        side,
        row,
    } in rows
    {
        let (Ok(kind), Ok(side)) = (kind.parse(), side.parse()) else {
            continue; // not one of the triples asked for (they are all known kinds and sides)
        };
        listed.push((UserId(user_id), kind, side, Parked::from(row)));
    }
    Ok(listed)
}

/// Removes many parked reads in one statement.
pub async fn remove_many(tx: &mut Tx<'_>, ids: &[i64]) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM parked_changes WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn remove(tx: &mut Tx<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM parked_changes WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops the parked read of `id` (the item was deleted or left the scope since), unless what
/// told it was read strictly before the parked read was (`modified`, decision 103).
pub async fn forget(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    id: &ExternalId,
    modified: Option<Modified>,
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM parked_changes
         WHERE user_id = $1 AND kind = $2 AND side = $3 AND external_id = $4
           AND NOT coalesce($5::timestamptz < modified, false)",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(side.as_str())
    .bind(&id.0)
    .bind(modified.map(|m| m.0))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Drops every parked read of a user and kind (a links rebuild reads everything again).
pub async fn forget_kind(tx: &mut Tx<'_>, user: UserId, kind: ItemKind) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM parked_changes WHERE user_id = $1 AND kind = $2")
        .bind(user.0)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks every parked read of `side` unconfirmed: a re-read of a window of it begins, which
/// does not list what lies outside and reports no deletion one by one, so a parked item deleted
/// since may never be told (decision 102). A read of the item replaces the mark.
pub async fn doubt_side(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE parked_changes SET unconfirmed = true
         WHERE user_id = $1 AND kind = $2 AND side = $3",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(side.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Drops every parked read of `side`: a full re-read of it begins, and lists again each item it
/// still holds (a parked item deleted since, whose delete the re-read swallows, must not come
/// back).
pub async fn forget_side(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> sqlx::Result<u64> {
    let done =
        sqlx::query("DELETE FROM parked_changes WHERE user_id = $1 AND kind = $2 AND side = $3")
            .bind(user.0)
            .bind(kind.as_str())
            .bind(side.as_str())
            .execute(&mut **tx)
            .await?;
    Ok(done.rows_affected())
}
