//! Stream tickets: short-lived, single-use tokens for the one place a browser cannot send a header.
//!
//! `EventSource` and `WebSocket` cannot set `Authorization`, so a client used to put its 7-day access
//! token in the URL, where proxies' access logs and browser history keep it. Instead the client asks
//! the API for a ticket (`POST /api/{user_id}/stream-tickets`) and puts that in `?ticket=`. A ticket
//! is an HS256 JWT signed with the same local secret as access tokens, but with
//! `aud = "taskflow-stream"`, a 60-second life and a random `jti`. The audience keeps the two apart in
//! both directions: access tokens carry no `aud` and so are not tickets, and the access-token verifier
//! refuses any token with an `aud` ([`Authenticator::verify`]), so a ticket is never an access token.
//! Single use is the redeemer's job (the websocket service keeps a ledger of spent `jti`s until
//! [`RedeemedTicket::usable_until`]).

use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::tokens::LOCAL_ISSUER;
use crate::{AuthError, Authenticator};

/// The `aud` of every stream ticket, and of nothing else.
pub const STREAM_AUDIENCE: &str = "taskflow-stream";
/// How long a ticket is valid, in seconds.
pub const TICKET_TTL_SECS: i64 = 60;
/// Clock skew tolerated on a ticket's `exp` (replicas' clocks), in seconds.
pub const TICKET_LEEWAY_SECS: u64 = 5;
/// Tickets longer than this are refused before any parsing (ours are about 300 bytes).
const MAX_TICKET_BYTES: usize = 1024;
const MAX_FIELD_CHARS: usize = 255;

#[derive(Debug, Serialize, Deserialize)]
struct TicketClaims {
    sub: String,
    aud: String,
    iss: String,
    exp: i64,
    iat: i64,
    jti: String,
}

/// A ticket as the API hands it out.
#[derive(Debug, Clone)]
pub struct IssuedTicket {
    pub ticket: String,
    pub expires_in: i64,
}

/// A ticket whose signature, audience, issuer and expiry are good. Not yet proven unused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedTicket {
    pub user_id: String,
    /// The ticket's unique id: the key of the single-use ledger.
    pub jti: String,
    /// Unix time after which this ticket no longer verifies (`exp` plus the leeway): how long the
    /// ledger must remember its `jti`.
    pub usable_until: i64,
}

fn field_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_FIELD_CHARS && !s.chars().any(char::is_control)
}

impl Authenticator {
    /// Signs a stream ticket for `user_id`, valid for [`TICKET_TTL_SECS`].
    pub fn issue_ticket(&self, user_id: &str) -> Result<IssuedTicket, AuthError> {
        self.issue_ticket_for(user_id, TICKET_TTL_SECS)
    }

    /// Signs a stream ticket valid for `ttl_secs` (negative: already expired). For tests and for
    /// deployments that tune the lifetime; clients are told `expires_in`.
    pub fn issue_ticket_for(&self, user_id: &str, ttl_secs: i64) -> Result<IssuedTicket, AuthError> {
        let now = Utc::now().timestamp();
        let claims = TicketClaims {
            sub: user_id.to_owned(),
            aud: STREAM_AUDIENCE.to_owned(),
            iss: LOCAL_ISSUER.to_owned(),
            exp: now + ttl_secs,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let ticket = encode(&Header::new(Algorithm::HS256), &claims, self.encoding_key())
            .map_err(|e| AuthError::Malformed(e.to_string()))?;
        Ok(IssuedTicket {
            ticket,
            expires_in: ttl_secs,
        })
    }

    /// Checks a stream ticket's signature, audience, issuer and expiry. An access token (no `aud`)
    /// or an identity provider's token (not HS256) is refused.
    pub fn verify_ticket(&self, ticket: &str) -> Result<RedeemedTicket, AuthError> {
        if ticket.len() > MAX_TICKET_BYTES {
            return Err(AuthError::Malformed(format!(
                "ticket longer than {MAX_TICKET_BYTES} bytes"
            )));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = TICKET_LEEWAY_SECS;
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_audience(&[STREAM_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let claims = decode::<TicketClaims>(ticket, self.decoding_key(), &validation)
            .map_err(|e| AuthError::Rejected(e.to_string()))?
            .claims;
        if !field_ok(&claims.sub) || !field_ok(&claims.jti) {
            return Err(AuthError::Rejected("unusable ticket subject or id".into()));
        }
        let leeway = i64::try_from(TICKET_LEEWAY_SECS).unwrap_or(i64::MAX);
        Ok(RedeemedTicket {
            user_id: claims.sub,
            jti: claims.jti,
            usable_until: claims.exp.saturating_add(leeway),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::{SECRET, auth};

    #[test]
    fn a_ticket_names_its_user_and_a_fresh_id() {
        let a = auth(SECRET);
        let one = a.issue_ticket("u1").unwrap();
        assert_eq!(one.expires_in, 60);
        let first = a.verify_ticket(&one.ticket).unwrap();
        let second = a.verify_ticket(&a.issue_ticket("u1").unwrap().ticket).unwrap();
        assert_eq!(first.user_id, "u1");
        assert_ne!(first.jti, second.jti);
        let now = Utc::now().timestamp();
        assert!((now + 60..=now + 66).contains(&first.usable_until));
    }

    #[test]
    fn an_expired_ticket_is_refused() {
        let a = auth(SECRET);
        let old = a.issue_ticket_for("u1", -10).unwrap();
        assert!(matches!(
            a.verify_ticket(&old.ticket),
            Err(AuthError::Rejected(_))
        ));
    }

    #[test]
    fn an_access_token_is_not_a_ticket() {
        let a = auth(SECRET);
        let token = a.issue("u1", None, "U").unwrap().token;
        assert!(a.verify_ticket(&token).is_err());
    }

    #[test]
    fn another_secret_s_ticket_is_refused() {
        let ticket = auth(b"another-secret-another-secret-xx")
            .issue_ticket("u1")
            .unwrap();
        assert!(auth(SECRET).verify_ticket(&ticket.ticket).is_err());
    }

    /// The other direction: a ticket must never pass as an access token (`verify` refuses `aud`).
    #[tokio::test]
    async fn a_ticket_is_not_an_access_token() {
        let a = auth(SECRET);
        let ticket = a.issue_ticket("u1").unwrap();
        assert!(matches!(
            a.verify(&ticket.ticket).await,
            Err(AuthError::Rejected(_))
        ));
    }

    #[tokio::test]
    async fn a_token_with_any_audience_is_not_an_access_token() {
        let a = auth(SECRET);
        let now = Utc::now().timestamp();
        for aud in [
            serde_json::json!("taskflow"),
            serde_json::json!(["x"]),
            serde_json::json!([]),
        ] {
            let claims = serde_json::json!({"sub": "u1", "iss": LOCAL_ISSUER, "exp": now + 600, "aud": aud});
            let token = encode(&Header::new(Algorithm::HS256), &claims, a.encoding_key()).unwrap();
            assert!(a.verify(&token).await.is_err(), "aud {aud} accepted");
        }
    }
}
