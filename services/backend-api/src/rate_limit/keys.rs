//! What an attempt is counted against: the client's address and the account, as keys; and, for
//! Redis, the names those keys get there.
//!
//! The client address is the socket peer, or behind reverse proxies the one they recorded
//! (`taskflow_runtime::client_address`, `TRUSTED_PROXY_HOPS`), or under Dapr the one web relayed a
//! browser's call for.
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

use taskflow_runtime::client_address::{RELAYED_CLIENT_ADDRESS, client_address};
use taskflow_runtime::secret::same_secret;

use super::limits::Kind;

/// The key of an account: the normalised address, or the trimmed, lower-cased input when it is not
/// one (so garbage is throttled too), bounded in length.
pub fn account_key(raw: &str) -> String {
    let key = taskflow_domain::user::normalise_email(raw).unwrap_or_else(|_| raw.trim().to_lowercase());
    key.chars().take(320).collect()
}

/// The client's address as a key: the socket peer, or with `hops` trusted proxies the address they
/// recorded in `X-Forwarded-For`, or the address web relayed a call for (see
/// [`relayed_address`]). IPv6 clients are keyed by their /64, which one host usually owns.
pub fn client_ip(req: &HttpRequest, hops: usize, relay_token: Option<&str>) -> String {
    match relayed_address(req, relay_token).or_else(|| client_address(req, hops)) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(String::new, |v4| v4.to_string()),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

/// The client web forwarded this call for, believed only when the call came through this service's
/// own sidecar: daprd replaces the caller's `dapr-api-token` with the app token (`APP_API_TOKEN`),
/// which nobody outside the pod knows, and the sidecar's access policy admits only web and websocket.
/// Without the check any client could name its own address and escape the per-address budgets.
fn relayed_address(req: &HttpRequest, relay_token: Option<&str>) -> Option<IpAddr> {
    let given = req.headers().get("dapr-api-token")?.as_bytes();
    if !same_secret(given, relay_token?.as_bytes()) {
        return None;
    }
    req.headers()
        .get(RELAYED_CLIENT_ADDRESS)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
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
    fn addresses_are_keys_and_ipv6_clients_are_keyed_by_their_64() {
        use actix_web::test::TestRequest;
        let v4 = TestRequest::default()
            .peer_addr("10.0.0.9:5000".parse().unwrap())
            .to_http_request();
        assert_eq!(client_ip(&v4, 0, None), "10.0.0.9");
        let v6 = TestRequest::default()
            .peer_addr("[2001:db8:1:2:3:4:5:6]:80".parse().unwrap())
            .to_http_request();
        assert_eq!(client_ip(&v6, 0, None), "2001:db8:1:2::/64");
        let forwarded = TestRequest::default()
            .peer_addr("10.0.0.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "[2001:db8:1:2::1]:443"))
            .to_http_request();
        assert_eq!(client_ip(&forwarded, 1, None), "2001:db8:1:2::/64");
    }

    #[test]
    fn a_relayed_address_is_believed_only_with_the_app_token() {
        use actix_web::test::TestRequest;
        let relayed = |token: Option<&str>| {
            let mut req = TestRequest::default()
                .peer_addr("127.0.0.1:3500".parse().unwrap())
                .insert_header((RELAYED_CLIENT_ADDRESS, "203.0.113.7"));
            if let Some(token) = token {
                req = req.insert_header(("dapr-api-token", token));
            }
            req.to_http_request()
        };
        let app_token = Some("the-sidecar-app-token");
        assert_eq!(
            client_ip(&relayed(Some("the-sidecar-app-token")), 0, app_token),
            "203.0.113.7"
        );
        assert_eq!(client_ip(&relayed(None), 0, app_token), "127.0.0.1", "no token");
        assert_eq!(
            client_ip(&relayed(Some("guessed")), 0, app_token),
            "127.0.0.1",
            "wrong token"
        );
        assert_eq!(
            client_ip(&relayed(Some("the-sidecar-app-token")), 0, None),
            "127.0.0.1",
            "a service without an app token believes no relay"
        );
        let garbage = TestRequest::default()
            .peer_addr("127.0.0.1:3500".parse().unwrap())
            .insert_header(("dapr-api-token", "the-sidecar-app-token"))
            .insert_header((RELAYED_CLIENT_ADDRESS, "not an address"))
            .to_http_request();
        assert_eq!(client_ip(&garbage, 0, app_token), "127.0.0.1");
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
