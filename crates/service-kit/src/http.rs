//! What every service serves besides its own API: `/health/live`, `/health/ready` and
//! `/metrics`; and serving a router until shutdown.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::settings::HttpSettings;

/// What readiness depends on.
#[derive(Clone, Default)]
pub struct Dependencies {
    pub database: Option<PgPool>,
    pub broker: Option<Broker>,
}

/// The process-wide Prometheus recorder. Installed once; services started in one test process
/// share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => handle,
            // Another recorder is already global (should not happen): serve an empty registry
            // rather than fail the service.
            Err(_) => PrometheusBuilder::new().build_recorder().handle(),
        })
        .clone()
}

/// Routes for health and metrics, to merge into a service's router.
pub fn operational_routes(deps: Dependencies) -> Router {
    let handle = metrics_handle();
    Router::new()
        .route(
            "/health/live",
            get(|| async { Json(json!({"status": "live"})) }),
        )
        .route("/health/ready", get(ready))
        .with_state(deps)
        .route("/metrics", get(move || std::future::ready(handle.render())))
}

async fn ready(State(deps): State<Dependencies>) -> impl IntoResponse {
    let database = match &deps.database {
        Some(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
        None => true,
    };
    let broker = deps.broker.as_ref().is_none_or(Broker::is_connected);
    let status = if database && broker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "up" } else { "down" };
    (
        status,
        Json(json!({"database": word(database), "broker": word(broker)})),
    )
}

pub async fn bind(settings: &HttpSettings) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind((settings.host.as_str(), settings.port)).await?;
    Ok(listener)
}

/// Serves until `shutdown` fires, letting in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Spans carry the path only: query strings can hold secrets (an OAuth `code`, a `state`).
    let trace = tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |request: &axum::http::Request<axum::body::Body>| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        },
    );
    let router = router.layer(trace);
    // The peer's address is available to handlers (`ConnectInfo<SocketAddr>`), e.g. for an edge
    // that tells the services behind it who the client is.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

/// Fires `token` on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
        #[cfg(unix)]
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}
