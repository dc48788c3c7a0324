//! Redeeming stream tickets, once each, and the rule that long-lived tokens stay out of URLs.
//!
//! A browser's `EventSource`/`WebSocket` cannot send `Authorization`, so it authenticates with
//! `?ticket=`: a 60-second, single-use ticket from `POST /api/{user_id}/stream-tickets` (see
//! `taskflow_auth`'s `tickets` module). "Single use" needs memory of spent ticket ids (`jti`) until
//! the ticket could no longer verify anyway; that memory is a [`TicketLedger`]:
//!
//! - [`MemoryLedger`] in the single binary: one process, so a map is the truth. It is bounded: entries
//!   leave when their ticket expires, and past the cap new tickets are refused (503) rather than the
//!   map growing without bound.
//! - [`DaprLedger`] in the standalone service: several replicas, so the spent ids live in a Dapr
//!   state store all replicas share (`STREAM_TICKET_STATE_STORE`, default `statestore`), read first
//!   and then claimed with set-if-absent (`etag "0"` + first-write, TTL = the ticket's remaining
//!   life) under `stream-ticket:{jti}`. If the store cannot be reached the ticket is refused with 503:
//!   accepting it could let it be used once per replica.
//!
//! `?token=` (the 7-day access token) ends up in proxies' access logs and browser history, so it is
//! refused unless `STREAM_TOKEN_IN_URL=true` re-enables it for old clients.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use taskflow_auth::PatResolver;
use taskflow_bus::dapr::{DaprClient, DaprConfig, DaprError};

use crate::history::{EventHistory, NoHistory};
use taskflow_runtime::config::{self, ConfigError};

/// How many spent tickets the in-memory ledger remembers at most.
pub const DEFAULT_LEDGER_CAPACITY: usize = 100_000;
/// The Dapr state key prefix of spent tickets.
pub const DAPR_KEY_PREFIX: &str = "stream-ticket:";

/// Why a ticket could not be checked against the ledger (the ticket is then refused).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the ticket ledger is full ({0} unexpired tickets)")]
    Full(usize),
    #[error("the state store holding spent tickets is unreachable: {0}")]
    Unavailable(String),
}

pub type SpendFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, LedgerError>> + Send + 'a>>;

/// Remembers spent ticket ids.
pub trait TicketLedger: Send + Sync {
    /// Marks `jti` spent until the Unix time `until`: `true` the first time, `false` if it was
    /// already spent (a replay).
    fn spend<'a>(&'a self, jti: &'a str, until: i64) -> SpendFuture<'a>;
}

#[derive(Default)]
struct Spent {
    until: HashMap<String, i64>,
    /// The same entries by expiry, so expired ones leave in order.
    by_expiry: BinaryHeap<Reverse<(i64, String)>>,
}

/// The single binary's ledger: a bounded map of spent ids, each dropped once its ticket expired.
pub struct MemoryLedger {
    capacity: usize,
    spent: Mutex<Spent>,
}

impl MemoryLedger {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            spent: Mutex::default(),
        }
    }

    /// Marks `jti` spent as of `now`; see [`TicketLedger::spend`].
    pub fn spend_at(&self, jti: &str, until: i64, now: i64) -> Result<bool, LedgerError> {
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        let mut spent = self
            .spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(Reverse((expiry, _))) = spent.by_expiry.peek() {
            if *expiry >= now {
                break;
            }
            if let Some(Reverse((_, id))) = spent.by_expiry.pop() {
                spent.until.remove(&id);
            }
        }
        if spent.until.contains_key(jti) {
            return Ok(false);
        }
        if spent.until.len() >= self.capacity {
            return Err(LedgerError::Full(spent.until.len()));
        }
        spent.until.insert(jti.to_owned(), until);
        spent.by_expiry.push(Reverse((until, jti.to_owned())));
        Ok(true)
    }

    /// How many spent tickets are remembered.
    pub fn len(&self) -> usize {
        self.spent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .until
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::new(DEFAULT_LEDGER_CAPACITY)
    }
}

impl TicketLedger for MemoryLedger {
    fn spend<'a>(&'a self, jti: &'a str, until: i64) -> SpendFuture<'a> {
        let result = self.spend_at(jti, until, Utc::now().timestamp());
        Box::pin(async move { result })
    }
}

/// The standalone service's ledger: spent ids in a Dapr state store shared by every replica
/// (`STREAM_TICKET_STATE_STORE`, keys prefixed with the app id — not websocket's per-pod
/// `statestore-replica`, where each replica would keep its own ledger).
pub struct DaprLedger(DaprClient);

