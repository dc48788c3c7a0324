//! Exactly-once effects over at-least-once delivery.
//!
//! [`Idempotent`] wraps a handler: it claims `{service}:{event id}` before running it. A claim that
//! already exists means the event was handled — answer SUCCESS without running it again. A handler
//! that asks for a retry releases its claim, so the redelivery runs; a failure after claiming never
//! drops an event. Claims expire after a TTL so the key space stays bounded.
//!
//! Stores: in memory (tests, one process), the Dapr state store (the services), Redis (directly), and
//! a database table (insert-if-absent), for effects that must be exactly-once beyond the TTL.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskflow_store::Store;
use uuid::Uuid;

use crate::ReceivedEvent;
use crate::handler::{EventHandler, HandlerFuture, Outcome};

#[derive(Debug, thiserror::Error)]
#[error("idempotency store unavailable: {0}")]
pub struct IdempotencyError(pub String);

pub type ClaimFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, IdempotencyError>> + Send + 'a>>;

/// Set-if-absent keys with a TTL.
pub trait IdempotencyStore: Send + Sync {
    /// `true` if this call created the key (the caller owns the effect), `false` if it existed.
    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> ClaimFuture<'a, bool>;
    fn release<'a>(&'a self, key: &'a str) -> ClaimFuture<'a, ()>;
}

/// Claims in this process's memory.
#[derive(Default)]
pub struct InMemoryIdempotency {
    keys: Mutex<HashMap<String, Instant>>,
}

impl IdempotencyStore for InMemoryIdempotency {
    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> ClaimFuture<'a, bool> {
        Box::pin(async move {
            let mut keys = self.keys.lock().map_err(|e| IdempotencyError(e.to_string()))?;
            let now = Instant::now();
            if keys.len() > 100_000 {
                keys.retain(|_, expires| *expires > now);
            }
            match keys.get(key) {
                Some(expires) if *expires > now => Ok(false),
                _ => {
                    keys.insert(key.to_owned(), now + ttl);
                    Ok(true)
                }
            }
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> ClaimFuture<'a, ()> {
        Box::pin(async move {
            self.keys
                .lock()
                .map_err(|e| IdempotencyError(e.to_string()))?
                .remove(key);
            Ok(())
        })
    }
}

/// Claims in Redis: `SET key 1 NX EX ttl`.
#[derive(Clone)]
pub struct RedisIdempotency {
    conn: redis::aio::ConnectionManager,
}

impl RedisIdempotency {
    pub async fn connect(url: &str) -> Result<Self, IdempotencyError> {
        let client = redis::Client::open(url).map_err(|e| IdempotencyError(e.to_string()))?;
        let conn = client
            .get_connection_manager()
            .await
            .map_err(|e| IdempotencyError(e.to_string()))?;
        Ok(Self { conn })
    }
}

impl IdempotencyStore for RedisIdempotency {
    fn claim<'a>(&'a self, key: &'a str, ttl: Duration) -> ClaimFuture<'a, bool> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let reply: Option<String> = redis::cmd("SET")
                .arg(key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .query_async(&mut conn)
                .await
                .map_err(|e| IdempotencyError(e.to_string()))?;
            Ok(reply.is_some())
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> ClaimFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .map_err(|e| IdempotencyError(e.to_string()))?;
            Ok(())
        })
    }
}

/// Claims as rows of `processed_events`, keyed by (consumer, event id); they do not expire.
pub struct DbIdempotency {
    store: Store,
}

impl DbIdempotency {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn split(key: &str) -> Result<(&str, Uuid), IdempotencyError> {
        let (consumer, id) = key
            .rsplit_once(':')
            .ok_or_else(|| IdempotencyError(format!("bad key {key}")))?;
        let id =
            Uuid::parse_str(id).map_err(|_| IdempotencyError(format!("event id in {key} is not a UUID")))?;
        Ok((consumer, id))
    }
}

impl IdempotencyStore for DbIdempotency {
    fn claim<'a>(&'a self, key: &'a str, _ttl: Duration) -> ClaimFuture<'a, bool> {
        Box::pin(async move {
            let (consumer, id) = Self::split(key)?;
            self.store
                .processed_events()
                .claim(consumer, id, taskflow_domain::time::now())
                .await
                .map_err(|e| IdempotencyError(e.to_string()))
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> ClaimFuture<'a, ()> {
        Box::pin(async move {
            let (consumer, id) = Self::split(key)?;
            self.store
                .processed_events()
                .release(consumer, id)
                .await
                .map_err(|e| IdempotencyError(e.to_string()))
        })
    }
}

/// A handler that runs at most once per event id (per service), however often the event arrives.
pub struct Idempotent {
    service: String,
    keys: Arc<dyn IdempotencyStore>,
    inner: Arc<dyn EventHandler>,
    ttl: Duration,
}

impl Idempotent {
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
        }
    }

    pub fn key(&self, event: &ReceivedEvent) -> String {
        format!("{}:{}", self.service, event.id)
    }
}

impl EventHandler for Idempotent {
    fn handle<'a>(&'a self, event: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin(async move {
            let key = self.key(event);
            match self.keys.claim(&key, self.ttl).await {
                Err(e) => return Outcome::Retry(e.to_string()),
                Ok(false) => {
                    tracing::debug!(%key, "duplicate delivery ignored");
                    metrics::counter!("bus_duplicate_deliveries_total", "service" => self.service.clone())
                        .increment(1);
                    return Outcome::Success;
                }
                Ok(true) => {}
            }
            let outcome = self.inner.handle(event).await;
            if let Outcome::Retry(_) = &outcome
                && let Err(e) = self.keys.release(&key).await
            {
                tracing::warn!(%key, error = %e, "could not release an idempotency claim; the retry may be skipped until it expires");
            }
            outcome
        })
    }
}
