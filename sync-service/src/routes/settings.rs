//! Reading and changing a user's settings. A change tells both connectors what to watch; one
//! that changes what syncs (a new folder or list, another calendar filter, a kind switched on
//! again) opens a re-scope of that kind (`domain::scope`): both sides read everything again and
//! what came into scope is matched, never duplicated; what left it is unlinked, never deleted.

use axum::extract::State;
use axum::http::HeaderMap;
use service_kit::extract::{BadInput, Json, Path};
use service_kit::telemetry::current_traceparent;
use sync_model::{ItemKind, Side, UserId};
use sync_protocol::{CommandMessage, Envelope, WatchScope};

use super::AppState;
use super::auth::{CurrentUser, require_service};
use crate::domain::scope;
use crate::domain::{Input, UserSettings};
use crate::error::ApiError;
use crate::store::{Tx, links, outbox, parked, progress, settings};
use service_kit::openapi::ErrorBody;
use uuid::Uuid;

#[utoipa::path(get, path = "/v1/settings", tag = "sync", security(("access_token" = [])),
    responses((status = 200, body = UserSettings), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_mine(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<UserSettings>, ApiError> {
    settings::get(&state.pool, user)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("settings"))
}

#[utoipa::path(put, path = "/v1/settings", tag = "sync", security(("access_token" = [])), request_body = UserSettings,
    responses((status = 200, body = UserSettings), (status = 400, body = ErrorBody, description = "nul_character (with the field)"), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "invalid_setting (with the field), invalid_body")))]
pub async fn put_mine(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: Result<Json<UserSettings>, BadInput>,
) -> Result<Json<UserSettings>, ApiError> {
    let Json(new) = body?;
    save(&state, user, new).await.map(Json)
}

#[utoipa::path(get, path = "/internal/v1/users/{user_id}/settings", tag = "internal", security(("service_token" = [])),
    params(("user_id" = uuid::Uuid, Path)), responses((status = 200, body = UserSettings), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<UserId>,
) -> Result<Json<UserSettings>, ApiError> {
    require_service(&headers, &state, service_kit::auth::Scope::Status)?;
    settings::get(&state.pool, user)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("settings"))
}

#[utoipa::path(put, path = "/internal/v1/users/{user_id}/settings", tag = "internal", security(("service_token" = [])),
    params(("user_id" = uuid::Uuid, Path)), request_body = UserSettings,
    responses((status = 200, body = UserSettings), (status = 400, body = ErrorBody, description = "nul_character (with the field)"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "invalid_setting (with the field), invalid_body, invalid_path")))]
pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<UserId>,
    body: Result<Json<UserSettings>, BadInput>,
) -> Result<Json<UserSettings>, ApiError> {
    require_service(&headers, &state, service_kit::auth::Scope::Settings)?;
    let Json(new) = body?;
    save(&state, user, new).await.map(Json)
}

/// "Sync now": both connectors poll every synced kind at once.
#[utoipa::path(post, path = "/v1/sync-now", tag = "sync", security(("access_token" = [])),
    responses((status = 200, description = "{\"polls\": n}"), (status = 404, body = ErrorBody)))]
pub async fn sync_now(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<serde_json::Value>, ApiError> {
    poll_now(&state, user).await
}

#[utoipa::path(post, path = "/internal/v1/users/{user_id}/sync-now", tag = "internal", security(("service_token" = [])),
    params(("user_id" = uuid::Uuid, Path)), responses((status = 200, description = "{\"polls\": n}"), (status = 404, body = ErrorBody, description = "not_found: the user has no settings")))]
pub async fn sync_now_internal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user): Path<UserId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_service(&headers, &state, service_kit::auth::Scope::SyncNow)?;
    poll_now(&state, user).await
}

async fn poll_now(state: &AppState, user: UserId) -> Result<Json<serde_json::Value>, ApiError> {
    let current = settings::get(&state.pool, user)
        .await?
        .ok_or(ApiError::NotFound("settings"))?;
    let mut tx = state.pool.begin().await?;
    let polls = poll_all(&mut tx, user, &current, false).await?;
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    Ok(Json(serde_json::json!({"polls": polls})))
}