impl DaprLedger {
    /// A ledger in the state store named `store`, through `dapr`'s sidecar.
    pub fn new(dapr: &DaprClient, store: &str) -> Result<Self, DaprError> {
        let config = DaprConfig {
            state_store: store.to_owned(),
            ..dapr.config().clone()
        };
        DaprClient::new(config).map(Self)
    }
}

impl TicketLedger for DaprLedger {
    fn spend<'a>(&'a self, jti: &'a str, until: i64) -> SpendFuture<'a> {
        Box::pin(async move {
            let key = format!("{DAPR_KEY_PREFIX}{jti}");
            let unavailable = |e: DaprError| LedgerError::Unavailable(e.to_string());
            // Read first: a replay is then answered without a refused save, which daprd's circuit
            // breaker would count as a failure (5 replays in a row would open it for every ticket).
            if self.0.get_state(&key).await.map_err(unavailable)?.is_some() {
                return Ok(false);
            }
            let remaining = until.saturating_sub(Utc::now().timestamp()).max(1);
            let ttl = Duration::from_secs(u64::try_from(remaining).unwrap_or(1));
            // Two replicas racing past the read: the store's first-write claim lets one through.
            self.0
                .set_if_absent(&key, json!(1), ttl)
                .await
                .map_err(unavailable)
        })
    }
}

/// How the stream endpoints accept credentials (read once at start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamConfig {
    /// `STREAM_TOKEN_IN_URL`: accept the access token in `?token=` (discouraged; off by default).
    pub token_in_url: bool,
}

impl StreamConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            token_in_url: config::flag("STREAM_TOKEN_IN_URL", false)?,
        })
    }
}

/// `STREAM_TICKET_STATE_STORE`: the Dapr state store of the standalone service's ticket ledger
/// (default `statestore`, whose keys every replica shares).
pub fn ticket_state_store_from_env() -> String {
    config::var("STREAM_TICKET_STATE_STORE").unwrap_or_else(|| DEFAULT_TICKET_STATE_STORE.to_owned())
}

/// The default of `STREAM_TICKET_STATE_STORE`.
pub const DEFAULT_TICKET_STATE_STORE: &str = "statestore";

/// What the endpoints need besides the authenticator and the hub: the ledger of spent tickets,
/// whether `?token=` is allowed, and the durable history a resuming client's missed events come
/// from when the hub's buffer lacks them (none by default: such a client resyncs).
#[derive(Clone)]
pub struct StreamAccess {
    pub ledger: Arc<dyn TicketLedger>,
    pub config: StreamConfig,
    pub history: Arc<dyn EventHistory>,
    /// Where the standalone service looks personal access tokens up (none: they are refused). The
    /// `taskflow` binary's endpoints use the API's authenticator, which has its own.
    pub pats: Option<Arc<dyn PatResolver>>,
}

impl StreamAccess {
    pub fn new(ledger: Arc<dyn TicketLedger>, config: StreamConfig) -> Self {
        Self {
            ledger,
            config,
            history: Arc::new(NoHistory),
            pats: None,
        }
    }

    /// Admits personal access tokens, looked up by `pats`.
    pub fn with_pats(mut self, pats: Arc<dyn PatResolver>) -> Self {
        self.pats = Some(pats);
        self
    }

    /// Resumes clients the buffer cannot serve from `history`.
    pub fn with_history(mut self, history: Arc<dyn EventHistory>) -> Self {
        self.history = history;
        self
    }

    /// One process: the in-memory ledger.
    pub fn in_memory(config: StreamConfig) -> Self {
        Self::new(Arc::new(MemoryLedger::default()), config)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_spent_once() {
        let ledger = MemoryLedger::new(10);
        assert!(ledger.spend_at("a", 160, 100).unwrap());
        assert!(!ledger.spend_at("a", 160, 101).unwrap());
        assert!(ledger.spend_at("b", 160, 101).unwrap());
    }

    #[test]
    fn expired_entries_leave_and_the_cap_refuses_rather_than_grows() {
        let ledger = MemoryLedger::new(2);
        assert!(ledger.spend_at("a", 110, 100).unwrap());
        assert!(ledger.spend_at("b", 120, 100).unwrap());
        assert!(matches!(
            ledger.spend_at("c", 130, 105),
            Err(LedgerError::Full(2))
        ));
        // "a" expired at 110: its room is free again; "b" is still remembered.
        assert!(ledger.spend_at("c", 130, 111).unwrap());
        assert_eq!(ledger.len(), 2);
        assert!(!ledger.spend_at("b", 120, 112).unwrap());
    }
}
