//! The SSRF guard: unless `GANCHO_ALLOW_PRIVATE_TARGETS`, an endpoint may
//! only point at a globally reachable unicast address (see [`forbidden_class`]).
//! Checked when the endpoint is saved, and again at delivery by
//! [`GuardedResolver`]: the addresses it checks are the ones the connection
//! uses, so a DNS answer that changes in between cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(s: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = s;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

// The blocks below are the IANA IPv4 and IPv6 Special-Purpose Address
// Registries' entries whose "Globally Reachable" is False
// (https://www.iana.org/assignments/iana-ipv4-special-registry/ and
// .../iana-ipv6-special-registry/, RFC 6890), in the form the standard
// library's unstable `Ipv4Addr::is_global` / `Ipv6Addr::is_global` encode
// them, plus what a webhook can never be sent to: multicast, and on IPv6
// the deprecated site-local (RFC 3879) and IPv4-compatible (RFC 4291) blocks
// and anything outside global unicast 2000::/3 (IANA IPv6 Address Space).
// Checked in order: the first block that holds the address names it.
// 192.88.99.0/24 (6to4 relay anycast, deprecated) is globally reachable
// there and stays allowed; 2002::/16 is not (IANA: "N/A"), like in std.

/// IPv4 blocks that are not globally reachable, with the class they are refused as.
const V4_FORBIDDEN: [(Ipv4Net, &str); 16] = [
    (v4(0, 0, 0, 0, 32), "unspecified"),
    (v4(0, 0, 0, 0, 8), "this-network"),
    (v4(10, 0, 0, 0, 8), "private"),
    (v4(100, 64, 0, 0, 10), "shared"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(172, 16, 0, 0, 12), "private"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignment"),
    (v4(192, 0, 2, 0, 24), "documentation"),
    (v4(192, 168, 0, 0, 16), "private"),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(198, 51, 100, 0, 24), "documentation"),
    (v4(203, 0, 113, 0, 24), "documentation"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(255, 255, 255, 255, 32), "broadcast"),
    (v4(240, 0, 0, 0, 4), "reserved"),
];

/// Globally reachable addresses inside the blocks above (the registry's
/// PCP and TURN anycast addresses in 192.0.0.0/24).
const V4_GLOBAL_INSIDE: [Ipv4Net; 2] = [v4(192, 0, 0, 9, 32), v4(192, 0, 0, 10, 32)];

/// IPv6 blocks that are not globally reachable, with the class they are refused as.
const V6_FORBIDDEN: [(Ipv6Net, &str); 14] = [
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 96), "IPv4-compatible"),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "IPv4/IPv6 translation",
    ),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF protocol assignment",
    ),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), "6to4"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    (v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), "segment routing"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// Globally reachable blocks inside 2001::/23: PCP and TURN anycast, AMT,
/// AS112-v6, ORCHIDv2 and Drone Remote ID (2001:20::/28 and 2001:30::/28).
const V6_GLOBAL_INSIDE: [Ipv6Net; 5] = [
    v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128),
    v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32),
    v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 27),
];

/// Global unicast (IANA IPv6 Address Space): nothing outside it is a target.
const V6_GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// IPv4-mapped `::ffff:0:0/96` and NAT64 `64:ff9b::/96`: the connection
/// goes to the IPv4 address inside, so that address alone decides.
const V6_TRANSLATED: [Ipv6Net; 2] = [
    v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
];

/// Why an address may not be a target, or `None` when it may.
///
/// An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64,
/// IPv4-compatible, 6to4) is refused when that IPv4 address is, by its class,
/// so `64:ff9b::127.0.0.1` is refused as loopback.
pub fn forbidden_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => {
            if let Some(class) = embedded_ipv4(v6).and_then(v4_class) {
                return Some(class);
            }
            if V6_TRANSLATED.iter().any(|net| net.contains(&v6)) {
                return None;
            }
            v6_class(v6)
        }
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    if V4_GLOBAL_INSIDE.iter().any(|net| net.contains(&ip)) {
        return None;
    }
    V4_FORBIDDEN
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class)
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    if V6_GLOBAL_INSIDE.iter().any(|net| net.contains(&ip)) {
        return None;
    }
    let listed = V6_FORBIDDEN
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class);
    match listed {
        Some(class) => Some(class),
        None if !V6_GLOBAL_UNICAST.contains(&ip) => Some("reserved"),
        None => None,
    }
}

