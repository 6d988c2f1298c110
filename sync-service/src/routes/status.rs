//! Sync status per kind: last sync, linked / pending / failed items with reasons, and the first
//! sync's progress for a progress bar.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use sync_model::UserId;

use super::AppState;
use super::auth::{CurrentUser, require_service};
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
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FailedItem {
    pub link_id: uuid::Uuid,
    pub label: String,
    pub reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KindStatus {
    pub kind: String,
    pub last_sync: Option<DateTime<Utc>>,
    /// In agreement on both sides.
    pub linked: i64,
    /// Waiting for the sync itself: a write in flight, first-sync matching, a delete waiting
    /// for the end of its poll round.
    pub pending: i64,
    /// Waiting for a person: a conflict in review, an ambiguous match, a held-back deletion.
    pub held: i64,
    pub failed: i64,
    pub failed_items: Vec<FailedItem>,
    /// Known on one side only and not synced: its counterpart left the folder, list or
    /// categories that sync (nothing was deleted for it).
    pub out_of_scope: i64,
    pub first_sync: FirstSync,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Status {
    pub kinds: Vec<KindStatus>,
    pub outbox_pending: i64,
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
    require_service(&headers, &state)?;
    status(&state.pool, user).await.map(Json)
}

#[derive(sqlx::FromRow)]
struct Counts {
    kind: String,
    linked: i64,
    pending: i64,
    held: i64,
    failed: i64,
    total: i64,
    out_of_scope: i64,
    first_sync_done: Option<bool>,
    rescope_reason: Option<String>,
    outlook_full: Option<bool>,
    zoho_full: Option<bool>,
    last_sync: Option<DateTime<Utc>>,
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
                count(l.id) FILTER (WHERE l.status IN ('review', 'ambiguous', 'held_delete')) AS held,
                count(l.id) FILTER (WHERE l.last_error IS NOT NULL
                    AND l.status NOT IN ('deleted', 'out_of_scope')) AS failed,
                count(l.id) FILTER (WHERE l.status NOT IN ('deleted', 'out_of_scope')) AS total,
                count(l.id) FILTER (WHERE l.status = 'out_of_scope') AS out_of_scope,
                bool_and(p.first_sync_done) AS first_sync_done,
                max(p.rescope_reason) AS rescope_reason,
                bool_and(p.outlook_full_at IS NOT NULL) AS outlook_full,
                bool_and(p.zoho_full_at IS NOT NULL) AS zoho_full,
                max(greatest(p.outlook_read_at, p.zoho_read_at)) AS last_sync
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
            .map(|(link_id, target, reason)| FailedItem {
                link_id,
                label: serde_json::from_value::<sync_model::Item>(target)
                    .map(|i| i.label())
                    .unwrap_or_default(),
                reason,
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
            },
            out_of_scope: c.out_of_scope,
            kind: c.kind,
            last_sync: c.last_sync,
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
    Ok(Status {
        kinds,
        outbox_pending,
    })
}
