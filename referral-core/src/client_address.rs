//! Which address a request comes from: the socket peer, or — only when the peer is a
//! trusted proxy — the address that proxy reports in `X-Forwarded-For`.
//!
//! Per-address limits (sign-ups, reset requests) count this address, so believing a
//! forwarded header from anyone would let a client pick its own address per request.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The client address of a request that reached this process from `peer`, carrying the
/// `X-Forwarded-For` value `forwarded_for` (all such headers joined with `,`).
///
/// `forwarded_for` is read only when `peer` is inside one of `trusted_proxies`; then the
/// list is walked from the right (the hop nearest to us), skipping trusted proxies, and the
/// first address that is not one is the client. An entry that is not an address stops the
/// walk at the proxy that reported it. Without a peer (a caller that is not HTTP) there is
/// no address.
///
/// ```
/// use referral_core::client_address;
/// let proxies = ["10.0.0.0/8".parse().unwrap()];
/// let peer = Some("10.0.0.2".parse().unwrap());
/// assert_eq!(
///     client_address(peer, Some("203.0.113.9, 10.0.0.7"), &proxies),
///     Some("203.0.113.9".parse().unwrap())
/// );
/// // An untrusted peer's header is ignored.
/// let outsider = Some("198.51.100.4".parse().unwrap());
/// assert_eq!(client_address(outsider, Some("203.0.113.9"), &proxies), outsider);
/// ```
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpNet],
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let trusted = |address: &IpAddr| trusted_proxies.iter().any(|net| net.contains(address));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or("").rsplit(',') {
        let hop = hop.trim();
        if hop.is_empty() {
            continue;
        }
        let Some(address) = parse_hop(hop) else {
            break;
        };
        client = address;
        if !trusted(&address) {
            break;
        }
    }
    Some(client)
}

/// An address as proxies write it: bare, with a port, or bracketed IPv6 with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(canonical)
}

/// IPv4 addresses seen through an IPv6 socket (`::ffff:a.b.c.d`) as plain IPv4, so one
/// client counts as one address whichever way it connected.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|net| net.parse().unwrap()).collect()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), Some("1.2.3.4"), &[]),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(client_address(None, Some("1.2.3.4"), &[]), None);
    }

    #[test]
    fn the_walk_skips_trusted_hops_from_the_right() {
        let proxies = nets(&["10.0.0.0/8", "192.168.0.0/16"]);
        assert_eq!(
            client_address(
                Some(ip("10.1.1.1")),
                Some("6.6.6.6, 203.0.113.5, 192.168.1.1"),
                &proxies
            ),
            Some(ip("203.0.113.5")),
            "the spoofed leftmost entry is never reached"
        );
        assert_eq!(
            client_address(Some(ip("10.1.1.1")), Some("10.2.2.2"), &proxies),
            Some(ip("10.2.2.2")),
            "all hops trusted: the leftmost"
        );
        assert_eq!(
            client_address(Some(ip("10.1.1.1")), None, &proxies),
            Some(ip("10.1.1.1"))
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_reporting_proxy() {
        let proxies = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(
                Some(ip("10.0.0.1")),
                Some("1.1.1.1, junk, 10.0.0.9"),
                &proxies
            ),
            Some(ip("10.0.0.9"))
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        let proxies = nets(&["127.0.0.0/8"]);
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), Some("[2001:db8::1]:443"), &proxies),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client_address(Some(ip("127.0.0.1")), Some("198.51.100.7:5000"), &proxies),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_address(Some(ip("::ffff:198.51.100.7")), None, &[]),
            Some(ip("198.51.100.7"))
        );
    }
}
