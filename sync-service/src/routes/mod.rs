//! HTTP API. The internal endpoints (service token) provision settings until user sign-in lands.

mod settings;
mod status;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub service_token: SecretString,
    pub relay_wakeup: Arc<Notify>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/internal/v1/users/{user_id}/settings",
            get(settings::get).put(settings::put),
        )
        .route("/internal/v1/users/{user_id}/status", get(status::get))
        .with_state(state)
}
