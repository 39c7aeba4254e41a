//! The client's address, for the login limits: the connection's peer — as the connection guard
//! names it in its `X-Stpt-Peer-Addr` header (believed only from a loopback peer: the guard
//! replaces any a client sends) — or, when that peer is a proxy the server was told to trust
//! (`--trusted-proxy`), the address the proxy says it forwarded for (`X-Forwarded-For`, else
//! `X-Real-IP`). Anyone else's forwarding headers are ignored, so a client cannot pick the
//! address it is counted under.
//!
//! The main types here are [`ProxyRange`] (an address or a CIDR range) and [`ClientAddr`], a
//! request guard.

use std::net::IpAddr;
use std::str::FromStr;

use rocket::Request;
use rocket::request::{FromRequest, Outcome};

/// An address or a range of addresses (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRange {
    network: IpAddr,
    prefix: u8,
}

/// A string that is no address or range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an IP address or CIDR range (10.0.0.5, 10.0.0.0/8, fd00::/8)")]
pub struct InvalidProxyRange {
    /// What was given.
    pub value: String,
}

impl FromStr for ProxyRange {
    type Err = InvalidProxyRange;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidProxyRange {
            value: s.to_owned(),
        };
        let (address, prefix) = match s.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| invalid())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(invalid)?,
            None => max,
        };
        Ok(ProxyRange { network, prefix })
    }
}

impl ProxyRange {
    /// Whether `ip` lies in the range (an IPv4-mapped IPv6 address counts as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose forwarding headers are believed (managed state).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<ProxyRange>);

impl TrustedProxies {
    fn trust(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client behind `peer`, given the forwarding headers it sent.
    pub fn client(
        &self,
        peer: IpAddr,
        forwarded_for: Option<&str>,
        real_ip: Option<&str>,
    ) -> IpAddr {
        if !self.trust(peer) {
            return peer;
        }
        if let Some(hops) = forwarded_for {
            // The rightmost hop a trusted proxy did not add is the client.
            let mut client = peer;
            for hop in hops.rsplit(',') {
                let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                    break;
                };
                client = ip;
                if !self.trust(ip) {
                    break;
                }
            }
            return client;
        }
        real_ip
            .and_then(|ip| ip.trim().parse().ok())
            .unwrap_or(peer)
    }
}

/// The client's address as the login limits count it; `None` without a network peer (a
/// request made in-process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) Option<IpAddr>);

impl ClientAddr {
    /// The address as text, for the limiter's keys.
    pub(crate) fn key(&self) -> String {
        self.0.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientAddr {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let Some(remote) = request.remote().map(|remote| remote.ip().to_canonical()) else {
            return Outcome::Success(ClientAddr(None));
        };
        // Relayed by the connection guard: the client's own connection is the peer.
        let peer = if remote.is_loopback() {
            request
                .headers()
                .get_one(crate::guard::PEER_HEADER)
                .and_then(|value| value.trim().parse::<IpAddr>().ok())
                .map_or(remote, |ip| ip.to_canonical())
        } else {
            remote
        };
        let proxies = request
            .rocket()
            .state::<TrustedProxies>()
            .cloned()
            .unwrap_or_default();
        let headers = request.headers();
        Outcome::Success(ClientAddr(Some(proxies.client(
            peer,
            headers.get_one("X-Forwarded-For"),
            headers.get_one("X-Real-IP"),
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    #[test]
    fn ranges_parse_and_contain() {
        let lan: ProxyRange = "10.0.0.0/8".parse().unwrap();
        assert!(lan.contains(ip("10.1.2.3")));
        assert!(!lan.contains(ip("11.0.0.1")));
        assert!(lan.contains(ip("::ffff:10.0.0.1")));
        let one: ProxyRange = "192.168.1.5".parse().unwrap();
        assert!(one.contains(ip("192.168.1.5")) && !one.contains(ip("192.168.1.6")));
        let v6: ProxyRange = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: ProxyRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "proxy.lan", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<ProxyRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()]);
        // Not a proxy: its headers are ignored.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), Some("1.2.3.4"), Some("5.6.7.8")),
            ip("203.0.113.9")
        );
        // A trusted proxy: the rightmost hop it did not add.
        assert_eq!(
            proxies.client(
                ip("10.0.0.2"),
                Some("6.6.6.6, 198.51.100.7, 10.0.0.3"),
                None
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), None, Some("198.51.100.8")),
            ip("198.51.100.8")
        );
        assert_eq!(proxies.client(ip("10.0.0.2"), None, None), ip("10.0.0.2"));
        // Nothing trusted by default.
        assert_eq!(
            TrustedProxies::default().client(ip("127.0.0.1"), Some("1.2.3.4"), None),
            ip("127.0.0.1")
        );
    }
}