/// Queues a poll (a full read when `full`) of every synced kind on both sides.
pub async fn poll_all(
    tx: &mut Tx<'_>,
    user: UserId,
    settings: &UserSettings,
    full: bool,
) -> Result<usize, ApiError> {
    let mut polls = 0;
    for kind in ItemKind::ALL
        .into_iter()
        .filter(|k| settings.direction(*k).is_some())
    {
        for side in Side::ALL {
            let command = CommandMessage::Poll {
                side,
                kind,
                full,
                identities: false,
            };
            outbox::push(
                tx,
                &Envelope::new(user, command).with_traceparent(current_traceparent()),
            )
            .await?;
            polls += 1;
        }
    }
    Ok(polls)
}

async fn save(state: &AppState, user: UserId, new: UserSettings) -> Result<UserSettings, ApiError> {
    if let Some(field) = new.field_with_nul() {
        return Err(ApiError::NulCharacter(field));
    }
    new.validate(state.min_poll_interval_secs)?;
    let mut tx = state.pool.begin().await?;
    crate::store::inbox::lock_user(&mut tx, user).await?;
    let old = settings::load(&mut tx, user).await?;
    settings::save(&mut tx, user, &new).await?;
    let rescopes = scope::rescopes(old.as_ref(), &new);
    let mut tags = Vec::new();
    for rescope in &rescopes {
        let id = Uuid::now_v7();
        progress::open_rescope(&mut tx, user, rescope.kind, id).await?;
        // Parked reads are of the old scope and untagged: the re-scope's full reads bring
        // again whatever is in scope (released later, one could link an old folder's item).
        parked::forget_kind(&mut tx, user, rescope.kind).await?;
        let (rules, _) = crate::handler::rules(&mut tx, user, rescope.kind)
            .await
            .map_err(ApiError::Internal)?;
        let (links, input) = if rescope.outlook_moved {
            // Everything known in the old folder or list left the scope: unlinked, not deleted.
            let moved = links::on_side(&mut tx, user, rescope.kind, Side::Outlook).await?;
            tracing::info!(%user, kind = %rescope.kind, links = moved.len(), "the Outlook scope moved");
            let input = Input::ScopeMoved {
                side: Side::Outlook,
            };
            (moved, input)
        } else {
            // What departed the old filter is judged anew by the re-scope's full read.
            let departed = links::departed_on(&mut tx, user, rescope.kind, Side::Outlook).await?;
            let input = Input::Rescoped {
                side: Side::Outlook,
            };
            (departed, input)
        };
        for link in links {
            crate::handler::apply(&mut tx, user, Some(link), input.clone(), rules)
                .await
                .map_err(ApiError::Internal)?;
        }
        tags.push((rescope.kind, id));
    }
    for kind in ItemKind::ALL {
        let rescope = tags.iter().find(|(k, _)| *k == kind).map(|(_, id)| *id);
        for side in Side::ALL {
            let watch = watch_command(&new, side, kind, rescope);
            outbox::push(
                &mut tx,
                &Envelope::new(user, watch).with_traceparent(current_traceparent()),
            )
            .await?;
        }
    }
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    Ok(new)
}

/// What `side`'s connector watches for `kind` under `settings`; with `rescope`, a full read of
/// the new scope tagged with it.
pub(crate) fn watch_command(
    settings: &UserSettings,
    side: Side,
    kind: ItemKind,
    rescope: Option<Uuid>,
) -> CommandMessage {
    let scope = settings.direction(kind).map(|_| WatchScope {
        container_id: settings.container(side, kind),
        poll_interval_secs: settings.poll_interval_secs,
        categories: settings.required_categories(side, kind),
    });
    CommandMessage::Watch {
        side,
        kind,
        scope,
        rescope,
    }
}
