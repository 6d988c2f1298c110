//! Per user and kind: the first sync's state and the last poll rounds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sync_model::{ItemKind, Side, UserId};

use uuid::Uuid;

use crate::domain::UserSettings;
use crate::domain::scope::Reading;

use super::Tx;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Progress {
    pub outlook_full_at: Option<DateTime<Utc>>,
    pub zoho_full_at: Option<DateTime<Utc>>,
    pub outlook_items: i64,
    pub zoho_items: i64,
    pub first_sync_done: bool,
    pub outlook_read_at: Option<DateTime<Utc>>,
    pub zoho_read_at: Option<DateTime<Utc>>,
    /// The re-scope the open first sync waits for (its tagged full reads).
    pub rescope_id: Option<Uuid>,
    /// The first sync in progress is a links rebuild.
    pub rebuilding: bool,
}

impl Progress {
    /// The reads the domain's re-scope rules look at.
    pub fn reading(&self) -> Reading {
        Reading {
            open: if self.first_sync_done {
                None
            } else {
                self.rescope_id
            },
            outlook_done: self.outlook_full_at.is_some(),
            zoho_done: self.zoho_full_at.is_some(),
        }
    }
}

/// The row, created on first use (one statement: the insert answers a new row, the select an
/// existing one, which the statement's snapshot sees).
pub async fn load(tx: &mut Tx<'_>, user: UserId, kind: ItemKind) -> sqlx::Result<Progress> {
    sqlx::query_as(
        "WITH made AS (
             INSERT INTO kind_progress (user_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING
             RETURNING outlook_full_at, zoho_full_at, outlook_items, zoho_items, first_sync_done,
                       outlook_read_at, zoho_read_at, rescope_id, rebuilding)
         SELECT * FROM made
         UNION ALL
         SELECT outlook_full_at, zoho_full_at, outlook_items, zoho_items, first_sync_done,
                outlook_read_at, zoho_read_at, rescope_id, rebuilding
         FROM kind_progress WHERE user_id = $1 AND kind = $2",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .fetch_one(&mut **tx)
    .await
}

/// The row (created on first use) and the user's settings, in one round trip: every message
/// needs both.
pub async fn load_with_settings(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
) -> sqlx::Result<(Progress, Option<UserSettings>)> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        progress: Progress,
        settings: Option<sqlx::types::Json<UserSettings>>,
    }
    let row: Row = sqlx::query_as(
        "WITH made AS (
             INSERT INTO kind_progress (user_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING
             RETURNING outlook_full_at, zoho_full_at, outlook_items, zoho_items, first_sync_done,
                       outlook_read_at, zoho_read_at, rescope_id, rebuilding),
         progress AS (
             SELECT * FROM made
             UNION ALL
             SELECT outlook_full_at, zoho_full_at, outlook_items, zoho_items, first_sync_done,
                    outlook_read_at, zoho_read_at, rescope_id, rebuilding
             FROM kind_progress WHERE user_id = $1 AND kind = $2)
         SELECT progress.*, (SELECT settings FROM user_settings WHERE user_id = $1) AS settings
         FROM progress",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.progress, row.settings.map(|s| s.0)))
}

/// [`load_with_settings`] for several users and kinds at once (decisions #115): each pair's row
/// (created on first use) and its user's settings, in one statement.
pub async fn load_many_with_settings(
    tx: &mut Tx<'_>,
    pairs: &[(UserId, ItemKind)],
) -> sqlx::Result<HashMap<(UserId, ItemKind), (Progress, Option<UserSettings>)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        user_id: Uuid,
        kind: String,
        #[sqlx(flatten)]
        progress: Progress,
        settings: Option<sqlx::types::Json<UserSettings>>,
    }
    if pairs.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<Row> = sqlx::query_as(
        "WITH k AS (SELECT * FROM unnest($1::uuid[], $2::text[]) AS k(user_id, kind)),
              made AS (
             INSERT INTO kind_progress (user_id, kind) SELECT user_id, kind FROM k
             ON CONFLICT DO NOTHING
             RETURNING user_id, kind, outlook_full_at, zoho_full_at, outlook_items, zoho_items,
                       first_sync_done, outlook_read_at, zoho_read_at, rescope_id, rebuilding),
         progress AS (
             SELECT * FROM made
             UNION ALL
             SELECT p.user_id, p.kind, p.outlook_full_at, p.zoho_full_at, p.outlook_items,
                    p.zoho_items, p.first_sync_done, p.outlook_read_at, p.zoho_read_at,
                    p.rescope_id, p.rebuilding
             FROM k JOIN kind_progress p ON p.user_id = k.user_id AND p.kind = k.kind)
         SELECT progress.*, s.settings
         FROM progress LEFT JOIN user_settings s ON s.user_id = progress.user_id",
    )
    .bind(pairs.iter().map(|(u, _)| u.0).collect::<Vec<_>>())
    .bind(pairs.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut loaded = HashMap::with_capacity(rows.len());
    for row in rows {
        let Ok(kind) = row.kind.parse() else {
            continue; // not one of the kinds asked for (they are all known)
        };
        loaded.insert(
            (UserId(row.user_id), kind),
            (row.progress, row.settings.map(|s| s.0)),
        );
    }
    Ok(loaded)
}

