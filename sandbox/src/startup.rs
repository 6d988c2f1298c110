//! Building and serving the application. [`Application::build`] binds the listener itself, so
//! tests pass port 0 and read the port back.

use anyhow::Context;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;
use crate::state::AppState;
use crate::{control, graph, serve, snapshot, zoho};

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
        let snapshot_file = settings.snapshot_file.clone();
        let host = settings.host.clone();
        let state = AppState::new(settings);
        if let Some(path) = &snapshot_file
            && snapshot::load(path, &mut state.world())?
        {
            tracing::info!(path = %path.display(), "snapshot loaded");
        }
        Ok(Application {
            listener,
            port,
            host,
            state,
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
        let state = self.state.clone();
        let app = router(self.state);
        let served = serve::serve(self.listener, app, self.shutdown).await;
        state.uninstall_router();
        if let Some(path) = &state.settings().snapshot_file {
            let bytes = snapshot::to_json(&state.world())?;
            snapshot::write(path, &bytes)?;
            tracing::info!(path = %path.display(), bytes = bytes.len(), "snapshot written");
        }
        served
    }
}

/// Every route: the two emulated APIs, their token endpoints, the control API and health.
pub fn router(state: AppState) -> Router {
    let health = || async { Json(json!({"status": "live"})) };
    let app = Router::new()
        .route("/health/live", get(health))
        .route("/health/ready", get(health))
        .nest(graph::BASE_PATH, graph::router(state.clone()))
        .route(
            "/login/{tenant}/oauth2/v2.0/token",
            post(graph::auth::token),
        )
        .route(
            "/login/{tenant}/oauth2/v2.0/authorize",
            get(graph::auth::authorize),
        )
        .nest(zoho::API_PATH, zoho::router(state.clone()))
        .route(
            "/zoho-accounts/{dc}/oauth/v2/token",
            post(zoho::auth::token),
        )
        .route(
            "/zoho-accounts/{dc}/oauth/v2/token/revoke",
            post(zoho::auth::revoke),
        )
        .route(
            "/zoho-accounts/{dc}/oauth/v2/auth",
            get(zoho::auth::authorize),
        )
        .nest("/oidc", crate::oidc::router())
        .nest("/entra", crate::oidc::entra_router())
        .nest("/_sandbox", control::router())
        .with_state(state.clone());
    state.install_router(app.clone());
    app
}
