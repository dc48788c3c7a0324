//! The outbox relay: publishes committed events in order per partition key, with backoff.
//!
//! - Every app publishes what it wrote ([`OutboxScope::Source`]): under Dapr, backend-api, recurring
//!   and notification each run a relay over their own rows, through their own sidecar, so one
//!   service being down never holds back another's events. The single binary runs one relay over
//!   every app's rows ([`OutboxScope::All`]).
//! - One relay per scope works at a time across replicas, so order per key holds even with several
//!   pods of a service. Its exclusivity ends when its holder dies ([`ExclusiveLock`]: a PostgreSQL
//!   session advisory lock, or an OS file lock beside an SQLite database), so after a `kill -9` a
//!   surviving or restarted relay publishes within [`RelayConfig::takeover_poll`] — not after a
//!   lease's lifetime, as the lease row this replaced did. The holder confirms its lock before each
//!   pass and stops at the first doubt; a pass publishes for at most [`PASS_BUDGET`] after that.
//! - It wakes on the store's commit signal (milliseconds after a write in this process) and polls as
//!   a fallback for rows written elsewhere.
//! - A failed publish defers that row and blocks the rest of its key until the retry, so a user's
//!   events never overtake each other; other keys carry on.
//! - A publisher that batches (daprd's bulk publish) gets rounds: each round one batch of the next
//!   row of every key still going, never two rows of one key — the broker may reorder a batch —
//!   so with many active users a sidecar round trip carries many events. Otherwise each key is a
//!   chain of single publishes, the keys side by side.
//! - Published rows are pruned after a retention period; backend-api's relay also prunes expired
//!   `Idempotency-Key` rows.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::join_all;
use taskflow_bus::{CloudEvent, OutgoingEvent, Publisher};
use taskflow_domain::time;
pub use taskflow_store::OutboxScope;
use taskflow_store::{ExclusiveLock, OutboxMessage, PASS_BUDGET, Store, StoreError};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Whose rows it publishes. Each row's CloudEvent `source` is the app that wrote it.
    pub scope: OutboxScope,
    pub batch_size: u64,
    /// Fallback poll when no commit signal arrives (rows written by other processes).
    pub poll_interval: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How often a relay without the lock tries to take it: the takeover delay after a holder dies.
    pub takeover_poll: Duration,
    /// How long one pass may publish after the lock was confirmed (a slow broker cannot stretch a
    /// pass past what the lock guarantees).
    pub pass_budget: Duration,
    /// Published rows older than this are deleted.
    pub retention: Duration,
    pub prune_interval: Duration,
}

impl RelayConfig {
    /// The relay of the app `source` under Dapr: publishes the rows that app wrote.
    pub fn for_source(source: &str) -> Self {
        Self::new(OutboxScope::Source(source.into()))
    }

    /// The single binary's relay: publishes the rows of every app in the process.
    pub fn for_all() -> Self {
        Self::new(OutboxScope::All)
    }

    fn new(scope: OutboxScope) -> Self {
        Self {
            scope,
            batch_size: 500,
            poll_interval: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(60),
            takeover_poll: Duration::from_millis(500),
            pass_budget: PASS_BUDGET,
            retention: Duration::from_secs(24 * 3600),
            prune_interval: Duration::from_secs(60),
        }
    }

    /// The lock that makes this relay the only one publishing its scope.
    fn lock_name(&self) -> String {
        match &self.scope {
            OutboxScope::All => "outbox-relay".into(),
            OutboxScope::Source(source) => format!("outbox-relay:{source}"),
        }
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// What publishing one key's rows did: the ids published, the failure that stopped it (row id,
/// attempts so far, error) and whether the pass's deadline cut it short.
type KeyOutcome = (Vec<i64>, Option<(i64, i32, String)>, bool);

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    pub published: usize,
    pub failed: usize,
    /// The batch was full: there may be more to do right away.
    pub more: bool,
    /// The earliest deferred retry, if any row is waiting for one.
    pub next_retry: Option<DateTime<Utc>>,
}

pub struct OutboxRelay {
    store: Store,
    publisher: Arc<dyn Publisher>,
    config: RelayConfig,
    lock: String,
    owner: String,
}

impl OutboxRelay {
    pub fn new(store: Store, publisher: Arc<dyn Publisher>, config: RelayConfig) -> Self {
        let lock = config.lock_name();
        let owner = format!("{lock}-{}", uuid::Uuid::new_v4());
        Self {
            store,
            publisher,
            config,
            lock,
            owner,
        }
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(u32::try_from(attempts).unwrap_or(0));
        self.config
            .initial_backoff
            .saturating_mul(factor)
            .min(self.config.max_backoff)
    }