/// The IPv4 address an IPv6 one carries: IPv4-mapped and IPv4-compatible
/// (the last 32 bits, but not `::` or `::1`), NAT64 `64:ff9b::/96` (the
/// last 32 bits, RFC 6052) and 6to4 `2002::/16` (bits 16–47, RFC 3056).
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    match ip.segments() {
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0xffff | 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => {
            Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}

/// A refused or unusable endpoint URL.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("url: {0}")]
    Invalid(String),
    #[error("refused target: {host} is a {class} address ({ip})")]
    Forbidden {
        host: String,
        ip: IpAddr,
        class: &'static str,
    },
}

/// Parses an endpoint URL: absolute, http or https, with a host.
pub fn parse_url(raw: &str) -> Result<Url, TargetError> {
    let url = Url::parse(raw.trim()).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Invalid(
            "only http and https URLs are accepted".into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(TargetError::Invalid("the URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Invalid(
            "credentials in the URL are not accepted; use a custom header".into(),
        ));
    }
    Ok(url)
}

fn check_ip(host: &str, ip: IpAddr) -> Result<(), TargetError> {
    match forbidden_class(ip) {
        Some(class) => Err(TargetError::Forbidden {
            host: host.to_string(),
            ip,
            class,
        }),
        None => Ok(()),
    }
}

/// The IP of a URL whose host is an address literal.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(d) => d.parse().ok(),
    }
}

