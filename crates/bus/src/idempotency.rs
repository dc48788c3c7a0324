//! Exactly-once effects over at-least-once delivery.
//!
//! [`Idempotent`] wraps a handler and keys each delivery by `{service}:{event id}`:
//! - the first delivery *claims* the key as in progress, for a short lease, and runs the handler;
//! - on SUCCESS or DROP the key is marked *done* and remembered for a long TTL — later deliveries
//!   answer SUCCESS without running anything;
//! - on RETRY the claim is released, so the redelivery runs;
//! - a delivery that finds the key *in progress* answers RETRY, not SUCCESS: if the process that
//!   claimed it died mid-effect, the lease runs out and a later delivery does the work. A failure
//!   after claiming therefore never drops the event.
//!
//! Stores: in memory (tests, one process), the Dapr state store (the services) and Redis. For
//! effects written to the database, the database's own unique keys are the authority (see
//! `taskflow_store::ProcessedEventRepo` for an insert-if-absent helper to use inside the effect's
//! transaction); these stores are the fast path in front of them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ReceivedEvent;
use crate::handler::{EventHandler, HandlerFuture, Outcome};

#[derive(Debug, thiserror::Error)]
#[error("idempotency store unavailable: {0}")]
pub struct IdempotencyError(pub String);

pub type ClaimFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, IdempotencyError>> + Send + 'a>>;

/// The state of a key when a delivery tries to claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This delivery owns the effect.
    Acquired,
    /// The effect happened already.
    Done,
    /// Another delivery is (or was, until its lease runs out) doing it.
    InProgress,
}

pub(crate) const PENDING: &str = "pending";
pub(crate) const DONE: &str = "done";

/// Keys with an in-progress lease and a done state.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` as in progress for `lease`, unless it is claimed or done.
    fn claim<'a>(&'a self, key: &'a str, lease: Duration) -> ClaimFuture<'a, Claim>;
    /// Marks `key` done, remembered for `ttl`.
    fn complete<'a>(&'a self, key: &'a str, ttl: Duration) -> ClaimFuture<'a, ()>;
    /// Forgets `key`, so the next delivery runs the effect.
    fn release<'a>(&'a self, key: &'a str) -> ClaimFuture<'a, ()>;
}

/// Keys in this process's memory.
#[derive(Default)]
pub struct InMemoryIdempotency {
    keys: Mutex<HashMap<String, (bool, Instant)>>,
}

impl InMemoryIdempotency {
    fn with_keys<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, (bool, Instant)>) -> T,
    ) -> Result<T, IdempotencyError> {
        let mut keys = self.keys.lock().map_err(|e| IdempotencyError(e.to_string()))?;
        Ok(f(&mut keys))
    }
}

impl IdempotencyStore for InMemoryIdempotency {
    fn claim<'a>(&'a self, key: &'a str, lease: Duration) -> ClaimFuture<'a, Claim> {
        Box::pin(async move {
            self.with_keys(|keys| {
                let now = Instant::now();
                if keys.len() > 100_000 {
                    keys.retain(|_, (_, expires)| *expires > now);
                }
                match keys.get(key) {
                    Some((true, expires)) if *expires > now => Claim::Done,
                    Some((false, expires)) if *expires > now => Claim::InProgress,
                    _ => {
                        keys.insert(key.to_owned(), (false, now + lease));
                        Claim::Acquired
                    }
                }
            })
        })
    }

    fn complete<'a>(&'a self, key: &'a str, ttl: Duration) -> ClaimFuture<'a, ()> {
        Box::pin(async move {
            self.with_keys(|keys| {
                keys.insert(key.to_owned(), (true, Instant::now() + ttl));
            })
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> ClaimFuture<'a, ()> {
        Box::pin(async move {
            self.with_keys(|keys| {
                keys.remove(key);
            })
        })
    }
}

/// Keys in Redis: `SET key pending NX EX lease`, then `SET key done EX ttl`.
#[derive(Clone)]
pub struct RedisIdempotency {
    conn: redis::aio::ConnectionManager,
}

fn redis_error(e: redis::RedisError) -> IdempotencyError {
    IdempotencyError(e.to_string())
}

impl RedisIdempotency {
    pub async fn connect(url: &str) -> Result<Self, IdempotencyError> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let conn = client.get_connection_manager().await.map_err(redis_error)?;
        Ok(Self { conn })
    }
}

impl IdempotencyStore for RedisIdempotency {
    fn claim<'a>(&'a self, key: &'a str, lease: Duration) -> ClaimFuture<'a, Claim> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let set: Option<String> = redis::cmd("SET")
                .arg(key)
                .arg(PENDING)
                .arg("NX")
                .arg("EX")
                .arg(lease.as_secs().max(1))
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            if set.is_some() {
                return Ok(Claim::Acquired);
            }
            let value: Option<String> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            Ok(if value.as_deref() == Some(DONE) {
                Claim::Done
            } else {
                Claim::InProgress
            })
        })
    }

    fn complete<'a>(&'a self, key: &'a str, ttl: Duration) -> ClaimFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: Option<String> = redis::cmd("SET")
                .arg(key)
                .arg(DONE)
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            Ok(())
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> ClaimFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            Ok(())
        })
    }
}

/// A handler that runs at most once per event id (per service), however often the event arrives.
pub struct Idempotent {
    service: String,
    keys: Arc<dyn IdempotencyStore>,
    inner: Arc<dyn EventHandler>,
    ttl: Duration,
    lease: Duration,
}

/// How long a claimed delivery may take before another may try.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

impl Idempotent {
    /// Remembers done keys for `ttl`; claims last [`DEFAULT_LEASE`].
    pub fn new(
        service: &str,
        keys: Arc<dyn IdempotencyStore>,
        inner: Arc<dyn EventHandler>,
        ttl: Duration,
    ) -> Self {
        Self {
            service: service.into(),
            keys,
            inner,
            ttl,
            lease: DEFAULT_LEASE,
        }
    }

    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn key(&self, event: &ReceivedEvent) -> String {
        format!("{}:{}", self.service, event.id)
    }
}

impl EventHandler for Idempotent {
    fn handle<'a>(&'a self, event: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin(async move {
            let key = self.key(event);
            match self.keys.claim(&key, self.lease).await {
                Err(e) => return Outcome::Retry(e.to_string()),
                Ok(Claim::Done) => {
                    tracing::debug!(%key, "duplicate delivery ignored");
                    metrics::counter!("bus_duplicate_deliveries_total", "service" => self.service.clone())
                        .increment(1);
                    return Outcome::Success;
                }
                Ok(Claim::InProgress) => {
                    return Outcome::Retry("another delivery of this event is in progress".into());
                }
                Ok(Claim::Acquired) => {}
            }
            let outcome = self.inner.handle(event).await;
            let recorded = match &outcome {
                Outcome::Retry(_) => self.keys.release(&key).await,
                Outcome::Success | Outcome::Drop(_) => self.keys.complete(&key, self.ttl).await,
            };
            if let Err(e) = recorded {
                tracing::warn!(%key, error = %e, "could not record the delivery's outcome; a redelivery waits for the claim to expire");
            }
            outcome
        })
    }
}
