//! The client's IP address behind reverse proxies. `X-Forwarded-For` is written by whoever sent
//! the request, so it is believed only when the connection comes from a proxy the operator named,
//! and only as far back as trusted proxies vouch for each other.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed: IP addresses and CIDR networks. Empty (the
/// default): the header is ignored and the client is the connection's peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is neither an IP address nor a CIDR network (e.g. 10.0.0.5 or 10.0.0.0/24)")]
pub struct InvalidProxy(String);

impl FromStr for TrustedProxies {
    type Err = InvalidProxy;

    /// A comma-separated list, e.g. `10.0.0.5, 172.30.0.0/24, ::1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidProxy(entry.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }
}

impl TrustedProxies {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address of a request served by [`crate::http::serve`]: its peer (the
    /// `ConnectInfo` extension) through [`Self::client_address`] with its `X-Forwarded-For`
    /// headers. `None` when the server recorded no peer.
    pub fn of_request(
        &self,
        extensions: &axum::http::Extensions,
        headers: &axum::http::HeaderMap,
    ) -> Option<IpAddr> {
        let peer = extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?
            .0
            .ip();
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Some(self.client_address(peer, forwarded))
    }

    /// The client's address: `peer` itself unless it is a trusted proxy; then, reading
    /// `X-Forwarded-For` (all its values, in order) from the right, the first address that is
    /// not a trusted proxy. An unreadable entry ends the walk at the last address vouched for.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let entries: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for entry in entries.into_iter().rev() {
            let Ok(ip) = entry.parse::<IpAddr>() else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lists_of_addresses_and_networks_parse_and_garbage_is_refused() {
        let proxies: TrustedProxies = " 10.0.0.5, 172.30.0.0/24,,::1 ".parse().unwrap();
        assert!(proxies.contains(ip("10.0.0.5")));
        assert!(!proxies.contains(ip("10.0.0.6")));
        assert!(proxies.contains(ip("172.30.0.200")));
        assert!(
            proxies.contains(ip("::ffff:172.30.0.9")),
            "IPv4-mapped peer"
        );
        assert!(proxies.contains(ip("::1")));
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert_eq!(
            "10.0.0.5, web".parse::<TrustedProxies>(),
            Err(InvalidProxy("web".into()))
        );
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let proxies: TrustedProxies = "10.0.0.5".parse().unwrap();
        let spoofed = ["192.0.2.1"];
        assert_eq!(
            proxies.client_address(ip("203.0.113.9"), spoofed),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client_address(ip("10.0.0.5"), spoofed),
            ip("10.0.0.5"),
            "no proxies configured: never trusted"
        );
        assert_eq!(
            proxies.client_address(ip("10.0.0.5"), spoofed),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn only_trusted_hops_vouch_for_the_entry_before_them() {
        let proxies: TrustedProxies = "10.0.0.0/24".parse().unwrap();
        let peer = ip("10.0.0.5");
        // The client wrote the left-most entries itself; 198.51.100.7 is what our first proxy saw.
        assert_eq!(
            proxies.client_address(peer, ["1.1.1.1, 198.51.100.7", "10.0.0.8"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client_address(peer, ["1.1.1.1, not-an-ip, 10.0.0.8"]),
            ip("10.0.0.8")
        );
        assert_eq!(proxies.client_address(peer, []), peer);
    }
}
