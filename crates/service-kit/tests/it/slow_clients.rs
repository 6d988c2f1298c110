//! Security audit (issue 15), slowloris: the HTTP server cuts off clients that send a request's
//! headers or body too slowly, and serves a bounded number of connections at once.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use service_kit::CancellationToken;
use service_kit::settings::ServerLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than any limit below: only there so that a broken server fails the test instead
/// of hanging it.
const GUARD: Duration = Duration::from_secs(60);

async fn server(limits: ServerLimits) -> (String, CancellationToken) {
    let router = Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/echo", post(|body: String| async move { body }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    tokio::spawn(service_kit::http::serve(
        listener,
        router,
        limits,
        shutdown.clone(),
    ));
    (address, shutdown)
}

/// Reads until the server closes the connection; what it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut answer))
        .await
        .expect("the server kept a slow client's connection open")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

fn short(max_connections: usize) -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        max_connections,
    }
}

#[tokio::test]
async fn slowloris_half_sent_headers_are_cut_off() {
    let (address, shutdown) = server(short(16)).await;
    let mut client = TcpStream::connect(&address).await.unwrap();
    client
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = read_until_closed(&mut client).await;
    assert!(!answer.contains("pong"), "{answer}");
    shutdown.cancel();
}

#[tokio::test]
async fn slowloris_half_sent_bodies_are_cut_off_even_when_trickled() {
    let (address, shutdown) = server(short(16)).await;
    let mut client = TcpStream::connect(&address).await.unwrap();
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        .await
        .unwrap();
    // A byte now and then never completes the body; the deadline does not move with them.
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if client.write_all(b"d").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(GUARD, trickle).await;
    let answer = read_until_closed(&mut client).await;
    assert!(!answer.contains("abcd"), "{answer}");
    shutdown.cancel();
}

#[tokio::test]
async fn a_whole_request_is_still_served() {
    let (address, shutdown) = server(short(16)).await;
    let mut client = TcpStream::connect(&address).await.unwrap();
    client
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .await
        .unwrap();
    let answer = read_until_closed(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hello"), "{answer}");
    shutdown.cancel();
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_one() {
    let limits = ServerLimits {
        header_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        max_connections: 1,
    };
    let (address, shutdown) = server(limits).await;
    // The one slot is held by a client that sends nothing yet.
    let mut holder = TcpStream::connect(&address).await.unwrap();
    holder.write_all(b"GET /ping HTTP/1.1\r\n").await.unwrap();
    let mut waiting = TcpStream::connect(&address).await.unwrap();
    waiting
        .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // Not served while the slot is taken (a short look: an answer would come at once).
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut byte))
            .await
            .is_err(),
        "a connection beyond the limit was served"
    );
    // The holder finishes its request; then the second connection is served.
    holder
        .write_all(b"Host: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let first = read_until_closed(&mut holder).await;
    assert!(first.ends_with("pong"), "{first}");
    let second = read_until_closed(&mut waiting).await;
    assert!(second.ends_with("pong"), "{second}");
    shutdown.cancel();
}
