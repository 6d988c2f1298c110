//! Links: reading them into the domain type and writing decisions back.

use sync_model::{ExternalId, Item, ItemKind, LinkId, Side, UserId, Version};
use uuid::Uuid;

use crate::domain::{Link, LinkStatus, SideRef};

use super::Tx;

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: Uuid,
    user_id: Uuid,
    kind: String,
    outlook_id: Option<String>,
    outlook_version: Option<String>,
    zoho_id: Option<String>,
    zoho_version: Option<String>,
    base: sqlx::types::Json<Item>,
    status: String,
}

const COLUMNS: &str =
    "id, user_id, kind, outlook_id, outlook_version, zoho_id, zoho_version, base, status";

impl TryFrom<LinkRow> for Link {
    type Error = anyhow::Error;
    fn try_from(row: LinkRow) -> anyhow::Result<Link> {
        let side = |id: Option<String>, version: Option<String>| {
            id.map(|id| SideRef {
                id: ExternalId(id),
                version: version.map(Version),
            })
        };
        Ok(Link {
            id: LinkId(row.id),
            user_id: UserId(row.user_id),
            kind: row.kind.parse()?,
            outlook: side(row.outlook_id, row.outlook_version),
            zoho: side(row.zoho_id, row.zoho_version),
            base: row.base.0,
            status: if row.status == "deleted" {
                LinkStatus::Deleted
            } else {
                LinkStatus::Active
            },
        })
    }
}

fn id_column(side: Side) -> &'static str {
    match side {
        Side::Outlook => "outlook_id",
        Side::Zoho => "zoho_id",
    }
}

/// The link of the item `id` on `side`, locked for this transaction.
pub async fn find(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    id: &ExternalId,
) -> anyhow::Result<Option<Link>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM links WHERE user_id = $1 AND kind = $2 AND {} = $3 FOR UPDATE",
        id_column(side)
    );
    let row: Option<LinkRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user.0)
        .bind(kind.as_str())
        .bind(&id.0)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Link::try_from).transpose()
}

pub async fn get(tx: &mut Tx<'_>, link: LinkId) -> anyhow::Result<Option<Link>> {
    let sql = format!("SELECT {COLUMNS} FROM links WHERE id = $1 FOR UPDATE");
    let row: Option<LinkRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(link.0)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Link::try_from).transpose()
}

/// Links whose create on `side` is still in flight (normally none or a handful).
pub async fn awaiting_create(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> anyhow::Result<Vec<Link>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM links WHERE user_id = $1 AND kind = $2 AND status = 'active' AND {} IS NULL
         ORDER BY created_at FOR UPDATE",
        id_column(side)
    );
    let rows: Vec<LinkRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user.0)
        .bind(kind.as_str())
        .fetch_all(&mut **tx)
        .await?;
    rows.into_iter().map(Link::try_from).collect()
}

pub async fn insert(tx: &mut Tx<'_>, link: &Link) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO links (id, user_id, kind, outlook_id, outlook_version, zoho_id, zoho_version, base, base_hash, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(link.id.0)
    .bind(link.user_id.0)
    .bind(link.kind.as_str())
    .bind(link.outlook.as_ref().map(|s| &s.id.0))
    .bind(link.outlook.as_ref().and_then(|s| s.version.as_ref()).map(|v| &v.0))
    .bind(link.zoho.as_ref().map(|s| &s.id.0))
    .bind(link.zoho.as_ref().and_then(|s| s.version.as_ref()).map(|v| &v.0))
    .bind(sqlx::types::Json(&link.base))
    .bind(link.base.content_hash().0)
    .bind(status_text(link.status))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes back everything a decision may change.
pub async fn update(tx: &mut Tx<'_>, link: &Link) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE links SET outlook_id = $2, outlook_version = $3, zoho_id = $4, zoho_version = $5,
                base = $6, base_hash = $7, status = $8, updated_at = now()
         WHERE id = $1",
    )
    .bind(link.id.0)
    .bind(link.outlook.as_ref().map(|s| &s.id.0))
    .bind(
        link.outlook
            .as_ref()
            .and_then(|s| s.version.as_ref())
            .map(|v| &v.0),
    )
    .bind(link.zoho.as_ref().map(|s| &s.id.0))
    .bind(
        link.zoho
            .as_ref()
            .and_then(|s| s.version.as_ref())
            .map(|v| &v.0),
    )
    .bind(sqlx::types::Json(&link.base))
    .bind(link.base.content_hash().0)
    .bind(status_text(link.status))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes a link that no longer pairs anything.
pub async fn delete(tx: &mut Tx<'_>, link: LinkId) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM links WHERE id = $1")
        .bind(link.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn record_failure(
    tx: &mut Tx<'_>,
    link: LinkId,
    side: Option<Side>,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE links SET failed_side = $2, last_error = $3, updated_at = now() WHERE id = $1",
    )
    .bind(link.0)
    .bind(side.map(Side::as_str))
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn status_text(status: LinkStatus) -> &'static str {
    match status {
        LinkStatus::Active => "active",
        LinkStatus::Deleted => "deleted",
    }
}
