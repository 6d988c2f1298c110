//! A TCP port that is down until the test says "up": then it forwards every connection to a real
//! server (Postgres, RabbitMQ). Stands for a dependency that starts after the service does.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A reserved local port with nothing listening on it yet.
pub struct LateProxy {
    port: u16,
    forwarding: Option<JoinHandle<()>>,
}

impl LateProxy {
    /// Picks a free port and leaves it closed: connections to it are refused.
    pub async fn reserve() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        drop(listener);
        Ok(LateProxy {
            port,
            forwarding: None,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts listening on the port and forwards each connection to `target`.
    pub async fn forward_to(&mut self, target: SocketAddr) -> anyhow::Result<()> {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        self.forwarding = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
        Ok(())
    }
}

impl Drop for LateProxy {
    fn drop(&mut self) {
        if let Some(task) = self.forwarding.take() {
            task.abort();
        }
    }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`, and the address it named.
pub fn through_port(url: &str, port: u16) -> anyhow::Result<(String, SocketAddr)> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow::anyhow!("not a URL: no scheme"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    let target = std::net::ToSocketAddrs::to_socket_addrs(host_port)?
        .next()
        .ok_or_else(|| anyhow::anyhow!("the URL's host does not resolve"))?;
    let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
    Ok((
        format!("{scheme}://{userinfo}127.0.0.1:{port}/{path}"),
        target,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_pointed_at_the_proxy() {
        let (url, target) =
            through_port("postgres://postgres:pw@127.0.0.1:5432/test_x", 40000).unwrap();
        assert_eq!(url, "postgres://postgres:pw@127.0.0.1:40000/test_x");
        assert_eq!(target, "127.0.0.1:5432".parse().unwrap());
        let (url, _) = through_port("amqp://guest:guest@127.0.0.1:5672/%2f", 1).unwrap();
        assert_eq!(url, "amqp://guest:guest@127.0.0.1:1/%2f");
    }
}
