//! Which address a call comes from, and whether it may: the peer of the
//! TCP connection, or behind a reverse proxy listed in
//! `GANCHO_TRUSTED_PROXIES`, the address that proxy saw
//! (`X-Forwarded-For`). The header is read only from a trusted peer, so a
//! client cannot claim another address by sending it.

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses `10.0.0.0/8`, `2001:db8::/32` or a single address (a /32 or /128).
pub fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|n| n.trunc())
}

/// The client's address. From a trusted proxy, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy (each proxy
/// appends what it saw, so the entries to its left are the client's word).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut chain: Vec<IpAddr> = Vec::new();
    for part in header.split(',') {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) => chain.push(canonical(ip)),
            // A malformed hop: trust nothing to its left.
            Err(_) => chain.clear(),
        }
    }
    chain
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(chain.first())
        .copied()
        .unwrap_or(peer)
}

/// Whether `ip` may call an inbound URL that allows `sources` (none: anyone).
pub fn is_allowed(ip: IpAddr, sources: &[String]) -> bool {
    sources.is_empty()
        || sources
            .iter()
            .filter_map(|s| parse_net(s))
            .any(|n| n.contains(&canonical(ip)))
}

/// An IPv4 address as itself, not as `::ffff:a.b.c.d` (a dual-stack socket's view).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| parse_net(s).unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_read_only_from_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8"]);
        let xff = Some("203.0.113.9, 10.1.1.1");
        assert_eq!(
            client_ip(ip("198.51.100.7"), xff, &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), xff, &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        // A client's own entry left of the real one is not believed.
        let spoofed = Some("1.2.3.4, 203.0.113.9");
        assert_eq!(
            client_ip(ip("10.0.0.2"), spoofed, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("garbage"), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("10.9.9.9"), &trusted),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.2"), xff, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn sources_are_cidrs_or_single_addresses() {
        let sources = vec!["203.0.113.0/24".to_string(), "2001:db8::1".to_string()];
        assert!(is_allowed(ip("203.0.113.200"), &sources));
        assert!(is_allowed(ip("::ffff:203.0.113.200"), &sources));
        assert!(is_allowed(ip("2001:db8::1"), &sources));
        assert!(!is_allowed(ip("2001:db8::2"), &sources));
        assert!(!is_allowed(ip("198.51.100.1"), &sources));
        assert!(is_allowed(ip("198.51.100.1"), &[]));
        assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert!(parse_net("not an address").is_none());
    }
}
