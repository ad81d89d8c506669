//! Where webhooks may be sent, and which hosts an SSO connection's issuer may name (the relying
//! party fetches from it: `manage::sso_connections`). A webhook URL makes this server send
//! requests wherever an account admin points it (SSRF); with `TESSERA_WEBHOOK_BLOCK_PRIVATE=true` every address a
//! host name resolves to must be public, checked when the URL is saved and again at each
//! connection (by `PublicOnly`, the HTTP client's resolver), so DNS rebinding cannot slip
//! a private address in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

const MAX_URL_LENGTH: usize = 2048;

/// Why a webhook URL is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error(
        "must be an absolute http or https URL of at most 2048 characters, without a fragment or credentials"
    )]
    Malformed,
    #[error("the host could not be resolved")]
    Unresolvable,
    #[error(
        "points to a loopback, private or otherwise non-public address, which this server is configured to refuse"
    )]
    NotPublic,
}

/// Parses and checks a webhook URL; with `block_private` its host must resolve to public
/// addresses only.
pub async fn check_url(text: &str, block_private: bool) -> Result<Url, UrlError> {
    let url = parse(text)?;
    if block_private {
        let port = url.port_or_known_default().unwrap_or(443);
        match url.host() {
            Some(Host::Ipv4(ip)) => require_public(&[IpAddr::V4(ip)])?,
            Some(Host::Ipv6(ip)) => require_public(&[IpAddr::V6(ip)])?,
            Some(Host::Domain(domain)) => {
                let addresses: Vec<IpAddr> = tokio::net::lookup_host((domain, port))
                    .await
                    .map_err(|_| UrlError::Unresolvable)?
                    .map(|address| address.ip())
                    .collect();
                if addresses.is_empty() {
                    return Err(UrlError::Unresolvable);
                }
                require_public(&addresses)?;
            }
            None => return Err(UrlError::Malformed),
        }
    }
    Ok(url)
}

/// An absolute http(s) URL with a host, no credentials and no fragment.
pub fn parse(text: &str) -> Result<Url, UrlError> {
    if text.len() > MAX_URL_LENGTH {
        return Err(UrlError::Malformed);
    }
    let url = Url::parse(text).map_err(|_| UrlError::Malformed)?;
    let acceptable = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none();
    if !acceptable {
        return Err(UrlError::Malformed);
    }
    Ok(url)
}

/// The IP literal of a URL's host, which no resolver sees.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

fn require_public(addresses: &[IpAddr]) -> Result<(), UrlError> {
    if addresses.iter().all(|ip| is_public(*ip)) {
        Ok(())
    } else {
        Err(UrlError::NotPublic)
    }
}

/// Whether an address is routable on the public internet: not loopback, private,
/// link-local, shared (CGNAT), multicast, documentation, benchmarking or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [_, _, _, _, _, _, _, _, _, _, _, _, a, b, c, d] = ip.octets();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        || segments[0] == 0x2001 && segments[1] == 0xdb8
        || segments[..6] == [0, 0, 0, 0, 0, 0])
}

/// A resolver for the delivery client that refuses host names resolving to any
/// non-public address: the check happens for the very addresses the client connects to.
#[derive(Clone, Copy, Debug)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if addresses.is_empty() {
                return Err(Box::new(UrlError::Unresolvable) as Box<_>);
            }
            if !addresses.iter().all(|address| is_public(address.ip())) {
                return Err(Box::new(UrlError::NotPublic) as Box<_>);
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{UrlError, check_url, is_public, parse};

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_must_be_absolute_http_without_credentials_or_fragment() {
        assert!(parse("https://hooks.example.com/x?y=1").is_ok());
        assert!(parse("http://127.0.0.1:9000/").is_ok());
        for bad in [
            "/relative",
            "ftp://example.com/",
            "https://user:pass@example.com/",
            "https://example.com/#frag",
            "not a url",
        ] {
            assert_eq!(parse(bad), Err(UrlError::Malformed), "{bad}");
        }
    }

    #[tokio::test]
    async fn blocking_refuses_loopback_literals_and_names() {
        assert!(check_url("http://127.0.0.1:1/", false).await.is_ok());
        assert_eq!(
            check_url("http://127.0.0.1:1/", true).await,
            Err(UrlError::NotPublic)
        );
        assert_eq!(
            check_url("http://[::1]:1/", true).await,
            Err(UrlError::NotPublic)
        );
        assert_eq!(
            check_url("http://localhost:1/", true).await,
            Err(UrlError::NotPublic)
        );
    }
}
