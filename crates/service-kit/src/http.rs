//! What every service serves besides its own API: `/health/live`, `/health/ready` and
//! `/metrics`; and serving a router until shutdown.

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::settings::{HttpSettings, ServerLimits};

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

/// Serves until `shutdown` fires, letting in-flight requests finish, with a span per request
/// and `limits` against slow clients and connection floods (see [`serve_with_limits`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Spans carry the path only: query strings can hold secrets (an OAuth `code`, a `state`).
    let trace = tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |request: &axum::http::Request<axum::body::Body>| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        },
    );
    serve_with_limits(listener, router.layer(trace), limits, shutdown).await
}

/// Serves `router` (HTTP/1.1 and HTTP/2) until `shutdown` fires, then lets in-flight
/// connections finish. A client that has not sent a request's headers within
/// `limits.header_timeout`, or its body within `limits.body_timeout` of them, is cut off, and at
/// most `limits.max_connections` connections are served at once (the rest wait in the listen
/// queue): a slow or greedy client cannot hold the server (slowloris). Handlers see the peer's
/// address (`ConnectInfo<SocketAddr>`).
pub async fn serve_with_limits(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt as _;

    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let body_deadline = limits.body_timeout;
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot?,
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = tower::ServiceBuilder::new()
            .layer(tower_http::timeout::RequestBodyDeadlineLayer::new(
                body_deadline,
            ))
            .service(router.clone())
            .map_request(move |mut request: axum::http::Request<_>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
