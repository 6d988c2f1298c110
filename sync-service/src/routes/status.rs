//! Sync status per kind: last sync, linked / pending / failed items with reasons, and the first
//! sync's progress for a progress bar.

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::Serialize;
use service_kit::extract::{Json, Path};
use sqlx::PgPool;
use sync_model::UserId;

use super::AppState;
use super::auth::{CurrentUser, require_service};
use crate::domain::news::first_sync_just_completed;
use crate::error::ApiError;
use service_kit::openapi::ErrorBody;

#[derive(Serialize, utoipa::ToSchema)]
pub struct FirstSync {
    /// Matching is done and nothing waits for the sync (items held for a person do not count).
    pub complete: bool,
    /// Items the sync has finished with (linked, or waiting for a person), and in all; for a
    /// progress bar.
    pub done: i64,
    pub total: i64,
    /// `first_sync`, `settings_change` when a settings change (a new folder or list, another
    /// calendar filter, a kind switched on again) reopened it, or `links_rebuild` when an admin
    /// rebuilds the links (then nothing is created: items without partner are `failed` with the
    /// reason).
    pub reason: String,
    /// The sides whose full read it still waits for (`outlook`, `zoho`).
    pub reading: Vec<String>,
    /// When it last completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Completed within the last 24 hours: the page says "first sync complete" only then
    /// (`domain::news`).
    pub just_completed: bool,
    /// While its matching is settled in pages (both full reads in, many items; decisions #83).
    pub matching: Option<Matching>,
}

/// The first sync's matching under way: its steps (a pair, a held item, an item created on
/// the other side) settled so far, and planned in all (items read meanwhile add steps).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Matching {
    pub settled: i64,
    pub planned: i64,
}

