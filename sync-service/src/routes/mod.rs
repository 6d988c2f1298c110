//! HTTP API: the user API (`/v1/...`, bearer token from auth-service), the admin API
//! (`/v1/admin/...`, an admin's token) and the internal API (`/internal/v1/...`, the operator's
//! credential: provisioning by the local runner and tests).

pub(crate) mod admin;
mod auth;
pub(crate) mod conflicts;
pub(crate) mod settings;
pub(crate) mod status;

use std::sync::Arc;

use auth_client::TokenVerifier;
use axum::Router;
use axum::routing::{get, post};
use service_kit::broker::Publisher;
use sqlx::PgPool;
use tokio::sync::Notify;

pub use auth::{AdminUser, CurrentUser};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub callers: service_kit::auth::Callers,
    pub relay_wakeup: Arc<Notify>,
    pub verifier: Arc<TokenVerifier>,
    pub publisher: Publisher,
    /// This deployment's floor on users' poll interval.
    pub min_poll_interval_secs: u32,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/settings",
            get(settings::get_mine).put(settings::put_mine),
        )
        .route("/v1/status", get(status::mine))
        .route("/v1/sync-now", post(settings::sync_now))
        .route("/v1/conflicts", get(conflicts::list))
        .route("/v1/conflicts/{link_id}/resolve", post(conflicts::resolve))
        .route("/v1/admin/users/{user_id}/links", get(admin::link_health))
        .route("/v1/admin/users/{user_id}/resync", post(admin::resync))
        .route(
            "/v1/admin/users/{user_id}/rebuild-links",
            post(admin::rebuild_links),
        )
        .route("/v1/admin/held-deletions", get(admin::held_deletions))
        .route(
            "/v1/admin/held-deletions/release",
            post(admin::release_many),
        )
        .route(
            "/v1/admin/held-deletions/discard",
            post(admin::discard_many),
        )
        .route(
            "/v1/admin/held-deletions/{link_id}/release",
            post(admin::release),
        )
        .route(
            "/v1/admin/held-deletions/{link_id}/discard",
            post(admin::discard),
        )
        .route("/v1/admin/held-users", get(admin::held_users))
        .route("/v1/admin/users/{user_id}/unblock", post(admin::unblock))
        .route("/v1/admin/dead-letters", get(admin::dead_letters))
        .route("/v1/admin/dead-letters/{id}/replay", post(admin::replay))
        .route(
            "/internal/v1/users/{user_id}/settings",
            get(settings::get).put(settings::put),
        )
        .route("/internal/v1/users/{user_id}/status", get(status::get))
        .route(
            "/internal/v1/users/{user_id}/sync-now",
            post(settings::sync_now_internal),
        )
        .with_state(state)
        .route(
            "/openapi.json",
            get(|| async { axum::Json(crate::openapi::document()) }),
        )
}
