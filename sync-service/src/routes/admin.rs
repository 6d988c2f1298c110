//! The admin API: link health, held-back deletions, dead letters, full resyncs.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use service_kit::extract::{BadInput, Json, Path, Query};
use sync_model::{ItemKind, LinkId, Side, UserId};
use sync_protocol::topology::{CHANGES_EXCHANGE, COMMANDS_EXCHANGE};
use sync_protocol::{ChangeMessage, CommandMessage, Envelope};

use super::AppState;
use super::auth::{AdminReader, AdminUser};
use super::settings::{poll_all, watch_command};
use crate::domain::{Input, LinkStatus};
use crate::error::ApiError;
use crate::store::{held, inbox, links, outbox, parked, progress, settings};
use service_kit::openapi::ErrorBody;

#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StatusCount {
    pub kind: String,
    pub status: String,
    pub count: i64,
    pub failing: i64,
}

#[utoipa::path(get, path = "/v1/admin/users/{user_id}/links", tag = "admin", security(("access_token" = [])),
    params(("user_id" = uuid::Uuid, Path)), responses((status = 200, body = Vec<StatusCount>), (status = 403, body = ErrorBody)))]
pub async fn link_health(
    State(state): State<AppState>,
    _admin: AdminReader,
    Path(user): Path<UserId>,
) -> Result<Json<Vec<StatusCount>>, ApiError> {
    let counts = sqlx::query_as(
        "SELECT kind, status, count(*) AS count, count(*) FILTER (WHERE last_error IS NOT NULL) AS failing
         FROM links WHERE user_id = $1 GROUP BY kind, status ORDER BY kind, status",
    )
    .bind(user.0)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(counts))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HeldDeletion {
    pub link_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub kind: String,
    /// The side where the item was deleted (`outlook`, `zoho`).
    pub deleted_by: Option<String>,
    /// The item as people name it: a contact's full name and company, a task's or event's
    /// subject.
    pub label: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[utoipa::path(get, path = "/v1/admin/held-deletions", tag = "admin", security(("access_token" = [])),
    responses((status = 200, body = Vec<HeldDeletion>), (status = 403, body = ErrorBody)))]
pub async fn held_deletions(
    State(state): State<AppState>,
    _admin: AdminReader,
) -> Result<Json<Vec<HeldDeletion>>, ApiError> {
    type Row = (
        uuid::Uuid,
        uuid::Uuid,
        String,
        Option<String>,
        serde_json::Value,
        chrono::DateTime<chrono::Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, user_id, kind, deleted_by, doc->'target', updated_at
         FROM links WHERE status = 'held_delete' ORDER BY user_id, kind, updated_at LIMIT 1000",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(
                |(link_id, user_id, kind, deleted_by, target, updated_at)| HeldDeletion {
                    link_id,
                    user_id,
                    kind,
                    deleted_by,
                    label: serde_json::from_value::<sync_model::Item>(target)
                        .ok()
                        .map(|item| item.label())
                        .filter(|l| !l.is_empty()),
                    updated_at,
                },
            )
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct HeldBatch {
    pub link_ids: Vec<uuid::Uuid>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HeldBatchOutcome {
    /// Decided now.
    pub decided: Vec<uuid::Uuid>,
    /// No longer held (decided meanwhile, or unknown).
    pub not_found: Vec<uuid::Uuid>,
}

/// The most held deletions one request decides.
const BATCH_LIMIT: usize = 1000;

async fn decide_batch(
    state: State<AppState>,
    admin: AdminUser,
    body: HeldBatch,
    input: Input,
) -> Result<Json<HeldBatchOutcome>, ApiError> {
    if body.link_ids.len() > BATCH_LIMIT {
        return Err(
            BadInput::Body(format!("link_ids: at most {BATCH_LIMIT} items at once")).into(),
        );
    }
    let mut outcome = HeldBatchOutcome {
        decided: Vec::new(),
        not_found: Vec::new(),
    };
    // One transaction per item: each is decided (and its commands written) on its own, as the
    // single-item endpoints do; one already decided does not stop the others.
    for link_id in body.link_ids {
        let admin = AdminUser(admin.0);
        match decide_held(State(state.0.clone()), admin, Path(link_id), input.clone()).await {
            Ok(_) => outcome.decided.push(link_id),
            Err(ApiError::NotFound(_)) => outcome.not_found.push(link_id),
            Err(other) => return Err(other),
        }
    }
    Ok(Json(outcome))
}

/// Releases many held deletions at once: each item is deleted on the other side too.
#[utoipa::path(post, path = "/v1/admin/held-deletions/release", tag = "admin", security(("access_token" = [])),
    request_body = HeldBatch, responses((status = 200, body = HeldBatchOutcome), (status = 422, body = ErrorBody, description = "invalid_body: not a list of link ids, or more than 1000")))]
pub async fn release_many(
    state: State<AppState>,
    admin: AdminUser,
    body: Result<Json<HeldBatch>, BadInput>,
) -> Result<Json<HeldBatchOutcome>, ApiError> {
    let Json(body) = body?;
    decide_batch(state, admin, body, Input::ReleaseDelete).await
}

/// Discards many held deletions at once: each item comes back where it was deleted.
#[utoipa::path(post, path = "/v1/admin/held-deletions/discard", tag = "admin", security(("access_token" = [])),
    request_body = HeldBatch, responses((status = 200, body = HeldBatchOutcome), (status = 422, body = ErrorBody, description = "invalid_body: not a list of link ids, or more than 1000")))]
