//! Argon2id password hashing, off the async runtime, bounded in concurrency and in memory.
//!
//! Each hash fills ~19 MiB and takes tens of milliseconds of CPU. Hashes run on a few dedicated
//! threads, each reusing one buffer for Argon2's memory: allocating a fresh 19 MiB per hash (what the
//! `argon2` crate's own `PasswordHasher` does) left the allocator holding hundreds of MiB after a burst
//! of sign-ups, while a reused buffer keeps the process at one buffer per hashing thread. At most a
//! few hashes are admitted at once. An unknown e-mail is checked against a dummy hash, so a wrong
//! e-mail and a wrong password take the same time.

use std::cell::RefCell;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::AuthError;

/// Hashing threads: one per core, at most four.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4)
}

/// Hashes admitted at once (running, or queued for a hashing thread).
fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(threads() * 2))
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' queue, started on first use; `None` if no thread could be started.
fn pool() -> Option<&'static Mutex<Sender<Job>>> {
    static POOL: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let started = (0..threads())
            .filter(|i| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("argon2-{i}"))
                    .spawn(move || {
                        loop {
                            let job = match rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok(job) = job else { return };
                            // A panicking job drops its result sender (its caller gets an error);
                            // the thread lives on.
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                    })
                    .is_ok()
            })
            .count();
        (started > 0).then(|| Mutex::new(tx))
    })
    .as_ref()
}

thread_local! {
    /// This hashing thread's Argon2 memory, allocated once and reused.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The raw Argon2 output of `password` with `salt`, computed in this thread's reused memory.
fn argon2_raw(argon: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), argon2::Error> {
    let blocks = argon.params().block_count();
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

fn hashing_error(e: impl std::fmt::Display) -> AuthError {
    AuthError::Hashing(e.to_string())
}

fn hash_blocking(password: &[u8]) -> Result<String, AuthError> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::fill(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_raw(&argon, password, &salt, &mut out).map_err(hashing_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(hashing_error)?,
        salt: Some(Salt::new(&salt).map_err(hashing_error)?),
        hash: Some(Output::new(&out).map_err(hashing_error)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`; `false` for anything unparseable.
fn verify_blocking(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    if argon2_raw(&argon, password, salt.as_ref(), &mut out).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(b"dummy password for timing").unwrap_or_default())
}

/// Runs `f` on a hashing thread once admitted.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AuthError> {
    let _permit = permits().acquire().await.map_err(hashing_error)?;
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(f());
    });
    pool()
        .ok_or_else(|| AuthError::Hashing("no password-hashing thread could be started".into()))?
        .lock()
        .map_err(|_| AuthError::Hashing("the password-hashing queue is poisoned".into()))?
        .send(job)
        .map_err(|_| AuthError::Hashing("the password-hashing threads have stopped".into()))?;
    result
        .await
        .map_err(|_| AuthError::Hashing("a password-hashing job failed".into()))
}

/// Hashes a password into a PHC string (`$argon2id$…`).
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    blocking(move || hash_blocking(password.as_bytes())).await?
}

/// Checks `password` against `stored`; with no stored hash it burns the same time and says no.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, AuthError> {
    blocking(move || match stored.as_deref() {
        Some(hash) => verify_blocking(password.as_bytes(), hash),
        None => {
            let _ = verify_blocking(password.as_bytes(), dummy_hash());
            false
        }
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

    #[tokio::test]
    async fn hashes_stay_compatible_with_the_argon2_crates_own_format() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Stored by earlier versions through the crate's PasswordHasher: still verifies.
        let old = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(
            verify_password("correct horse".into(), Some(old.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), Some(old)).await.unwrap());
        // Written now: the crate's own verifier accepts it, with the default parameters.
        let new = hash_password("correct horse".into()).await.unwrap();
        let parsed = PasswordHash::new(&new).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new}");
        // Two hashes of one password differ (fresh salt each time).
        assert_ne!(new, hash_password("correct horse".into()).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_run_concurrently_and_all_verify() {
        let hashes: Vec<_> = futures_join(16).await;
        for (i, h) in hashes.into_iter().enumerate() {
            assert!(verify_password(format!("pw-{i}"), Some(h)).await.unwrap());
        }
    }

    async fn futures_join(n: usize) -> Vec<String> {
        let tasks: Vec<_> = (0..n)
            .map(|i| tokio::spawn(hash_password(format!("pw-{i}"))))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap().unwrap());
        }
        out
    }
}
