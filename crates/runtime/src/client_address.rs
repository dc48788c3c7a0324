//! The address of the client behind a request, for per-address budgets.
//!
//! The socket peer is the client unless reverse proxies stand in front. Each of those appends the
//! address it saw to `X-Forwarded-For`; with `hops` of them trusted, the client is that many entries
//! from the right. With no trusted proxies (the default) the header is ignored, so a client cannot
//! choose its own address.
//!
//! Under Dapr, web forwards the browser's API calls to backend-api through two sidecars, so
//! backend-api's peer is its own sidecar for every browser. web therefore names the client it saw in
//! [`RELAYED_CLIENT_ADDRESS`]; backend-api believes that header only on a call that carries its
//! sidecar's app token (see backend-api's `rate_limit::keys`). web never passes a client's own copy
//! of the header on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::HttpRequest;

/// The header in which web tells backend-api which client it forwards a call for.
pub const RELAYED_CLIENT_ADDRESS: &str = "taskflow-client-address";

/// The client's address: the socket peer, or with `hops` trusted proxies the address they recorded
/// in `X-Forwarded-For`. `None` only when the request has no peer (a test request).
pub fn client_address(req: &HttpRequest, hops: usize) -> Option<IpAddr> {
    let forwarded = (hops > 0)
        .then(|| {
            let entries: Vec<&str> = req
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect();
            let index = entries.len().checked_sub(hops)?;
            forwarded_address(entries.get(index)?)
        })
        .flatten();
    forwarded.or_else(|| req.peer_addr().map(|a| a.ip()))
}

/// The address in one `X-Forwarded-For` entry: `203.0.113.7`, `2001:db8::1`, and also with a port
/// as some proxies write them (`203.0.113.7:51234`, `[2001:db8::1]:443`, `[2001:db8::1]`). Without
/// the port forms, an entry with a port did not parse and every client fell back to the proxy's
/// address, so all of them shared one budget.
pub fn forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, port) = rest.split_once(']')?;
        let port_ok = port.is_empty() || port.strip_prefix(':').is_some_and(is_port);
        return port_ok.then(|| host.parse::<Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    let (host, port) = entry.rsplit_once(':')?;
    is_port(port)
        .then(|| host.parse::<Ipv4Addr>().ok().map(IpAddr::V4))
        .flatten()
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn forwarded_for_is_only_trusted_when_configured() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 1.2.3.4"))
            .to_http_request();
        assert_eq!(client_address(&req, 0), ip("10.0.0.9"));
        assert_eq!(client_address(&req, 1), ip("1.2.3.4"));
        assert_eq!(client_address(&req, 2), ip("6.6.6.6"));
        assert_eq!(
            client_address(&req, 3),
            ip("10.0.0.9"),
            "fewer entries than proxies"
        );
    }

    #[test]
    fn forwarded_entries_with_ports_parse_to_their_address() {
        assert_eq!(forwarded_address("203.0.113.7"), ip("203.0.113.7"));
        assert_eq!(forwarded_address("203.0.113.7:51234"), ip("203.0.113.7"));
        assert_eq!(forwarded_address("2001:db8::1"), ip("2001:db8::1"));
        assert_eq!(forwarded_address("[2001:db8::1]:443"), ip("2001:db8::1"));
        assert_eq!(forwarded_address("[2001:db8::1]"), ip("2001:db8::1"));
        for junk in [
            "",
            "unknown",
            "1.2.3.4:",
            "1.2.3.4:port",
            "[2001:db8::1]443",
            "[1.2.3.4]:80",
            "[::1",
            "host:80",
        ] {
            assert_eq!(forwarded_address(junk), None, "{junk:?}");
        }
        let req = TestRequest::default()
            .peer_addr("10.0.0.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "203.0.113.7:51234"))
            .to_http_request();
        assert_eq!(
            client_address(&req, 1),
            ip("203.0.113.7"),
            "not the proxy's address"
        );
    }

    proptest::proptest! {
        /// Any address, with or without a port, parses back to itself; nothing panics.
        #[test]
        fn any_address_with_any_port_round_trips(v4 in proptest::prelude::any::<[u8; 4]>(),
            v6 in proptest::prelude::any::<[u16; 8]>(), port in proptest::prelude::any::<u16>(),
            junk in "\\PC{0,40}") {
            let a = IpAddr::from(v4);
            proptest::prop_assert_eq!(forwarded_address(&format!("{a}:{port}")), Some(a));
            let b = IpAddr::from(v6);
            proptest::prop_assert_eq!(forwarded_address(&format!("[{b}]:{port}")), Some(b));
            proptest::prop_assert_eq!(forwarded_address(&b.to_string()), Some(b));
            let _ = forwarded_address(&junk);
        }
    }
}
