//! ChatKit client secrets: short-lived credentials that open the assistant and nothing else.
//!
//! A ChatKit frontend asks its backend for a session (`POST /api/chatkit/session`) and keeps the
//! `client_secret` it gets, refreshing it before it expires (`POST /api/chatkit/refresh`). TaskFlow
//! hands out an HS256 JWT signed with the local secret, `aud = "taskflow-chatkit"`, valid for
//! [`CHATKIT_SECRET_TTL_SECS`]: a page that leaks it exposes ten minutes of chat, not the user's
//! 7-day session. The audience keeps it apart from everything else: the access-token verifier refuses
//! any token with an `aud` ([`Authenticator::verify`]), stream tickets need their own audience, and
//! this verifier needs this one. Unlike a stream ticket it is used for many requests until it expires.

use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::tokens::LOCAL_ISSUER;
use crate::{AuthError, Authenticator};

/// The `aud` of every ChatKit client secret, and of nothing else.
pub const CHATKIT_AUDIENCE: &str = "taskflow-chatkit";
/// How long a client secret is valid, in seconds (ChatKit's own sessions default to ten minutes).
pub const CHATKIT_SECRET_TTL_SECS: i64 = 600;
/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 5;
/// Secrets longer than this are refused before any parsing (ours are about 250 bytes).
const MAX_SECRET_BYTES: usize = 1024;
const MAX_SUBJECT_CHARS: usize = 255;

#[derive(Debug, Serialize, Deserialize)]
struct SecretClaims {
    sub: String,
    aud: String,
    iss: String,
    exp: i64,
    iat: i64,
}

/// A client secret as the API hands it out.
#[derive(Debug, Clone)]
pub struct ChatKitSecret {
    pub client_secret: String,
    /// Unix time at which it stops working.
    pub expires_at: i64,
}

impl Authenticator {
    /// Signs a ChatKit client secret for `user_id`, valid for `ttl_secs`.
    pub fn issue_chatkit_secret(&self, user_id: &str, ttl_secs: i64) -> Result<ChatKitSecret, AuthError> {
        let now = Utc::now().timestamp();
        let claims = SecretClaims {
            sub: user_id.to_owned(),
            aud: CHATKIT_AUDIENCE.to_owned(),
            iss: LOCAL_ISSUER.to_owned(),
            exp: now + ttl_secs,
            iat: now,
        };
        let client_secret = encode(&Header::new(Algorithm::HS256), &claims, self.encoding_key())
            .map_err(|e| AuthError::Malformed(e.to_string()))?;
        Ok(ChatKitSecret {
            client_secret,
            expires_at: claims.exp,
        })
    }

    /// The user a ChatKit client secret speaks for, if its signature, audience, issuer and expiry
    /// are good. An access token, a stream ticket or an identity provider's token is refused.
    pub fn verify_chatkit_secret(&self, secret: &str) -> Result<String, AuthError> {
        if secret.len() > MAX_SECRET_BYTES {
            return Err(AuthError::Malformed(format!(
                "client secret longer than {MAX_SECRET_BYTES} bytes"
            )));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_audience(&[CHATKIT_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let claims = decode::<SecretClaims>(secret, self.decoding_key(), &validation)
            .map_err(|e| AuthError::Rejected(e.to_string()))?
            .claims;
        let sub_ok = !claims.sub.is_empty()
            && claims.sub.chars().count() <= MAX_SUBJECT_CHARS
            && !claims.sub.chars().any(char::is_control);
        if !sub_ok {
            return Err(AuthError::Rejected("unusable client secret subject".into()));
        }
        Ok(claims.sub)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::{SECRET, auth};

    #[test]
    fn a_client_secret_names_its_user_until_it_expires() {
        let a = auth(SECRET);
        let issued = a.issue_chatkit_secret("u1", CHATKIT_SECRET_TTL_SECS).unwrap();
        assert!(issued.expires_at > Utc::now().timestamp() + CHATKIT_SECRET_TTL_SECS - 5);
        assert_eq!(a.verify_chatkit_secret(&issued.client_secret).unwrap(), "u1");
        let expired = a.issue_chatkit_secret("u1", -60).unwrap();
        assert!(a.verify_chatkit_secret(&expired.client_secret).is_err());
    }

    #[tokio::test]
    async fn a_client_secret_is_not_an_access_token_nor_a_ticket_and_neither_is_one() {
        let a = auth(SECRET);
        let secret = a.issue_chatkit_secret("u1", 600).unwrap().client_secret;
        assert!(a.verify(&secret).await.is_err(), "an access token");
        assert!(a.verify_ticket(&secret).is_err(), "a stream ticket");
        let access = a.issue("u1", None, "U").unwrap().token;
        assert!(a.verify_chatkit_secret(&access).is_err());
        let ticket = a.issue_ticket("u1").unwrap().ticket;
        assert!(a.verify_chatkit_secret(&ticket).is_err());
    }

    #[test]
    fn another_deployments_secret_is_refused() {
        let theirs = auth(b"another-secret-another-secret-xx")
            .issue_chatkit_secret("u1", 600)
            .unwrap();
        assert!(auth(SECRET).verify_chatkit_secret(&theirs.client_secret).is_err());
    }
}