/// What one side did last for a kind: each side on its own, so that a side that stopped does
/// not hide behind the other's activity.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SideActivity {
    /// The end of the last poll round of the side the connector reported: a round that read
    /// something always is, one that read nothing at least every 10 minutes (decisions #74).
    pub last_read: Option<DateTime<Utc>>,
    /// The last write the side's provider applied.
    pub last_write: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Sides {
    pub outlook: SideActivity,
    pub zoho: SideActivity,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FailedItem {
    pub link_id: uuid::Uuid,
    pub label: String,
    /// The side that refused the item (`outlook`, `zoho`), when known.
    pub side: Option<String>,
    /// A stable code: the provider's (`MANDATORY_NOT_FOUND`, `INVALID_DATA`, ...) or ours
    /// (`create_unconfirmed`, `links_rebuild_unpaired`, ...); the page words it and says what to
    /// do.
    pub code: String,
    /// The provider's field the refusal names (`Last_Name`), when it names one.
    pub field: Option<String>,
    /// The text as recorded, for an administrator.
    pub reason: String,
}

impl FailedItem {
    /// Splits a link's recorded error, `"<side>: <code>: <message> (<field>)"`.
    fn new(link_id: uuid::Uuid, label: String, reason: String) -> FailedItem {
        let (side, rest) = match reason.split_once(": ") {
            Some((side, rest)) if side == "outlook" || side == "zoho" => {
                (Some(side.to_owned()), rest)
            }
            _ => (None, reason.as_str()),
        };
        let is_code =
            |c: &str| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        let (code, message) = match rest.split_once(": ") {
            Some((code, message)) if is_code(code) => (code.to_owned(), message),
            _ if rest.starts_with("links rebuild:") => ("links_rebuild_unpaired".to_owned(), rest),
            _ => ("item_refused".to_owned(), rest),
        };
        let field = message
            .strip_suffix(')')
            .and_then(|m| m.rsplit_once('('))
            .map(|(_, field)| field.to_owned())
            .filter(|f| is_code(f));
        FailedItem {
            link_id,
            label,
            side,
            code,
            field,
            reason,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KindStatus {
    pub kind: String,
    pub sides: Sides,
    /// In agreement on both sides.
    pub linked: i64,
    /// Waiting for the sync itself: a write in flight, first-sync matching, a delete waiting
    /// for the end of its poll round.
    pub pending: i64,
    /// Waiting for a person: a conflict in review, an ambiguous match, a held-back deletion.
    pub held: i64,
    /// Of `held`, the deletions held back by the mass-delete guard (an admin releases or
    /// discards them).
    pub held_deletions: i64,
    pub failed: i64,
    pub failed_items: Vec<FailedItem>,
    /// Known on one side only and not synced: its counterpart left the folder, list or
    /// categories that sync (nothing was deleted for it).
    pub out_of_scope: i64,
    pub first_sync: FirstSync,
}

/// Whether the user's held changes are still retried or wait for an admin (decisions #58).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    /// A change failed; it is tried again with growing pauses, the later ones wait behind it.
    Retrying,
    /// Its retries are exhausted: nothing of the user syncs until an admin retries or skips it.
    Blocked,
}

/// The user's changes held back behind one that failed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Held {
    pub state: HeldState,
    /// Why the failed change failed, last time.
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    pub attempts: i32,
    /// Changes waiting, the failed one included.
    pub waiting_messages: i64,
}

impl From<crate::store::held::Waiting> for Held {
    fn from(w: crate::store::held::Waiting) -> Self {
        Held {
            state: if w.blocked_at.is_some() {
                HeldState::Blocked
            } else {
                HeldState::Retrying
            },
            reason: w.reason,
            since: w.since,
            attempts: w.attempts,
            waiting_messages: w.messages,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Status {
    pub kinds: Vec<KindStatus>,
    pub outbox_pending: i64,
    /// Set while the user's changes are held behind one that failed.
    pub held: Option<Held>,
}

#[utoipa::path(get, path = "/v1/status", tag = "sync", security(("access_token" = [])),
    responses((status = 200, body = Status), (status = 401, body = ErrorBody)))]
pub async fn mine(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Status>, ApiError> {
    status(&state.pool, user).await.map(Json)
}

#[utoipa::path(get, path = "/internal/v1/users/{user_id}/status", tag = "internal", security(("service_token" = [])),
    params(("user_id" = uuid::Uuid, Path)), responses((status = 200, body = Status), (status = 401, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<UserId>,
) -> Result<Json<Status>, ApiError> {
    require_service(&headers, &state, service_kit::auth::Scope::Status)?;
    status(&state.pool, user).await.map(Json)
}

#[derive(sqlx::FromRow)]
struct Counts {
    kind: String,
    linked: i64,
    pending: i64,
    held: i64,
    held_deletions: i64,
    failed: i64,
    total: i64,
    out_of_scope: i64,
    first_sync_done: Option<bool>,
    rescope_reason: Option<String>,
    outlook_full: Option<bool>,
    zoho_full: Option<bool>,
    outlook_read_at: Option<DateTime<Utc>>,
    zoho_read_at: Option<DateTime<Utc>>,
    outlook_written_at: Option<DateTime<Utc>>,
    zoho_written_at: Option<DateTime<Utc>>,
    first_sync_done_at: Option<DateTime<Utc>>,
}

async fn status(pool: &PgPool, user: UserId) -> Result<Status, ApiError> {
    let counts: Vec<Counts> = sqlx::query_as(
        "SELECT p.kind,
                count(l.id) FILTER (WHERE l.status = 'active' AND l.outlook_id IS NOT NULL
                    AND l.zoho_id IS NOT NULL
                    AND l.doc->'outlook'->'inflight' = 'null'::jsonb
                    AND l.doc->'zoho'->'inflight' = 'null'::jsonb) AS linked,
                count(l.id) FILTER (WHERE l.status IN ('active', 'unmatched', 'staged_delete')
                    AND l.last_error IS NULL AND NOT (l.status = 'active'
                    AND l.outlook_id IS NOT NULL AND l.zoho_id IS NOT NULL
                    AND l.doc->'outlook'->'inflight' = 'null'::jsonb
                    AND l.doc->'zoho'->'inflight' = 'null'::jsonb)) AS pending,
                count(l.id) FILTER (WHERE l.status IN ('review', 'ambiguous', 'held_delete')
                    OR jsonb_array_length(l.doc->'held') > 0) AS held,
                count(l.id) FILTER (WHERE l.status = 'held_delete') AS held_deletions,
                count(l.id) FILTER (WHERE l.last_error IS NOT NULL
                    AND l.status NOT IN ('deleted', 'out_of_scope')) AS failed,
                count(l.id) FILTER (WHERE l.status NOT IN ('deleted', 'out_of_scope')) AS total,
                count(l.id) FILTER (WHERE l.status = 'out_of_scope') AS out_of_scope,
                bool_and(p.first_sync_done) AS first_sync_done,
                max(p.rescope_reason) AS rescope_reason,
                bool_and(p.outlook_full_at IS NOT NULL) AS outlook_full,
                bool_and(p.zoho_full_at IS NOT NULL) AS zoho_full,
                max(p.outlook_read_at) AS outlook_read_at,
                max(p.zoho_read_at) AS zoho_read_at,
                max(p.outlook_written_at) AS outlook_written_at,
                max(p.zoho_written_at) AS zoho_written_at,
                max(p.first_sync_done_at) AS first_sync_done_at
         FROM kind_progress p
         LEFT JOIN links l ON l.user_id = p.user_id AND l.kind = p.kind
         WHERE p.user_id = $1
         GROUP BY p.kind ORDER BY p.kind",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    // Only the kinds the user syncs (progress rows of switched-off kinds are history).
    let settings = crate::store::settings::get(pool, user).await?;
    let enabled = |kind: &str| {
        let kind: Option<sync_model::ItemKind> = kind.parse().ok();
        kind.zip(settings.as_ref())
            .is_some_and(|(k, s)| s.kind_enabled(k))
    };
    let matching = crate::store::finale::progress(pool, user).await?;
    let now = Utc::now();
    let mut kinds = Vec::with_capacity(counts.len());
    for c in counts.into_iter().filter(|c| enabled(&c.kind)) {
        let failed_items: Vec<(uuid::Uuid, serde_json::Value, String)> = sqlx::query_as(
            "SELECT id, doc->'target', last_error FROM links
             WHERE user_id = $1 AND kind = $2 AND last_error IS NOT NULL
               AND status NOT IN ('deleted', 'out_of_scope')
             ORDER BY updated_at DESC LIMIT 50",
        )
        .bind(user.0)
        .bind(&c.kind)
        .fetch_all(pool)
        .await?;
        let failed_items = failed_items
            .into_iter()
            .map(|(link_id, target, reason)| {
                let label = serde_json::from_value::<sync_model::Item>(target)
                    .map(|i| i.label())
                    .unwrap_or_default();
                FailedItem::new(link_id, label, reason)
            })
            .collect();
        let done = c.first_sync_done.unwrap_or(false);
        let reading = [
            ("outlook", c.outlook_full.unwrap_or(false)),
            ("zoho", c.zoho_full.unwrap_or(false)),
        ]
        .into_iter()
        .filter(|(_, read)| !done && !read)
        .map(|(side, _)| side.to_owned())
        .collect();
        kinds.push(KindStatus {
            first_sync: FirstSync {
                complete: done && c.pending == 0,
                done: c.total - c.pending,
                total: c.total,
                reason: c.rescope_reason.unwrap_or_else(|| "first_sync".to_owned()),
                reading,
                completed_at: c.first_sync_done_at.filter(|_| done),
                just_completed: done
                    && c.pending == 0
                    && first_sync_just_completed(c.first_sync_done_at, now),
                matching: matching
                    .get(&c.kind)
                    .map(|&(settled, planned)| Matching { settled, planned }),
            },
            out_of_scope: c.out_of_scope,
            kind: c.kind,
            sides: Sides {
                outlook: SideActivity {
                    last_read: c.outlook_read_at,
                    last_write: c.outlook_written_at,
                },
                zoho: SideActivity {
                    last_read: c.zoho_read_at,
                    last_write: c.zoho_written_at,
                },
            },
            held_deletions: c.held_deletions,
            linked: c.linked,
            pending: c.pending,
            held: c.held,
            failed: c.failed,
            failed_items,
        });
    }
    let (outbox_pending,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM outbox WHERE user_id = $1 AND published_at IS NULL")
            .bind(user.0)
            .fetch_one(pool)
            .await?;
    let held = crate::store::held::waiting_of(pool, user)
        .await?
        .map(Held::from);
    Ok(Status {
        kinds,
        outbox_pending,
        held,
    })
}

#[cfg(test)]
mod tests {
    use super::FailedItem;

    #[test]
    fn a_recorded_error_gives_its_side_code_and_field() {
        let id = uuid::Uuid::nil();
        let item = FailedItem::new(
            id,
            "Taro".into(),
            "zoho: MANDATORY_NOT_FOUND: required field not found (Last_Name)".into(),
        );
        assert_eq!(item.side.as_deref(), Some("zoho"));
        assert_eq!(item.code, "MANDATORY_NOT_FOUND");
        assert_eq!(item.field.as_deref(), Some("Last_Name"));
        let unconfirmed = FailedItem::new(
            id,
            "Taro".into(),
            "outlook: create_unconfirmed: the answer was lost".into(),
        );
        assert_eq!(unconfirmed.code, "create_unconfirmed");
        assert_eq!(unconfirmed.field, None);
        let rebuild = FailedItem::new(
            id,
            "Taro".into(),
            format!("zoho: {}", crate::domain::matching::UNPAIRED_REASON),
        );
        assert_eq!(rebuild.code, "links_rebuild_unpaired");
        let odd = FailedItem::new(id, "Taro".into(), "something odd (with words)".into());
        assert_eq!((odd.side, odd.code.as_str()), (None, "item_refused"));
        assert_eq!(odd.field, None);
    }
}
