//! Who the client is, by network address: the peer, or what trusted reverse proxies say in
//! `X-Forwarded-For` (API.md §4). Pure: no axum, no configuration reading.

use std::net::IpAddr;

use ipnet::IpNet;

/// The reverse proxies whose `X-Forwarded-For` entries are believed (`TESSERA_TRUSTED_PROXIES`).
/// Empty by default: then the header is ignored and the client is the peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of CIDRs (`10.0.0.0/8`, `2001:db8::/32`); a bare address is a
    /// single host (/32 or /128). Blank entries are skipped; anything else that does not parse
    /// is an error naming it.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let network = match entry.parse::<IpNet>() {
                Ok(network) => network.trunc(),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(address) => IpNet::from(address.to_canonical()),
                    Err(_) => return Err(format!("`{entry}` is not an IP address or CIDR")),
                },
            };
            networks.push(network);
        }
        Ok(TrustedProxies(networks))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }
}

/// The client's address. A peer that is not a trusted proxy is the client, whatever it says.
/// Behind trusted proxies, `X-Forwarded-For` (every header `forwarded_for` yields, in order)
/// is walked from the right: each trusted hop vouches for the entry to its left, and the first
/// untrusted address is the client. An entry that is not a bare IP address (a port, a name,
/// `unknown`) stops the walk at the last trusted hop: nothing its writer said can be checked,
/// so the request counts against that proxy rather than an address a client may have chosen.
/// When every entry is trusted, the left-most one is the client.
pub fn resolve<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|header| header.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Ok(address) = entry.trim().parse::<IpAddr>() else {
            return client;
        };
        client = address.to_canonical();
        if !trusted.contains(client) {
            return client;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{TrustedProxies, resolve};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(text: &str) -> TrustedProxies {
        TrustedProxies::parse(text).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(
            resolve(ip("203.0.113.9"), ["1.2.3.4"], &none),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(ip("127.0.0.1"), ["1.2.3.4"], &none),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(
            resolve(ip("203.0.113.9"), ["10.0.0.1, 1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_entry_is_the_client() {
        let trusted = proxies("10.0.0.0/8, 192.0.2.7");
        // The left-most entries are whatever the client sent; only the proxies' own appends count.
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                ["6.6.6.6, 198.51.100.4, 192.0.2.7, 10.1.1.1"],
                &trusted
            ),
            ip("198.51.100.4")
        );
        // Several headers read as one list, in order.
        assert_eq!(
            resolve(ip("10.0.0.2"), ["6.6.6.6", "198.51.100.4"], &trusted),
            ip("198.51.100.4")
        );
        // No header: the proxy itself.
        assert_eq!(resolve(ip("10.0.0.2"), [], &trusted), ip("10.0.0.2"));
        // Every entry trusted: the left-most.
        assert_eq!(
            resolve(ip("10.0.0.2"), ["10.9.9.9, 192.0.2.7"], &trusted),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        let trusted = proxies("10.0.0.0/8");
        for malformed in ["1.2.3.4:80", "unknown", "", "evil.example", "[::1]"] {
            let header = format!("6.6.6.6, {malformed}, 10.0.0.3");
            assert_eq!(
                resolve(ip("10.0.0.2"), [header.as_str()], &trusted),
                ip("10.0.0.3"),
                "{malformed:?}"
            );
        }
        assert_eq!(
            resolve(ip("10.0.0.2"), ["6.6.6.6, garbage"], &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_and_mapped_addresses_are_compared_canonically() {
        let trusted = proxies("127.0.0.1, 2001:db8::/32");
        assert_eq!(
            resolve(
                ip("::ffff:127.0.0.1"),
                ["2001:db8::5, 2001:db9::1"],
                &trusted
            ),
            ip("2001:db9::1")
        );
        assert_eq!(
            resolve(ip("2001:db8::1"), ["::ffff:198.51.100.4"], &trusted),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn proxy_lists_parse_cidrs_and_bare_addresses_and_refuse_the_rest() {
        let trusted = proxies(" 10.0.0.0/8 ,192.0.2.7,::1, 2001:db8::/32,");
        assert!(trusted.contains(ip("10.255.0.1")));
        assert!(trusted.contains(ip("192.0.2.7")));
        assert!(!trusted.contains(ip("192.0.2.8")));
        assert!(trusted.contains(ip("::1")));
        assert!(trusted.contains(ip("2001:db8:ffff::1")));
        assert!(proxies("").is_empty());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/8; 1.2.3.4").is_err());
        assert!(TrustedProxies::parse("proxy.internal").is_err());
    }
}
