//! HTTP routes. `internal`: the service-authenticated API the other services call; `public`:
//! the user-facing `/v1` API (bearer access tokens) and the JWKS.

pub mod admin;
pub mod connections;
pub mod extract;
pub mod internal;
pub mod public;
pub mod sso;

use std::sync::Arc;

use axum::Router;

use crate::startup::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(internal::router(state.clone()))
        .merge(public::router(state.clone()))
        .merge(admin::router(state.clone()))
        .merge(connections::router(state.clone()))
        .merge(sso::router(state))
        .route(
            "/openapi.json",
            axum::routing::get(|| async { axum::Json(crate::openapi::document()) }),
        )
}
