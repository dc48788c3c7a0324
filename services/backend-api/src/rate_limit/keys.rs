//! What an attempt is counted against: the client's address and the account, as keys; and, for
//! Redis, the names those keys get there.
//!
//! The client address is the socket peer. Behind reverse proxies, `trusted_proxy_hops` says how many
//! of them append to `X-Forwarded-For`; the address that many entries from the right is the client's.
//! Left at 0 (the default) the header is ignored, so a client cannot choose its own address.
//!
//! Redis is shared infrastructure (the Dapr state store's instance), so nothing personal is written
//! there: a key is named by an HMAC-SHA256 of the e-mail address or client address under a key
//! derived from the deployment's `JWT_SECRET`. Without the secret the names cannot be matched
//! against a list of addresses; every replica derives the same names, so they share the budgets.

use std::fmt::Write;
use std::net::IpAddr;

use actix_web::HttpRequest;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::limits::Kind;

/// The key of an account: the normalised address, or the trimmed, lower-cased input when it is not
/// one (so garbage is throttled too), bounded in length.
pub fn account_key(raw: &str) -> String {
    let key = taskflow_domain::user::normalise_email(raw).unwrap_or_else(|_| raw.trim().to_lowercase());
    key.chars().take(320).collect()
}

/// The client's address as a key: the socket peer, or with `hops` trusted proxies the address they
/// recorded in `X-Forwarded-For`. IPv6 clients are keyed by their /64, which one host usually owns.
pub fn client_ip(req: &HttpRequest, hops: usize) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
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
    match forwarded.or(peer) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(String::new, |v4| v4.to_string()),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

/// The address in one `X-Forwarded-For` entry: `203.0.113.7`, `2001:db8::1`, and also with a port
/// as some proxies write them (`203.0.113.7:51234`, `[2001:db8::1]:443`, `[2001:db8::1]`). Without
/// this, an entry with a port did not parse and every client fell back to the proxy's address, so
/// all of them shared one budget.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, port) = rest.split_once(']')?;
        let port_ok = port.is_empty() || port.strip_prefix(':').is_some_and(is_port);
        return port_ok.then(|| host.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    let (host, port) = entry.rsplit_once(':')?;
    is_port(port)
        .then(|| host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4))
        .flatten()
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// What the naming key is derived from, so that it is never the token-signing key itself.
const KEY_PURPOSE: &[u8] = b"taskflow/auth-rate-limit/redis-key-names/v1";

type HmacSha256 = Hmac<Sha256>;

/// Names Redis keys `{prefix}:{kind}:{hex HMAC-SHA256(kind, key)}`.
#[derive(Clone)]
pub struct KeyNames {
    prefix: String,
    mac: HmacSha256,
}

impl std::fmt::Debug for KeyNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyNames")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl KeyNames {
    /// Names under `prefix`, keyed by a key derived from `secret` (the deployment's `JWT_SECRET`).
    pub fn new(prefix: &str, secret: &[u8]) -> Self {
        let derived = keyed(secret).chain_update(KEY_PURPOSE).finalize().into_bytes();
        Self {
            prefix: prefix.to_owned(),
            mac: keyed(&derived),
        }
    }

    /// The Redis key holding `key`'s record in the `kind` budget.
    pub fn name(&self, kind: Kind, key: &str) -> String {
        self.named(kind.as_str(), key)
    }

    /// The Redis key holding `key`'s record under `kind` (a budget's or a rate bucket's name).
    pub fn named(&self, kind: &str, key: &str) -> String {
        let digest = self
            .mac
            .clone()
            .chain_update(kind.as_bytes())
            .chain_update([0])
            .chain_update(key.as_bytes())
            .finalize()
            .into_bytes();
        let mut name = format!("{}:{}:", self.prefix, kind);
        for byte in digest {
            let _ = write!(name, "{byte:02x}");
        }
        name
    }
}

/// HMAC-SHA256 under `key`. HMAC takes keys of any length (longer ones are hashed first), so this
/// cannot fail; the fallback only keeps the signature total.
fn keyed(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_only_trusted_when_configured() {
        use actix_web::test::TestRequest;
        let peer = "10.0.0.9:5000".parse().unwrap();
        let req = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "6.6.6.6, 1.2.3.4"))
            .to_http_request();
        assert_eq!(client_ip(&req, 0), "10.0.0.9");
        assert_eq!(client_ip(&req, 1), "1.2.3.4");
        assert_eq!(client_ip(&req, 2), "6.6.6.6");
        assert_eq!(client_ip(&req, 3), "10.0.0.9", "fewer entries than proxies");
        let v6 = TestRequest::default()
            .peer_addr("[2001:db8:1:2:3:4:5:6]:80".parse().unwrap())
            .to_http_request();
        assert_eq!(client_ip(&v6, 0), "2001:db8:1:2::/64");
    }

    #[test]
    fn forwarded_entries_with_ports_parse_to_their_address() {
        use actix_web::test::TestRequest;
        let ip = |s: &str| s.parse::<IpAddr>().ok();
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
        let peer = "10.0.0.9:5000".parse().unwrap();
        let req = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "203.0.113.7:51234"))
            .to_http_request();
        assert_eq!(client_ip(&req, 1), "203.0.113.7", "not the proxy's address");
        let v6 = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "[2001:db8:1:2::1]:443"))
            .to_http_request();
        assert_eq!(client_ip(&v6, 1), "2001:db8:1:2::/64");
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

    #[test]
    fn accounts_are_keyed_by_their_normalised_address() {
        assert_eq!(account_key("  Ada@Example.COM "), account_key("ada@example.com"));
        assert_eq!(account_key("not an address"), "not an address");
        assert_eq!(account_key(&"x".repeat(1000)).len(), 320);
    }

    #[test]
    fn redis_names_are_keyed_hashes_that_hide_the_address() {
        let names = KeyNames::new("taskflow:auth-rate", b"a secret of at least thirty-two bytes");
        let name = names.name(Kind::Account, "ada@example.com");
        let hash = name.strip_prefix("taskflow:auth-rate:account:").unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!name.contains("ada"), "{name}");
        // Stable for every replica with the same secret; different per budget and per secret.
        let again = KeyNames::new("taskflow:auth-rate", b"a secret of at least thirty-two bytes");
        assert_eq!(again.name(Kind::Account, "ada@example.com"), name);
        assert_ne!(
            names
                .name(Kind::LoginAddress, "ada@example.com")
                .rsplit(':')
                .next(),
            Some(hash)
        );
        let other = KeyNames::new("taskflow:auth-rate", b"another deployment's secret, 32+ bytes");
        assert_ne!(other.name(Kind::Account, "ada@example.com"), name);
    }
}