pub async fn discard_many(
    state: State<AppState>,
    admin: AdminUser,
    body: Result<Json<HeldBatch>, BadInput>,
) -> Result<Json<HeldBatchOutcome>, ApiError> {
    let Json(body) = body?;
    decide_batch(state, admin, body, Input::DiscardDelete).await
}

#[utoipa::path(post, path = "/v1/admin/held-deletions/{link_id}/release", tag = "admin", security(("access_token" = [])),
    params(("link_id" = uuid::Uuid, Path)), responses((status = 200, description = "deleted on the other side"), (status = 404, body = ErrorBody)))]
pub async fn release(
    state: State<AppState>,
    admin: AdminUser,
    path: Path<uuid::Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    decide_held(state, admin, path, Input::ReleaseDelete).await
}

#[utoipa::path(post, path = "/v1/admin/held-deletions/{link_id}/discard", tag = "admin", security(("access_token" = [])),
    params(("link_id" = uuid::Uuid, Path)), responses((status = 200, description = "the item comes back where it was deleted"), (status = 404, body = ErrorBody)))]
pub async fn discard(
    state: State<AppState>,
    admin: AdminUser,
    path: Path<uuid::Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    decide_held(state, admin, path, Input::DiscardDelete).await
}

async fn decide_held(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(link_id): Path<uuid::Uuid>,
    input: Input,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut tx = state.pool.begin().await?;
    let owner: Option<(uuid::Uuid,)> = sqlx::query_as("SELECT user_id FROM links WHERE id = $1")
        .bind(link_id)
        .fetch_optional(&mut *tx)
        .await?;
    let user = UserId(owner.ok_or(ApiError::NotFound("held deletion"))?.0);
    inbox::lock_user(&mut tx, user).await?;
    let link = links::get(&mut tx, LinkId(link_id))
        .await?
        .filter(|l| matches!(l.status, LinkStatus::HeldDelete { .. }))
        .ok_or(ApiError::NotFound("held deletion"))?;
    let (rules, _) = crate::handler::rules(&mut tx, user, link.kind)
        .await
        .map_err(ApiError::Internal)?;
    let action = if input == Input::ReleaseDelete {
        "released"
    } else {
        "discarded"
    };
    let wrote = crate::handler::apply(&mut tx, user, Some(link), input, rules)
        .await
        .map_err(ApiError::Internal)?;
    tx.commit().await?;
    tracing::info!(%admin, %link_id, action, "held deletion decided by an admin");
    if wrote {
        state.relay_wakeup.notify_one();
    }
    Ok(Json(serde_json::json!({"status": action})))
}

#[derive(Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: i64,
    pub routing_key: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The message as text (it may not be valid JSON: that can be why it was refused).
    pub payload: String,
}

