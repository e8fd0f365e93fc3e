//! The network policy (`[http] private_networks`): which client may fetch a
//! hop, and the resolver that keeps the guarded one off non-public addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::Url;

use super::Clients;

/// The client that may fetch `hop` for the feed of origin `feed`, or why none
/// may.
pub(super) async fn route<'c>(
    clients: &'c Clients,
    hop: &Url,
    feed: &url::Origin,
) -> Result<&'c reqwest::Client, String> {
    let Some(guarded) = &clients.guarded else {
        return Ok(&clients.open);
    };
    if hop.origin() == *feed {
        return Ok(&clients.open);
    }
    let refuse = |ip: IpAddr| match non_public(ip) {
        Some(what) => Err(format!("{ip} is {what}")),
        None => Ok(()),
    };
    match hop.host() {
        // An address in the URL (the url crate has read decimal, octal and hex
        // IPv4 forms already) never reaches a resolver: judged here.
        Some(url::Host::Ipv4(ip)) => refuse(ip.into())?,
        Some(url::Host::Ipv6(ip)) => refuse(ip.into())?,
        // Behind a proxy the proxy resolves the name, out of reach of the
        // guarded resolver: judge the name ahead, as well as can be. A name
        // that does not resolve here is left to the proxy.
        Some(url::Host::Domain(name)) if !clients.proxies.is_empty() => {
            if let Ok(addrs) = tokio::net::lookup_host((name, 0)).await {
                for addr in addrs {
                    if let Some(what) = non_public(addr.ip()) {
                        return Err(format!("{name} resolves to {}, {what}", addr.ip()));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(guarded)
}

/// What makes `ip` no public address, or `None` for a public one.
fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => non_public_v4(ip),
        IpAddr::V6(ip) => non_public_v6(ip),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (0.0.0.0/8)",
        (127, _, _) => "a loopback address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (100, 64..=127, _) => "a shared (CGNAT) address",
        (169, 254, _) => "a link-local address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved or broadcast address",
        (192, 0, 0) | (198, 18..=19, _) => "a reserved address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // ::ffff:a.b.c.d reaches a.b.c.d.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified (::)",
        [0, 0, 0, 0, 0, 0, 0, 1] => "a loopback address",
        // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x2002, hi, lo, ..] => {
            return non_public_v4(embedded(hi, lo));
        }
        // IPv4-compatible (::a.b.c.d, deprecated) and other reserved blocks.
        [0, 0, 0, 0, 0, 0, _, _] | [0x100, 0, 0, 0, ..] => "a reserved address",
        [0x64, 0xff9b, 1, ..] => "a private address",
        [0x2001, 0xdb8, ..] => "a documentation address",
        [first, ..] if first & 0xfe00 == 0xfc00 => "a private (unique local) address",
        [first, ..] if first & 0xffc0 == 0xfe80 => "a link-local address",
        [first, ..] if first & 0xffc0 == 0xfec0 => "a site-local address",
        [first, ..] if first & 0xff00 == 0xff00 => "a multicast address",
        _ => return None,
    })
}

/// A name whose addresses are all non-public, refused by [`PublicOnly`].
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, {what}")]
pub(super) struct NonPublic {
    host: String,
    ip: IpAddr,
    what: &'static str,
}

/// The resolver of the guarded client: the system's, minus every non-public
/// address. The connector only ever sees what this returns, so the check holds
/// at connect time whatever the name resolved to a moment before.
pub(super) struct PublicOnly {
    /// Proxy hosts resolve as they are: a proxy on the LAN is the operator's
    /// choice, and what it fetches is judged before the request (see `route`).
    pub(super) proxies: Vec<String>,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let is_proxy = self.proxies.iter().any(|p| p.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if is_proxy {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            let (public, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
                .into_iter()
                .partition(|a| non_public(a.ip()).is_none());
            match (public.is_empty(), refused.first()) {
                (true, Some(first)) => Err(Box::new(NonPublic {
                    host,
                    ip: first.ip(),
                    what: non_public(first.ip()).unwrap_or("not public"),
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// The hosts of the proxies reqwest takes from the environment (as curl:
/// `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` but not under CGI, either case).
pub(super) fn proxy_hosts(var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut names = vec!["ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"];
    if var("REQUEST_METHOD").is_none() {
        names.extend(["HTTP_PROXY", "http_proxy"]);
    }
    let mut hosts: Vec<String> = names
        .into_iter()
        .filter_map(&var)
        .filter(|v| !v.trim().is_empty())
        .filter_map(|v| {
            let v = v.trim();
            // A proxy given as host:port means http://host:port.
            let url = if v.contains("://") {
                Url::parse(v)
            } else {
                Url::parse(&format!("http://{v}"))
            };
            Some(url.ok()?.host_str()?.to_ascii_lowercase())
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_told_from_public_ones() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:a00:1::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(non_public(ip).is_some(), "{ip} is not public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "169.253.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(non_public(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn proxy_hosts_come_from_the_environment_like_curl() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            proxy_hosts(env(&[
                ("HTTPS_PROXY", "http://Proxy.LAN:3128"),
                ("http_proxy", "10.0.0.5:8080"),
                ("NO_PROXY", "example.org"),
            ])),
            ["10.0.0.5", "proxy.lan"]
        );
        // Under CGI, HTTP_PROXY may come from a request header: reqwest ignores it.
        assert_eq!(
            proxy_hosts(env(&[
                ("REQUEST_METHOD", "GET"),
                ("HTTP_PROXY", "evil.example:80"),
            ])),
            Vec::<String>::new()
        );
    }
}
