//! Parked changes: new items read while a create with the same content is in flight there.

use sync_model::{ExternalId, Item, ItemKind, Side, UserId, Version};

use super::Tx;

pub struct Parked {
    pub id: i64,
    pub external_id: ExternalId,
    pub version: Version,
    pub item: Item,
}

/// Replaces the parked read of `id` with a newer one; `false` when `id` is not parked.
pub async fn replace(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    id: &ExternalId,
    version: &Version,
    item: &Item,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE parked_changes SET version = $5, item = $6
         WHERE user_id = $1 AND kind = $2 AND side = $3 AND external_id = $4",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(side.as_str())
    .bind(&id.0)
    .bind(&version.0)
    .bind(sqlx::types::Json(item))
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
    version: &Version,
    item: &Item,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO parked_changes (user_id, kind, side, external_id, version, item)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(side.as_str())
    .bind(&id.0)
    .bind(&version.0)
    .bind(sqlx::types::Json(item))
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
    let rows: Vec<(i64, String, String, sqlx::types::Json<Item>)> = sqlx::query_as(
        "SELECT id, external_id, version, item FROM parked_changes
         WHERE user_id = $1 AND kind = $2 AND side = $3 ORDER BY id FOR UPDATE",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(side.as_str())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, external_id, version, item)| Parked {
            id,
            external_id: ExternalId(external_id),
            version: Version(version),
            item: item.0,
        })
        .collect())
}

pub async fn remove(tx: &mut Tx<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM parked_changes WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Drops the parked read of `id` (the item was deleted or left the scope since).
pub async fn forget(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    id: &ExternalId,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM parked_changes WHERE user_id = $1 AND kind = $2 AND side = $3 AND external_id = $4")
        .bind(user.0)
        .bind(kind.as_str())
        .bind(side.as_str())
        .bind(&id.0)
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