/// Records the end of a poll round on `side`; `full` rounds count towards the first sync.
pub async fn round_completed(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    full: bool,
    items: i64,
) -> sqlx::Result<()> {
    let sql = match side {
        Side::Outlook => {
            "UPDATE kind_progress SET outlook_read_at = now(),
                outlook_full_at = CASE WHEN $3 THEN now() ELSE outlook_full_at END,
                outlook_items = CASE WHEN $3 THEN $4 ELSE outlook_items END
             WHERE user_id = $1 AND kind = $2"
        }
        Side::Zoho => {
            "UPDATE kind_progress SET zoho_read_at = now(),
                zoho_full_at = CASE WHEN $3 THEN now() ELSE zoho_full_at END,
                zoho_items = CASE WHEN $3 THEN $4 ELSE zoho_items END
             WHERE user_id = $1 AND kind = $2"
        }
    };
    sqlx::query(sql)
        .bind(user.0)
        .bind(kind.as_str())
        .bind(full)
        .bind(items)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn first_sync_done(tx: &mut Tx<'_>, user: UserId, kind: ItemKind) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE kind_progress SET first_sync_done = true, rebuilding = false,
            first_sync_done_at = now()
         WHERE user_id = $1 AND kind = $2",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a write that `side`'s provider applied (the side's last successful write).
pub async fn written(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> sqlx::Result<()> {
    let sql = match side {
        Side::Outlook => {
            "UPDATE kind_progress SET outlook_written_at = now() WHERE user_id = $1 AND kind = $2"
        }
        Side::Zoho => {
            "UPDATE kind_progress SET zoho_written_at = now() WHERE user_id = $1 AND kind = $2"
        }
    };
    sqlx::query(sql)
        .bind(user.0)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// [`written`] for several (user, kind, side) triples at once, in one statement.
pub async fn written_many(
    tx: &mut Tx<'_>,
    triples: &[(UserId, ItemKind, Side)],
) -> sqlx::Result<()> {
    if triples.is_empty() {
        return Ok(());
    }
    let (users, kinds, sides) = super::triple_columns(triples);
    sqlx::query(
        "UPDATE kind_progress p SET
             outlook_written_at = CASE WHEN w.outlook THEN now() ELSE p.outlook_written_at END,
             zoho_written_at = CASE WHEN w.zoho THEN now() ELSE p.zoho_written_at END
         FROM (SELECT user_id, kind, bool_or(side = 'outlook') AS outlook,
                      bool_or(side = 'zoho') AS zoho
               FROM unnest($1::uuid[], $2::text[], $3::text[]) AS w(user_id, kind, side)
               GROUP BY user_id, kind) w
         WHERE p.user_id = w.user_id AND p.kind = w.kind",
    )
    .bind(users)
    .bind(kinds)
    .bind(sides)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A re-scope: the kind's first sync opens again and waits for both sides' full reads tagged
/// `id`. After a completed first sync it is a settings change (for the status page).
pub async fn open_rescope(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO kind_progress (user_id, kind, rescope_id) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, kind) DO UPDATE SET first_sync_done = false,
            outlook_full_at = NULL, zoho_full_at = NULL, outlook_items = 0, zoho_items = 0,
            rescope_id = excluded.rescope_id,
            rescope_reason = CASE WHEN kind_progress.first_sync_done
                                    OR kind_progress.rescope_reason = 'settings_change'
                                  THEN 'settings_change' ELSE 'first_sync' END",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    // A finale under way belonged to the scope before: the new one plans its own.
    super::finale::close(tx, user, kind).await?;
    Ok(())
}

/// A links rebuild: the re-scope just opened ([`open_rescope`]) pairs by identity first and
/// creates nothing.
pub async fn mark_rebuilding(tx: &mut Tx<'_>, user: UserId, kind: ItemKind) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE kind_progress SET rebuilding = true, rescope_reason = 'links_rebuild'
         WHERE user_id = $1 AND kind = $2",
    )
    .bind(user.0)
    .bind(kind.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
