//! Building and serving the application. [`Application::build`] binds the listener itself, so
//! tests pass port 0 and read the port back.

use anyhow::Context;
use axum::extract::Request;
use axum::routing::{get, post};
use axum::{Json, Router, ServiceExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower::util::MapRequestLayer;

use crate::settings::Settings;
use crate::state::AppState;
use crate::{control, graph, zoho};

pub struct Application {
    listener: TcpListener,
    port: u16,
    host: String,
    state: AppState,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .await
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        Ok(Application {
            listener,
            port,
            host: settings.host.clone(),
            state: AppState::new(settings),
            shutdown: CancellationToken::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` (a wildcard bind is reached through the loopback address).
    pub fn base_url(&self) -> String {
        let host = match self.host.as_str() {
            "0.0.0.0" | "" => "127.0.0.1".to_owned(),
            "::" => "[::1]".to_owned(),
            h if h.contains(':') => format!("[{h}]"),
            h => h.to_owned(),
        };
        format!("http://{host}:{}", self.port)
    }

    /// Cancelling this token stops the server after in-flight requests finish.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let app = router(self.state);
        // Graph path segments are case-insensitive; they are normalised before routing.
        let app = MapRequestLayer::new(graph::normalise_path as fn(Request) -> Request).layer(app);
        let shutdown = self.shutdown;
        axum::serve(self.listener, ServiceExt::<Request>::into_make_service(app))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        Ok(())
    }
}

/// Every route: the two emulated APIs, their token endpoints, the control API and health.
pub fn router(state: AppState) -> Router {
    let health = || async { Json(json!({"status": "live"})) };
    Router::new()
        .route("/health/live", get(health))
        .route("/health/ready", get(health))
        .nest(graph::BASE_PATH, graph::router(state.clone()))
        .route(
            "/login/{tenant}/oauth2/v2.0/token",
            post(graph::auth::token),
        )
        .nest(zoho::API_PATH, zoho::router(state.clone()))
        .route(
            "/zoho-accounts/{dc}/oauth/v2/token",
            post(zoho::auth::token),
        )
        .nest("/_sandbox", control::router())
        .with_state(state)
}
