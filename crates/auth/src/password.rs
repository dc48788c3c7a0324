//! Argon2id password hashing, off the async runtime and bounded in concurrency.
//!
//! Each hash takes ~19 MiB and tens of milliseconds of CPU; unbounded, a burst of logins would exhaust
//! memory, so at most a few run at once. An unknown e-mail is checked against a dummy hash, so a
//! wrong e-mail and a wrong password take the same time.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::AuthError;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Semaphore::new(cores * 2)
    })
}

fn hash_blocking(password: &[u8]) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(b"dummy password for timing").unwrap_or_default())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AuthError> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Hashes a password into a PHC string (`$argon2id$…`).
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    blocking(move || hash_blocking(password.as_bytes())).await?
}

/// Checks `password` against `stored`; with no stored hash it burns the same time and says no.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, AuthError> {
    blocking(move || {
        let (hash, known) = match stored.as_deref() {
            Some(h) => (h, true),
            None => (dummy_hash(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && known
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(
            !verify_password("dummy password for timing".into(), None)
                .await
                .unwrap()
        );
        assert!(
            !verify_password("x".into(), Some("not a phc string".into()))
                .await
                .unwrap()
        );
    }
}