    fn outgoing(&self, m: &OutboxMessage) -> OutgoingEvent {
        let mut cloud_event =
            CloudEvent::for_outbox_payload(&m.topic, &m.event_id.to_string(), m.payload.clone(), &m.source);
        // The trace of the request (or event) that wrote the row follows the event.
        cloud_event.traceparent = m.traceparent.clone();
        OutgoingEvent {
            topic: m.topic.clone(),
            partition_key: m.partition_key.clone(),
            cloud_event,
        }
    }

    /// Publishes one key's rows in order, stopping at the first failure — or at `deadline`, so a slow
    /// broker cannot keep a pass going past what the lock guarantees.
    async fn publish_key(&self, rows: Vec<&OutboxMessage>, deadline: tokio::time::Instant) -> KeyOutcome {
        let mut done = Vec::with_capacity(rows.len());
        for m in rows {
            if tokio::time::Instant::now() >= deadline {
                return (done, None, true);
            }
            match self.publisher.publish(&self.outgoing(m)).await {
                Ok(()) => done.push(m.id),
                Err(e) => return (done, Some((m.id, m.attempts, e.to_string())), false),
            }
        }
        (done, None, false)
    }

    /// Publishes every key's rows in rounds through [`Publisher::publish_batch`]: each round is one
    /// batch of the next row of every key still going, so no batch holds two rows of one key (whose
    /// order a broker need not keep within a batch), and a key's next row goes only after the
    /// previous one was accepted. A key stops at its first failure; every key at `deadline`.
    async fn publish_rounds(
        &self,
        keys: Vec<Vec<&OutboxMessage>>,
        deadline: tokio::time::Instant,
    ) -> Vec<KeyOutcome> {
        let mut outcomes: Vec<KeyOutcome> = keys.iter().map(|_| (Vec::new(), None, false)).collect();
        let mut next = vec![0usize; keys.len()];
        let mut live: Vec<usize> = (0..keys.len()).filter(|&k| !keys[k].is_empty()).collect();
        while !live.is_empty() {
            if tokio::time::Instant::now() >= deadline {
                for k in live {
                    outcomes[k].2 = true;
                }
                break;
            }
            let rows: Vec<&OutboxMessage> = live.iter().map(|&k| keys[k][next[k]]).collect();
            let events: Vec<OutgoingEvent> = rows.iter().map(|m| self.outgoing(m)).collect();
            let results = self.publisher.publish_batch(&events).await;
            let mut still = Vec::with_capacity(live.len());
            // A publisher that answered for fewer events leaves the rest unpublished (and their
            // keys stopped): they go out in a later pass.
            for ((&k, m), result) in live.iter().zip(&rows).zip(results) {
                match result {
                    Ok(()) => {
                        outcomes[k].0.push(m.id);
                        next[k] += 1;
                        if next[k] < keys[k].len() {
                            still.push(k);
                        }
                    }
                    Err(e) => outcomes[k].1 = Some((m.id, m.attempts, e.to_string())),
                }
            }
            live = still;
        }
        outcomes
    }