/// Checks a URL before it is saved: address literals directly, names by
/// resolving them. A name that does not resolve now is accepted (it is
/// checked again at every delivery).
pub async fn check_url(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().to_string();
    if let Some(ip) = literal_ip(url) {
        return check_ip(&host, ip);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    if let Ok(addrs) = tokio::net::lookup_host((host.as_str(), port)).await {
        for addr in addrs {
            check_ip(&host, addr.ip())?;
        }
    }
    Ok(())
}

/// The check at delivery time for address literals (which never reach the resolver).
pub fn check_literal(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    match literal_ip(url) {
        Some(ip) if !allow_private => check_ip(url.host_str().unwrap_or_default(), ip),
        _ => Ok(()),
    }
}

/// A DNS resolver for the delivery client that refuses forbidden addresses
/// and hands the checked addresses to the connection (pinning them).
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                check_ip(&host, addr.ip())?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks each row's address: `Some(class)` refused as that class, `None` allowed.
    fn assert_classes(rows: &[(&str, Option<&str>)]) {
        let wrong: Vec<String> = rows
            .iter()
            .filter_map(|(ip, want)| {
                let got = forbidden_class(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")));
                (got != *want).then(|| format!("{ip}: expected {want:?}, got {got:?}"))
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn every_ipv4_special_purpose_block_is_refused_up_to_its_edges() {
        // Per block: its first and last address, then the neighbours just outside.
        assert_classes(&[
            ("0.0.0.0", Some("unspecified")),
            ("0.0.0.1", Some("this-network")),
            ("0.255.255.255", Some("this-network")),
            ("1.0.0.0", None),
            ("10.0.0.0", Some("private")),
            ("10.255.255.255", Some("private")),
            ("9.255.255.255", None),
            ("11.0.0.0", None),
            ("100.64.0.0", Some("shared")),
            ("100.127.255.255", Some("shared")),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("127.0.0.0", Some("loopback")),
            ("127.255.255.255", Some("loopback")),
            ("126.255.255.255", None),
            ("128.0.0.0", None),
            ("169.254.0.0", Some("link-local")),
            ("169.254.255.255", Some("link-local")),
            ("169.253.255.255", None),
            ("169.255.0.0", None),
            ("172.16.0.0", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("192.0.0.0", Some("IETF protocol assignment")),
            ("192.0.0.8", Some("IETF protocol assignment")),
            ("192.0.0.170", Some("IETF protocol assignment")),
            ("192.0.0.255", Some("IETF protocol assignment")),
            // The registry's two globally reachable anycast addresses inside it.
            ("192.0.0.9", None),
            ("192.0.0.10", None),
            ("191.255.255.255", None),
            ("192.0.1.0", None),
            ("192.0.2.0", Some("documentation")),
            ("192.0.2.255", Some("documentation")),
            ("192.0.3.0", None),
            ("192.168.0.0", Some("private")),
            ("192.168.255.255", Some("private")),
            ("192.167.255.255", None),
            ("192.169.0.0", None),
            ("198.18.0.0", Some("benchmarking")),
            ("198.19.255.255", Some("benchmarking")),
            ("198.17.255.255", None),
            ("198.20.0.0", None),
            ("198.51.100.0", Some("documentation")),
            ("198.51.100.255", Some("documentation")),
            ("198.51.99.255", None),
            ("198.51.101.0", None),
            ("203.0.113.0", Some("documentation")),
            ("203.0.113.255", Some("documentation")),
            ("203.0.112.255", None),
            ("203.0.114.0", None),
            ("224.0.0.0", Some("multicast")),
            ("239.255.255.255", Some("multicast")),
            ("223.255.255.255", None),
            ("240.0.0.0", Some("reserved")),
            ("255.255.255.254", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
        ]);
    }

    #[test]
    fn every_ipv6_special_purpose_block_is_refused_up_to_its_edges() {
        const LAST: &str = "ffff:ffff:ffff:ffff:ffff:ffff";
        let rows: Vec<(String, Option<&str>)> = vec![
            ("::".into(), Some("unspecified")),
            ("::1".into(), Some("loopback")),
            ("::2".into(), Some("this-network")),
            // IPv4-compatible (::/96, deprecated): refused, by its IPv4's class when it has one.
            ("::8.8.8.8".into(), Some("IPv4-compatible")),
            ("::127.0.0.1".into(), Some("loopback")),
            ("::1:0:0".into(), Some("reserved")),
            ("100::".into(), Some("discard-only")),
            ("100::ffff:ffff:ffff:ffff".into(), Some("discard-only")),
            ("100:0:0:1::".into(), Some("reserved")),
            (format!("ff:ffff:{LAST}"), Some("reserved")),
            ("64:ff9b:1::".into(), Some("IPv4/IPv6 translation")),
            (
                "64:ff9b:1:ffff:ffff:ffff:ffff:ffff".into(),
                Some("IPv4/IPv6 translation"),
            ),
            ("64:ff9b:2::".into(), Some("reserved")),
            (
                "64:ff9b:0:ffff:ffff:ffff:ffff:ffff".into(),
                Some("reserved"),
            ),
            ("2001::".into(), Some("IETF protocol assignment")),
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2".into(),
                Some("IETF protocol assignment"),
            ),
            (format!("2001:1ff:{LAST}"), Some("IETF protocol assignment")),
            ("2001:1::3".into(), Some("IETF protocol assignment")),
            ("2001:2::1".into(), Some("IETF protocol assignment")),
            // The registry's globally reachable blocks inside 2001::/23.
            ("2001:1::1".into(), None),
            ("2001:1::2".into(), None),
            ("2001:3::1".into(), None),
            ("2001:4:112::1".into(), None),
            ("2001:20::1".into(), None),
            (format!("2001:3f:{LAST}"), None),
            ("2001:40::1".into(), Some("IETF protocol assignment")),
            (format!("2000:ffff:{LAST}"), None),
            ("2001:200::".into(), None),
            ("2001:db8::".into(), Some("documentation")),
            (format!("2001:db8:{LAST}"), Some("documentation")),
            (format!("2001:db7:{LAST}"), None),
            ("2001:db9::".into(), None),
            ("2002:808:808::".into(), Some("6to4")),
            ("2002:808:808:ffff:ffff:ffff:ffff:ffff".into(), Some("6to4")),
            (format!("2001:ffff:{LAST}"), None),
            ("2003::".into(), None),
            ("3fff::".into(), Some("documentation")),
            (format!("3fff:fff:{LAST}"), Some("documentation")),
            ("3fff:1000::".into(), None),
            (format!("3ffe:ffff:{LAST}"), None),
            ("5f00::".into(), Some("segment routing")),
            (format!("5f00:ffff:{LAST}"), Some("segment routing")),
            (format!("5eff:ffff:{LAST}"), Some("reserved")),
            ("5f01::".into(), Some("reserved")),
            ("fc00::".into(), Some("unique-local")),
            (format!("fdff:ffff:{LAST}"), Some("unique-local")),
            (format!("fbff:ffff:{LAST}"), Some("reserved")),
            ("fe00::".into(), Some("reserved")),
            ("fe80::".into(), Some("link-local")),
            (format!("febf:ffff:{LAST}"), Some("link-local")),
            (format!("fe7f:ffff:{LAST}"), Some("reserved")),
            ("fec0::".into(), Some("site-local")),
            (format!("feff:ffff:{LAST}"), Some("site-local")),
            ("ff00::".into(), Some("multicast")),
            (format!("ffff:ffff:{LAST}"), Some("multicast")),
            // Only 2000::/3 is global unicast (IANA IPv6 address space).
            ("2000::".into(), None),
            (format!("1fff:ffff:{LAST}"), Some("reserved")),
            (format!("3fff:ffff:{LAST}"), None),
            ("4000::".into(), Some("reserved")),
            ("2001:4860:4860::8888".into(), None),
            ("2606:4700:4700::1111".into(), None),
        ];
        let rows: Vec<(&str, Option<&str>)> = rows.iter().map(|(a, c)| (a.as_str(), *c)).collect();
        assert_classes(&rows);
    }

    #[test]
    fn an_ipv4_address_inside_an_ipv6_one_is_checked_too() {
        assert_classes(&[
            // IPv4-mapped (::ffff:0:0/96): the socket connects to the IPv4 address.
            ("::ffff:8.8.8.8", None),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:198.18.0.1", Some("benchmarking")),
            ("::ffff:0.0.0.0", Some("unspecified")),
            ("::fffe:ffff:ffff", Some("reserved")),
            ("::1:ffff:0:0", Some("reserved")),
            // NAT64 (64:ff9b::/96): the translator connects to the IPv4 address.
            ("64:ff9b::8.8.8.8", None),
            ("64:ff9b::127.0.0.1", Some("loopback")),
            ("64:ff9b::169.254.169.254", Some("link-local")),
            ("64:ff9b::192.168.0.1", Some("private")),
            ("64:ff9b::100.64.0.1", Some("shared")),
            ("64:ff9b::240.0.0.1", Some("reserved")),
            ("64:ff9b::1:0:0", Some("reserved")),
            ("64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", Some("reserved")),
            // IPv4-compatible and 6to4 are refused anyway, named by the IPv4 inside.
            ("::10.0.0.1", Some("private")),
            ("2002:7f00:1::", Some("loopback")),
            ("2002:a9fe:a9fe::1", Some("link-local")),
            ("2002:c0a8:101::1", Some("private")),
            ("2002:c612:1::", Some("benchmarking")),
        ]);
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_url("https://hooks.example.com/x").is_ok());
        assert!(parse_url("ftp://example.com").is_err());
        assert!(parse_url("not a url").is_err());
        assert!(parse_url("https://user:pw@example.com").is_err());
    }

    #[tokio::test]
    async fn literals_and_local_names_are_checked_at_creation() {
        let url = parse_url("http://127.0.0.1:9/hook").unwrap();
        assert!(matches!(
            check_url(&url, false).await,
            Err(TargetError::Forbidden { .. })
        ));
        assert!(check_url(&url, true).await.is_ok());
        let url = parse_url("http://localhost:9/hook").unwrap();
        assert!(check_url(&url, false).await.is_err());
        let url = parse_url("http://[::1]:9/hook").unwrap();
        assert!(check_literal(&url, false).is_err());
        for raw in ["http://[64:ff9b::7f00:1]:9/hook", "http://198.18.0.1/hook"] {
            let url = parse_url(raw).unwrap();
            assert!(check_url(&url, false).await.is_err(), "{raw}");
            assert!(check_literal(&url, false).is_err(), "{raw}");
        }
    }
}
