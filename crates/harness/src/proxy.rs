//! A TCP proxy that a test cuts and restores: an outage of Postgres or RabbitMQ that only the
//! processes connecting through it see. Cutting closes every open connection at once (as a
//! server restart does: the server rolls back what was in flight, the client sees the
//! connection end) and stops listening, so that new connections are refused as by a server that
//! is down, until it is restored (listening again on the same port).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub struct Proxy {
    port: u16,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

struct Shared {
    up: AtomicBool,
    /// Cancelled when the proxy is cut: every connection opened before ends, the listener closes.
    generation: Mutex<CancellationToken>,
    connections: AtomicU64,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            up: AtomicBool::new(true),
            generation: Mutex::new(CancellationToken::new()),
            connections: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(
            listener,
            port,
            upstream,
            shared.clone(),
            stop.clone(),
        ));
        Ok(Proxy {
            port,
            upstream,
            shared,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Closes every connection and refuses new ones until [`Proxy::restore`].
    pub async fn cut(&self) {
        self.shared.up.store(false, Ordering::SeqCst);
        let mut generation = self.shared.generation.lock().await;
        generation.cancel();
        *generation = CancellationToken::new();
    }

    pub fn restore(&self) {
        self.shared.up.store(true, Ordering::SeqCst);
    }

    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// Connections forwarded so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// `url` (a `postgres://` or `amqp://` URL) with its host and port replaced by the proxy's.
    pub fn rewrite(&self, url: &str) -> anyhow::Result<String> {
        let mut parsed = url::Url::parse(url)?;
        parsed
            .set_host(Some("127.0.0.1"))
            .map_err(|e| anyhow::anyhow!("cannot set the host of {url}: {e}"))?;
        parsed
            .set_port(Some(self.port))
            .map_err(|()| anyhow::anyhow!("cannot set the port of {url}"))?;
        Ok(parsed.to_string())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Ok(generation) = self.shared.generation.try_lock() {
            generation.cancel();
        }
    }
}

/// The `host:port` a URL points at (default ports: Postgres 5432, AMQP 5672).
pub async fn upstream_of(url: &str) -> anyhow::Result<SocketAddr> {
    let parsed = url::Url::parse(url)?;
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = parsed.port().unwrap_or(match parsed.scheme() {
        "amqp" => 5672,
        "amqps" => 5671,
        _ => 5432,
    });
    tokio::net::lookup_host((host.as_str(), port))
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host}:{port} resolves to nothing"))
}

async fn accept_loop(
    first: TcpListener,
    port: u16,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let mut listener = Some(first);
    loop {
        // Down: nothing listens (connections are refused) until restored.
        while !shared.up.load(Ordering::SeqCst) {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
        }
        let current = match listener.take() {
            Some(current) => current,
            None => match TcpListener::bind(("127.0.0.1", port)).await {
                Ok(bound) => bound,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let cut = shared.generation.lock().await.clone();
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                _ = cut.cancelled() => break,
                accepted = current.accept() => accepted,
            };
            let Ok((client, _)) = accepted else {
                continue;
            };
            shared.connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(forward(client, upstream, cut.clone()));
        }
        drop(current);
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, cut: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // On a cut both sockets are dropped: each end sees the connection go, as when the server
    // goes down.
    tokio::select! {
        _ = cut.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn a_cut_ends_open_connections_and_refuses_new_ones_until_restored() {
        let proxy = Proxy::start(echo_server().await).await.unwrap();
        let mut open = TcpStream::connect(("127.0.0.1", proxy.port()))
            .await
            .unwrap();
        assert_eq!(round_trip(&mut open).await.unwrap(), b"ping");

        proxy.cut().await;
        assert!(round_trip(&mut open).await.is_err(), "the open one ends");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            TcpStream::connect(("127.0.0.1", proxy.port()))
                .await
                .is_err(),
            "a new one is refused"
        );

        proxy.restore();
        let mut again = None;
        for _ in 0..50 {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", proxy.port())).await {
                again = Some(stream);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut again = again.expect("listening again after the restore");
        assert_eq!(round_trip(&mut again).await.unwrap(), b"ping");
        assert_eq!(proxy.connections(), 2);
    }

    #[test]
    fn urls_are_pointed_at_the_proxy() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap())
                .await
                .unwrap();
            let port = proxy.port();
            assert_eq!(
                proxy
                    .rewrite("postgres://postgres:postgres@127.0.0.1:5432/test_x")
                    .unwrap(),
                format!("postgres://postgres:postgres@127.0.0.1:{port}/test_x")
            );
            assert_eq!(
                proxy
                    .rewrite("amqp://guest:guest@localhost:5672/%2f")
                    .unwrap(),
                format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
            );
        });
    }
}