    /// One pass: publishes every row that is due, keeping per-key order.
    pub async fn drain_once(&self) -> Result<DrainReport, StoreError> {
        let now = time::now();
        let pending = self
            .store
            .outbox()
            .pending(&self.config.scope, self.config.batch_size)
            .await?;
        let more = pending.len() as u64 >= self.config.batch_size;
        let mut blocked: HashSet<&str> = HashSet::new();
        let mut by_key: HashMap<&str, Vec<&OutboxMessage>> = HashMap::new();
        let mut next_retry: Option<DateTime<Utc>> = None;
        for m in &pending {
            let key = m.partition_key.as_str();
            if blocked.contains(key) {
                continue;
            }
            if m.next_attempt_at > now {
                // An earlier row of this key waits for a retry; everything after it waits too.
                blocked.insert(key);
                next_retry = Some(next_retry.map_or(m.next_attempt_at, |t| t.min(m.next_attempt_at)));
                continue;
            }
            by_key.entry(key).or_default().push(m);
        }
        let deadline = tokio::time::Instant::now() + self.config.pass_budget;
        let results = if self.publisher.batches() {
            // Oldest key first within each batch (the broker may still reorder a batch).
            let mut keys: Vec<Vec<&OutboxMessage>> = by_key.into_values().collect();
            keys.sort_by_key(|rows| rows.first().map(|m| m.id));
            self.publish_rounds(keys, deadline).await
        } else {
            join_all(by_key.into_values().map(|rows| self.publish_key(rows, deadline))).await
        };

        let mut report = DrainReport {
            more,
            next_retry,
            ..DrainReport::default()
        };
        let mut published = Vec::new();
        for (ids, failure, cut_short) in results {
            published.extend(ids);
            report.more |= cut_short;
            if let Some((id, attempts, error)) = failure {
                report.failed += 1;
                let retry_at = time::now() + delta(self.backoff(attempts));
                report.next_retry = Some(report.next_retry.map_or(retry_at, |t| t.min(retry_at)));
                tracing::warn!(outbox_id = id, attempts = attempts + 1, %error, "publish failed; will retry");
                self.store.outbox().defer(id, retry_at, &error).await?;
            }
        }
        report.published = published.len();
        self.store
            .outbox()
            .mark_published(&published, time::now())
            .await?;
        metrics::counter!("outbox_published_total").increment(published.len() as u64);
        if report.failed > 0 {
            metrics::counter!("outbox_publish_failures_total").increment(report.failed as u64);
        }
        Ok(report)
    }

    /// Whether this relay may publish now: confirms a held lock (stopping at the first doubt) or
    /// tries to take a free one. Logs each takeover and each loss.
    async fn exclusive(&self, lock: &mut ExclusiveLock) -> bool {
        let was_held = lock.is_held();
        match lock.try_acquire().await {
            Ok(true) => {
                if !was_held {
                    tracing::info!(lock = lock.name(), owner = %self.owner, "outbox relay took over: it alone publishes its scope now");
                }
                true
            }
            Ok(false) => false,
            Err(e) if was_held => {
                tracing::warn!(lock = lock.name(), owner = %self.owner, error = %e, "outbox relay lost its exclusivity; it stops publishing until it takes the lock again");
                false
            }
            Err(e) => {
                tracing::warn!(lock = lock.name(), error = %e, "outbox relay cannot reach the database to take its lock");
                false
            }
        }
    }

