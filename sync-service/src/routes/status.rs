//! Sync status of a user: how many items are linked, waiting, failed.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use service_kit::auth::has_bearer;
use sync_model::UserId;

use super::AppState;
use crate::error::ApiError;

#[derive(Serialize, sqlx::FromRow)]
pub struct KindStatus {
    pub kind: String,
    /// Known on both sides.
    pub linked: i64,
    /// Known on one side, its create on the other still in flight.
    pub pending: i64,
    /// The last write to one side failed.
    pub failed: i64,
}

#[derive(Serialize)]
pub struct Status {
    pub kinds: Vec<KindStatus>,
    pub outbox_pending: i64,
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<UserId>,
) -> Result<Json<Status>, ApiError> {
    if !has_bearer(&headers, &state.service_token) {
        return Err(ApiError::Unauthenticated);
    }
    let kinds: Vec<KindStatus> = sqlx::query_as(
        "SELECT kind,
                count(*) FILTER (WHERE outlook_id IS NOT NULL AND zoho_id IS NOT NULL) AS linked,
                count(*) FILTER (WHERE outlook_id IS NULL OR zoho_id IS NULL) AS pending,
                count(*) FILTER (WHERE last_error IS NOT NULL) AS failed
         FROM links WHERE user_id = $1 AND status = 'active' GROUP BY kind ORDER BY kind",
    )
    .bind(user.0)
    .fetch_all(&state.pool)
    .await?;
    let (outbox_pending,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM outbox WHERE user_id = $1 AND published_at IS NULL")
            .bind(user.0)
            .fetch_one(&state.pool)
            .await?;
    Ok(Json(Status {
        kinds,
        outbox_pending,
    }))
}
