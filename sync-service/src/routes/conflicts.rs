//! The conflict log: every conflict with the base and both values, newest first, filtered and
//! paged; and resolving the held ones of review mode.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service_kit::extract::{BadInput, Json, Path, Query};
use sync_model::{ItemKind, LinkId, Side};

use super::AppState;
use super::auth::CurrentUser;
use crate::domain::Input;
use crate::error::ApiError;
use crate::store::conflicts::{self, ConflictStatus};
use crate::store::{inbox, links};
use service_kit::openapi::ErrorBody;

#[derive(Deserialize, utoipa::IntoParams)]
pub struct Filter {
    /// `contact`, `task` or `event`.
    #[param(value_type = Option<String>)]
    pub kind: Option<ItemKind>,
    /// `decided`, `held`, `resolved` or `dropped`.
    #[param(value_type = Option<String>)]
    pub status: Option<ConflictStatus>,
    /// Entries older than this id (the previous page's `next_before`).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Entry {
    pub id: i64,
    pub link_id: uuid::Uuid,
    pub kind: String,
    pub label: String,
    pub field: String,
    pub base: Option<serde_json::Value>,
    pub outlook: Option<serde_json::Value>,
    pub zoho: Option<serde_json::Value>,
    pub rule: String,
    pub winner: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// For a held conflict of values: `outlook` or `zoho` when the item was deleted there and
    /// that delete is still to be decided (at the end of that side's round, or by an admin).
    /// Keeping that side's values lets the delete go through unless the other side changed
    /// something else in the item; keeping the other's makes the delete the user's choice too
    /// (decision 110).
    pub delete_waits_on: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

#[utoipa::path(get, path = "/v1/conflicts", tag = "sync", security(("access_token" = [])), params(Filter),
    responses((status = 200, body = Page), (status = 422, body = ErrorBody, description = "invalid_query: e.g. an unknown status or a limit that is not a number"), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(filter): Query<Filter>,
) -> Result<Json<Page>, ApiError> {
    let limit = filter.limit.unwrap_or(50).clamp(1, 200);
    let entries: Vec<Entry> = sqlx::query_as(
        "SELECT c.id, c.link_id, c.kind, c.label, c.field, c.base, c.outlook, c.zoho, c.rule,
                c.winner, c.status, c.created_at, c.resolved_at,
                CASE WHEN c.status = 'held' AND c.field <> '(deleted)' THEN l.deleted_by END
                    AS delete_waits_on
         FROM conflicts c
         LEFT JOIN links l ON l.id = c.link_id AND l.status IN ('staged_delete', 'held_delete')
         WHERE c.user_id = $1 AND ($2::text IS NULL OR c.kind = $2)
           AND ($3::text IS NULL OR c.status = $3) AND ($4::bigint IS NULL OR c.id < $4)
         ORDER BY c.id DESC LIMIT $5",
    )
    .bind(user.0)
    .bind(filter.kind.map(ItemKind::as_str))
    .bind(filter.status.map(ConflictStatus::as_str))
    .bind(filter.before)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let mut entries = entries;
    let next_before = (entries.len() as i64 > limit).then(|| {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.id).unwrap_or_default()
    });
    Ok(Json(Page {
        entries,
        next_before,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Resolution {
    /// Whose values to keep for the held conflicts of this item: `outlook` or `zoho`.
    #[schema(value_type = String)]
    pub keep: Side,
}

#[utoipa::path(post, path = "/v1/conflicts/{link_id}/resolve", tag = "sync", security(("access_token" = [])),
    params(("link_id" = uuid::Uuid, Path)), request_body = Resolution,
    responses((status = 200, description = "{\"resolved\": n}"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(link_id): Path<uuid::Uuid>,
    body: Result<Json<Resolution>, BadInput>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(resolution) = body?;
    let mut tx = state.pool.begin().await?;
    inbox::lock_user(&mut tx, user).await?;
    let link = links::get(&mut tx, LinkId(link_id))
        .await?
        .filter(|l| l.user_id == user)
        .ok_or(ApiError::NotFound("conflict"))?;
    if !link.awaits_choice() {
        return Err(ApiError::Conflict(
            "conflict",
            "this item has no conflict waiting for a choice",
        ));
    }
    let kind = link.kind;
    let (rules, _) = crate::handler::rules(&mut tx, user, kind)
        .await
        .map_err(ApiError::Internal)?;
    // Before the link is saved without them, which would drop them (decision 107).
    let resolved = conflicts::resolve(&mut tx, LinkId(link_id), resolution.keep).await?;
    let wrote = crate::handler::apply(
        &mut tx,
        user,
        Some(link),
        Input::Resolve {
            keep: resolution.keep,
        },
        rules,
    )
    .await
    .map_err(ApiError::Internal)?;
    tx.commit().await?;
    if wrote {
        state.relay_wakeup.notify_one();
    }
    Ok(Json(serde_json::json!({"resolved": resolved})))
}
