//! Personal access tokens: long-lived, scoped bearer tokens for scripts and integrations.
//!
//! A token is `tf_pat_` followed by 32 random bytes in unpadded base64url, shown to its owner once.
//! Only its SHA-256 is stored: with 256 bits of randomness a fast hash is enough (nobody can guess
//! a preimage), and the hash doubles as the indexed lookup key, so a check is one indexed read.
//! Whoever keeps the tokens implements [`PatResolver`]: the database in backend-api and the
//! `taskflow` binary, backend-api through service invocation for the database-free websocket
//! service. The resolver also refuses expired tokens and records when a token was last used.

use std::future::Future;
use std::pin::Pin;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{AuthError, Scopes};

/// What every personal access token starts with (so it is never mistaken for a JWT, and secret
/// scanners can find leaked ones).
pub const PAT_PREFIX: &str = "tf_pat_";
const SECRET_BYTES: usize = 32;

/// A freshly generated token: the secret for its owner, the hash for the database.
#[derive(Debug)]
pub struct GeneratedPat {
    pub token: String,
    pub hash: String,
}

/// Generates a new token (the thread-local CSPRNG, seeded from the operating system).
pub fn generate_pat() -> GeneratedPat {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{PAT_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = pat_hash(&token);
    GeneratedPat { token, hash }
}

/// Whether a bearer token is a personal access token rather than a JWT.
pub fn is_pat(token: &str) -> bool {
    token.starts_with(PAT_PREFIX)
}

/// The stored form of a token: lower-case hex SHA-256 of the whole token.
pub fn pat_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A live token: whose it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPat {
    pub token_id: String,
    pub user_id: String,
    pub scopes: Scopes,
}

pub type PatFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<ResolvedPat>, AuthError>> + Send + 'a>>;

/// Finds the live token with this hash; `None` when it is unknown, revoked or expired.
pub trait PatResolver: Send + Sync {
    fn resolve<'a>(&'a self, token_hash: &'a str) -> PatFuture<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = generate_pat();
        let b = generate_pat();
        assert!(is_pat(&a.token));
        assert_eq!(a.token.len(), PAT_PREFIX.len() + 43);
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, pat_hash(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert_ne!(a.hash, b.hash);
    }
}