    /// backend-api's relay (or the binary's, which covers it) also forgets `Idempotency-Key`s past
    /// their 24 hours: a periodic task already there, holding the lock, so one replica does it.
    async fn prune_idempotency_keys(&self) {
        let backend_api = match &self.config.scope {
            OutboxScope::All => true,
            OutboxScope::Source(source) => source == taskflow_store::DEFAULT_SOURCE,
        };
        if !backend_api {
            return;
        }
        let cutoff = time::now() - taskflow_store::KEY_TTL;
        match self.store.idempotency_keys().prune(cutoff).await {
            Ok(n) if n > 0 => tracing::debug!(pruned = n, "pruned expired idempotency keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "idempotency key prune failed"),
        }
    }

    async fn record_gauges(&self) {
        if let Ok(stats) = self.store.outbox().stats(&self.config.scope).await {
            metrics::gauge!("outbox_pending_rows").set(stats.pending as f64);
            let age = stats
                .oldest_pending_at
                .map_or(0.0, |t| (time::now() - t).num_milliseconds() as f64 / 1000.0);
            metrics::gauge!("outbox_oldest_pending_age_seconds").set(age.max(0.0));
        }
    }

    /// Runs until `shutdown` turns true, then drains what is due once more and gives up the lock.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut lock = self.store.exclusive_lock(&self.lock);
        tracing::info!(owner = %self.owner, scope = ?self.config.scope, "outbox relay started");
        let signal = self.store.outbox_signal().clone();
        let mut last_prune = tokio::time::Instant::now();
        let mut publisher_up = false;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let mut wait = self.config.poll_interval;
            if !publisher_up {
                publisher_up = self.publisher.ready().await;
            }
            if !publisher_up {
                // The sidecar is not up yet (or went away): events stay safely in the outbox.
                tracing::debug!("publisher not ready; outbox relay waiting");
            } else if self.exclusive(&mut lock).await {
                match self.drain_once().await {
                    Ok(report) if report.failed > 0 => {
                        publisher_up = false;
                        if let Some(at) = report.next_retry {
                            let until = (at - time::now()).to_std().unwrap_or(Duration::ZERO);
                            wait = wait.min(until.max(Duration::from_millis(10)));
                        }
                    }
                    // A full batch that moved something: there is more right away. (A full batch of
                    // rows all waiting for retries must not spin: it falls through to the wait.)
                    Ok(report) if report.more && report.published > 0 => wait = Duration::ZERO,
                    Ok(report) => {
                        if let Some(at) = report.next_retry {
                            let until = (at - time::now()).to_std().unwrap_or(Duration::ZERO);
                            wait = wait.min(until.max(Duration::from_millis(10)));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "outbox relay pass failed"),
                }
                self.record_gauges().await;
                if last_prune.elapsed() >= self.config.prune_interval {
                    last_prune = tokio::time::Instant::now();
                    let cutoff = time::now() - delta(self.config.retention);
                    match self.store.outbox().prune(&self.config.scope, cutoff).await {
                        Ok(n) if n > 0 => tracing::debug!(pruned = n, "pruned published outbox rows"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "outbox prune failed"),
                    }
                    self.prune_idempotency_keys().await;
                }
            } else {
                wait = self.config.takeover_poll;
            }
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = signal.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Flush: whatever is due goes out before the process exits.
        if self.exclusive(&mut lock).await
            && let Err(e) = self.drain_once().await
        {
            tracing::warn!(error = %e, "final outbox flush failed");
        }
        // At once, so another replica (or the next start) takes over without waiting.
        lock.release().await;
        tracing::info!("outbox relay stopped");
    }
}

/// `/ready` detail for the pipeline: pending outbox rows in `scope`, the oldest one's age, and (for
/// the in-process bus, which keeps them in the database) dead letters. Under Dapr dead letters live
/// on the broker's dead-letter topics instead.
pub struct PipelineCheck {
    pub store: Store,
    pub scope: OutboxScope,
    pub dead_letters_in_db: bool,
}

impl taskflow_runtime::health::ReadinessCheck for PipelineCheck {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn check(&self) -> taskflow_runtime::health::CheckFuture<'_> {
        Box::pin(async move {
            let stats = self
                .store
                .outbox()
                .stats(&self.scope)
                .await
                .map_err(|e| e.to_string())?;
            let age = stats.oldest_pending_at.map_or(0.0, |t| {
                (time::now() - t).num_milliseconds().max(0) as f64 / 1000.0
            });
            let mut detail = format!("ok: {} pending (oldest {age:.1} s)", stats.pending);
            if self.dead_letters_in_db {
                let dead = self
                    .store
                    .dead_letters()
                    .count()
                    .await
                    .map_err(|e| e.to_string())?;
                metrics::gauge!("bus_dead_letters").set(dead as f64);
                detail += &format!(", {dead} dead letters");
            }
            Ok(detail)
        })
    }
}

/// A running relay; [`RelayHandle::stop`] flushes it and waits for it to finish.
pub struct RelayHandle {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RelayHandle {
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "outbox relay task failed");
        }
    }

    /// [`RelayHandle::stop`], giving up after `deadline` (the shutdown deadline): what is left stays
    /// in the outbox for the next start.
    pub async fn stop_within(self, deadline: Duration) {
        if tokio::time::timeout(deadline, self.stop()).await.is_err() {
            tracing::warn!(?deadline, "outbox relay did not finish its final flush in time");
        }
    }
}

/// Starts a relay on the current runtime.
pub fn spawn(store: Store, publisher: Arc<dyn Publisher>, config: RelayConfig) -> RelayHandle {
    let (shutdown, rx) = watch::channel(false);
    let relay = OutboxRelay::new(store, publisher, config);
    RelayHandle {
        shutdown,
        task: tokio::spawn(relay.run(rx)),
    }
}
