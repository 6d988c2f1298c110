//! Reading and changing a user's settings. A change tells both connectors what to watch.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use service_kit::auth::has_bearer;
use service_kit::telemetry::current_traceparent;
use sync_model::{ItemKind, Side, UserId};
use sync_protocol::{CommandMessage, Envelope, WatchScope};

use super::AppState;
use crate::domain::UserSettings;
use crate::error::ApiError;
use crate::store::{outbox, settings};

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<UserId>,
) -> Result<Json<UserSettings>, ApiError> {
    if !has_bearer(&headers, &state.service_token) {
        return Err(ApiError::Unauthenticated);
    }
    settings::get(&state.pool, user)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("settings"))
}

pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<UserId>,
    body: Result<Json<UserSettings>, JsonRejection>,
) -> Result<Json<UserSettings>, ApiError> {
    if !has_bearer(&headers, &state.service_token) {
        return Err(ApiError::Unauthenticated);
    }
    let Json(new) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    new.validate()?;

    let mut tx = state.pool.begin().await?;
    settings::save(&mut tx, user, &new).await?;
    for side in Side::ALL {
        for kind in ItemKind::ALL {
            let scope = new.direction(kind).map(|_| WatchScope {
                container_id: new.container(side, kind),
                poll_interval_secs: new.poll_interval_secs,
            });
            let watch = CommandMessage::Watch { side, kind, scope };
            outbox::push(
                &mut tx,
                &Envelope::new(user, watch).with_traceparent(current_traceparent()),
            )
            .await?;
        }
    }
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    Ok(Json(new))
}