#[utoipa::path(get, path = "/v1/admin/dead-letters", tag = "admin", security(("access_token" = [])),
    responses((status = 200, body = Vec<DeadLetter>), (status = 403, body = ErrorBody)))]
pub async fn dead_letters(
    State(state): State<AppState>,
    _admin: AdminReader,
) -> Result<Json<Vec<DeadLetter>>, ApiError> {
    let rows = sqlx::query_as(
        "SELECT id, routing_key, received_at, convert_from(payload, 'UTF8') AS payload
         FROM dead_letters ORDER BY id DESC LIMIT 500",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(rows))
}

/// Publishes a dead letter again to where it first went, then forgets it.
#[utoipa::path(post, path = "/v1/admin/dead-letters/{id}/replay", tag = "admin", security(("access_token" = [])),
    params(("id" = i64, Path)), responses((status = 200, description = "published again"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replay(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut tx = state.pool.begin().await?;
    let row: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT routing_key, payload FROM dead_letters WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (routing_key, payload) = row.ok_or(ApiError::NotFound("dead letter"))?;
    let exchange = if serde_json::from_slice::<Envelope<ChangeMessage>>(&payload).is_ok() {
        CHANGES_EXCHANGE
    } else if serde_json::from_slice::<Envelope<CommandMessage>>(&payload).is_ok() {
        COMMANDS_EXCHANGE
    } else {
        return Err(ApiError::Conflict(
            "unreadable_message",
            "this message cannot be read, so it cannot be replayed",
        ));
    };
    let mut message: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|e| ApiError::Internal(e.into()))?;
    // The admin wants it decided now: a poll claim on it, older than those decided since it
    // was set aside, would have it dropped as a stale page (decisions #112).
    if let Some(envelope) = message.as_object_mut() {
        envelope.remove("claim");
    }
    let prefix = state.publisher.prefix().to_owned();
    state
        .publisher
        .publish(
            &format!("{prefix}{exchange}"),
            &routing_key,
            &message,
            uuid::Uuid::now_v7(),
        )
        .await
        .map_err(ApiError::Internal)?;
    sqlx::query("DELETE FROM dead_letters WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(%admin, id, "dead letter replayed");
    Ok(Json(serde_json::json!({"replayed": id})))
}

/// Reads everything of the user again on both sides; links make it create nothing twice.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/resync", tag = "admin", security(("access_token" = [])),
    params(("user_id" = uuid::Uuid, Path)), responses((status = 200, description = "{\"polls\": n}"), (status = 404, body = ErrorBody)))]
pub async fn resync(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user): Path<UserId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let current = settings::get(&state.pool, user)
        .await?
        .ok_or(ApiError::NotFound("settings"))?;
    let mut tx = state.pool.begin().await?;
    let polls = poll_all(&mut tx, user, &current, true).await?;
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    tracing::info!(%admin, %user, "full resync requested");
    Ok(Json(serde_json::json!({"polls": polls})))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RebuildFilter {
    /// Rebuild only this kind (`contact`, `task` or `event`); every synced kind when absent.
    pub kind: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RebuildStarted {
    /// The kinds being rebuilt.
    pub kinds: Vec<String>,
    /// Links dropped (they are rebuilt from both sides).
    pub links_dropped: u64,
    /// Writes not yet sent that were dropped with their links.
    pub writes_dropped: u64,
}

/// Rebuilds a user's links from both sides (after a database loss, or links that went wrong):
/// drops the links and parked reads of the kinds, then both sides are read in full with the
/// identities our copies carry. Copies pair with their originals (keeping their link ids),
/// the rest by the first-sync keys; nothing is created, what finds no partner is reported as
/// `unpaired`. The status shows the first sync's progress meanwhile.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/rebuild-links", tag = "admin", security(("access_token" = [])),
    params(("user_id" = uuid::Uuid, Path), RebuildFilter),
    responses((status = 200, body = RebuildStarted), (status = 422, body = ErrorBody, description = "invalid_path, invalid_query: an unknown kind"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rebuild_links(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user): Path<UserId>,
    Query(filter): Query<RebuildFilter>,
) -> Result<Json<RebuildStarted>, ApiError> {
    let only: Option<ItemKind> = filter
        .kind
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| BadInput::Query(format!("kind: {e}")))?;
    let current = settings::get(&state.pool, user)
        .await?
        .ok_or(ApiError::NotFound("settings"))?;
    let kinds: Vec<ItemKind> = ItemKind::ALL
        .into_iter()
        .filter(|k| only.is_none_or(|o| o == *k) && current.direction(*k).is_some())
        .collect();
    if kinds.is_empty() {
        return Err(ApiError::Conflict(
            "kind_not_synced",
            "no such kind syncs for this user",
        ));
    }
    let mut tx = state.pool.begin().await?;
    // No change of this user is handled meanwhile: the drop and the restart are one step.
    inbox::lock_user(&mut tx, user).await?;
    let (mut links_dropped, mut writes_dropped) = (0, 0);
    for kind in &kinds {
        links_dropped += links::remove_kind(&mut tx, user, *kind).await?;
        parked::forget_kind(&mut tx, user, *kind).await?;
        writes_dropped += outbox::drop_unpublished_writes(&mut tx, user, *kind).await?;
        // A re-scope: only full reads that begin after this count for the rebuild's first sync.
        let rescope = uuid::Uuid::now_v7();
        progress::open_rescope(&mut tx, user, *kind, rescope).await?;
        progress::mark_rebuilding(&mut tx, user, *kind).await?;
        for side in Side::ALL {
            // First the identify request, then the re-scope's full read it applies to.
            let commands = [
                CommandMessage::Poll {
                    side,
                    kind: *kind,
                    full: false,
                    identities: true,
                },
                watch_command(&current, side, *kind, Some(rescope)),
            ];
            for command in commands {
                outbox::push(
                    &mut tx,
                    &Envelope::new(user, command)
                        .with_traceparent(service_kit::telemetry::current_traceparent()),
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    state.relay_wakeup.notify_one();
    let kinds: Vec<String> = kinds.iter().map(|k| k.as_str().to_owned()).collect();
    tracing::info!(%admin, %user, ?kinds, links_dropped, writes_dropped, "links rebuild started");
    Ok(Json(RebuildStarted {
        kinds,
        links_dropped,
        writes_dropped,
    }))
}

/// A user whose changes are held behind one that failed.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HeldUser {
    pub user_id: uuid::Uuid,
    #[serde(flatten)]
    pub held: super::status::Held,
}

/// Users whose changes are held, blocked ones first (decisions #58).
#[utoipa::path(get, path = "/v1/admin/held-users", tag = "admin", security(("access_token" = [])),
    responses((status = 200, body = Vec<HeldUser>), (status = 403, body = ErrorBody)))]
pub async fn held_users(
    State(state): State<AppState>,
    _admin: AdminReader,
) -> Result<Json<Vec<HeldUser>>, ApiError> {
    let users = held::waiting(&state.pool)
        .await?
        .into_iter()
        .map(|w| HeldUser {
            user_id: w.user_id,
            held: w.into(),
        })
        .collect();
    Ok(Json(users))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UnblockRequest {
    pub action: held::Unblock,
}

/// A blocked user's failed change: tried again (`retry`) or set aside among the dead letters
/// (`skip`); either way the user's waiting changes follow, in order.
#[utoipa::path(post, path = "/v1/admin/users/{user_id}/unblock", tag = "admin", security(("access_token" = [])),
    params(("user_id" = uuid::Uuid, Path)), request_body = UnblockRequest,
    responses((status = 200, description = "the held changes go on"), (status = 404, body = ErrorBody)))]
pub async fn unblock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user): Path<UserId>,
    request: Result<Json<UnblockRequest>, BadInput>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = request?;
    if !held::unblock(&state.pool, user, request.action).await? {
        return Err(ApiError::NotFound("blocked user"));
    }
    tracing::info!(%admin, %user, action = ?request.action, "blocked user released by an admin");
    Ok(Json(serde_json::json!({"unblocked": true})))
}
