//! The SSRF guard: unless `GANCHO_ALLOW_PRIVATE_TARGETS`, an endpoint may not
//! point at loopback, private, link-local, unique-local, multicast or
//! unspecified addresses. Checked when the endpoint is saved, and again at
//! delivery by [`GuardedResolver`]: the addresses it checks are the ones the
//! connection uses, so a DNS answer that changes in between cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Why an address may not be a target, or `None` when it may.
pub fn forbidden_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_class(v4),
            None => v6_class(v6),
        },
    }
}

fn v4_class(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

fn v6_class(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else {
        None
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

    #[test]
    fn every_private_class_is_refused() {
        for (ip, class) in [
            ("127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("fd00::1", "unique-local"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
        ] {
            assert_eq!(forbidden_class(ip.parse().unwrap()), Some(class), "{ip}");
        }
        for ok in ["8.8.8.8", "2001:4860:4860::8888", "172.32.0.1"] {
            assert_eq!(forbidden_class(ok.parse().unwrap()), None, "{ok}");
        }
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
    }
}
