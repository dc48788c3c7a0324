//! Issuing local tokens and verifying any token the API accepts.
//!
//! The header's algorithm decides the verifier, from a closed list: HS256 goes to the local secret,
//! EdDSA/ES256/RS256 to the identity provider's JWKS (when configured). Anything else — `none`,
//! HS384, an asymmetric algorithm with no JWKS — is refused. An HS256 token forged with the IdP's
//! public key as the HMAC secret fails, because HS256 is only ever checked against our own secret.
//! A personal access token (`tf_pat_…`, not a JWT) goes to the app's [`PatResolver`], when it has one.

use std::sync::Arc;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};

use crate::external_id::ExternalSubject;
use crate::jwks::JwksVerifier;
use crate::{AuthError, PatResolver, Scope, Scopes, is_pat, pat_hash};

/// `iss` of the tokens this service signs.
pub const LOCAL_ISSUER: &str = "taskflow";
/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
const MAX_SUBJECT_CHARS: usize = 255;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub(crate) const LEEWAY_SECS: u64 = 30;

/// The claims TaskFlow reads (and, for local tokens, writes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Set when the external identity provider issued the token (the user may not be provisioned
    /// yet); `user_id` is then derived from it.
    pub external: Option<ExternalSubject>,
    /// A personal access token's scopes; `None` for a session (password login or identity
    /// provider), which may do everything.
    pub scopes: Option<Scopes>,
}

impl Identity {
    /// Whether this caller may act within `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.contains(scope))
    }

    /// Whether this caller is a session rather than a personal access token.
    pub fn is_session(&self) -> bool {
        self.scopes.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
}

/// How local tokens are signed.
#[derive(Clone)]
pub struct LocalTokenConfig {
    pub secret: Vec<u8>,
    pub ttl_days: i64,
}

impl std::fmt::Debug for LocalTokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTokenConfig")
            .field("secret", &"<redacted>")
            .field("ttl_days", &self.ttl_days)
            .finish()
    }
}

struct Inner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_days: i64,
    jwks: Option<JwksVerifier>,
}

/// Issues and verifies tokens; cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
    pats: Option<Arc<dyn PatResolver>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwks", &self.inner.jwks.is_some())
            .field("pats", &self.pats.is_some())
            .finish()
    }
}

fn subject_ok(sub: &str) -> bool {
    !sub.is_empty() && sub.chars().count() <= MAX_SUBJECT_CHARS && !sub.chars().any(char::is_control)
}

impl Authenticator {
    pub fn new(local: LocalTokenConfig, jwks: Option<JwksVerifier>) -> Self {
        Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_secret(&local.secret),
                decoding: DecodingKey::from_secret(&local.secret),
                ttl_days: local.ttl_days,
                jwks,
            }),
            pats: None,
        }
    }

    /// Accepts personal access tokens, looked up by `resolver`; without one they are refused.
    pub fn with_pats(mut self, resolver: Arc<dyn PatResolver>) -> Self {
        self.pats = Some(resolver);
        self
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.inner.encoding
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.inner.decoding
    }

    /// Signs an HS256 token for a local user.
    pub fn issue(&self, user_id: &str, email: Option<&str>, name: &str) -> Result<IssuedToken, AuthError> {
        let now = Utc::now().timestamp();
        let expires_in = self.inner.ttl_days * 24 * 3600;
        let claims = Claims {
            sub: user_id.to_owned(),
            exp: now + expires_in,
            iat: Some(now),
            nbf: None,
            iss: Some(LOCAL_ISSUER.to_owned()),
            email: email.map(str::to_owned),
            name: Some(name.to_owned()),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.inner.encoding)
            .map_err(|e| AuthError::Malformed(e.to_string()))?;
        Ok(IssuedToken { token, expires_in })
    }

    /// Verifies a bearer token and returns whom it identifies.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed(format!(
                "token longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        if is_pat(token) {
            return self.verify_pat(token).await;
        }
        let header = decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        let (claims, external) = match header.alg {
            Algorithm::HS256 => (self.verify_local(token)?, false),
            Algorithm::EdDSA | Algorithm::ES256 | Algorithm::RS256 => match &self.inner.jwks {
                Some(jwks) => (jwks.verify(token, &header).await?, true),
                None => {
                    return Err(AuthError::UnsupportedAlgorithm(format!(
                        "{:?} (no JWKS_URL configured)",
                        header.alg
                    )));
                }
            },
            other => return Err(AuthError::UnsupportedAlgorithm(format!("{other:?}"))),
        };
        if !subject_ok(&claims.sub) {
            return Err(AuthError::Rejected("unusable subject".into()));
        }
        let external = external.then(|| ExternalSubject {
            issuer: claims.iss,
            subject: claims.sub.clone(),
        });
        Ok(Identity {
            user_id: external.as_ref().map_or(claims.sub, ExternalSubject::user_id),
            email: claims.email,
            name: claims.name,
            external,
            scopes: None,
        })
    }

    async fn verify_pat(&self, token: &str) -> Result<Identity, AuthError> {
        let resolver = self
            .pats
            .as_ref()
            .ok_or_else(|| AuthError::Rejected("personal access tokens are not accepted here".into()))?;
        let resolved = resolver
            .resolve(&pat_hash(token))
            .await?
            .ok_or_else(|| AuthError::Rejected("unknown, revoked or expired personal access token".into()))?;
        Ok(Identity {
            user_id: resolved.user_id,
            email: None,
            name: None,
            external: None,
            scopes: Some(resolved.scopes),
        })
    }

    fn verify_local(&self, token: &str) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        // No audience is accepted: a token with any `aud` (a stream ticket) is not an access token.
        validation.validate_aud = true;
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        decode::<Claims>(token, &self.inner.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Rejected(e.to_string()))
    }
}
