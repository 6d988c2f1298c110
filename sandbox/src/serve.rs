//! The accept loop. `axum::serve` always answers; the sandbox must also be able to close a
//! connection without answering (an injected dropped connection). A response carrying the
//! [`DropConnection`] extension is turned into a service error here, on which hyper closes the
//! connection (HTTP/1) or resets the stream (HTTP/2) without writing anything.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::graph;

/// Put on a response to close the connection instead of sending it.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

/// How long in-flight connections get to finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(10);

async fn handle(router: Router, request: Request<Incoming>) -> Result<Response, DropConnection> {
    // Graph path segments are case-insensitive; they are normalised before routing.
    let request = graph::normalise_path(request.map(Body::new));
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if response.extensions().get::<DropConnection>().is_some() {
        return Err(DropConnection);
    }
    Ok(response)
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets open connections
/// finish (for at most [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let builder = Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Small answers on kept-alive connections must not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |request| handle(router.clone(), request));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors are clients going away or injected drops; neither is the server's problem.
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    Ok(())
}
