//! The fan-out hub: every connection of a user, and the byte-capped replay buffers ([`crate::replay`]).
//!
//! Each connection has a bounded queue, bounded in messages and in bytes. Publishing never waits: a
//! connection whose queue is full is dropped from the hub (its task sees the channel close and
//! disconnects the client with a policy close code), so a slow reader never slows the others and
//! never holds more than its byte budget. A push is serialized once and shared (`Arc`, `Bytes`) by
//! every queue and the replay buffer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use taskflow_runtime::config::{self, ConfigError};
use tokio::sync::mpsc;

use crate::replay::{Buffers, Cursor, Limits, Resume, Step};

/// One event as clients receive it.
#[derive(Debug)]
pub struct Push {
    /// The event id (SSE `id:`, and what `Last-Event-ID` names).
    pub id: String,
    /// The topic (SSE `event:`).
    pub event_type: String,
    /// `{id, type, task_id, data, occurred_at}` as JSON, serialized once.
    pub json: Bytes,
    /// The hub's publication order (set by [`Hub::publish`]).
    pub(crate) seq: u64,
    pub(crate) at: Instant,
}

impl Push {
    pub fn new(id: String, event_type: String, json: impl Into<Bytes>) -> Self {
        Self {
            id,
            event_type,
            json: json.into(),
            seq: 0,
            at: Instant::now(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Messages a connection may have waiting before it is cut off as too slow.
    pub queue: usize,
    /// Bytes a connection may have waiting before it is cut off as too slow.
    pub queue_bytes: usize,
    /// Events kept per user for replay (`REALTIME_REPLAY_EVENTS`).
    pub replay_len: usize,
    /// How long an event stays replayable (`REALTIME_REPLAY_SECS`).
    pub replay_age: Duration,
    /// Bytes of replay kept per user (`REALTIME_REPLAY_USER_BYTES`).
    pub replay_user_bytes: usize,
    /// Bytes of replay kept for all users together (`REALTIME_REPLAY_TOTAL_BYTES`).
    pub replay_total_bytes: usize,
    /// How often aged entries and idle users are swept.
    pub sweep_every: Duration,
    pub max_connections_per_user: usize,
}

const MIB: usize = 1024 * 1024;

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            queue: 256,
            queue_bytes: 4 * MIB,
            replay_len: 1000,
            replay_age: Duration::from_secs(15 * 60),
            replay_user_bytes: MIB,
            replay_total_bytes: 64 * MIB,
            sweep_every: Duration::from_secs(30),
            max_connections_per_user: 20,
        }
    }
}

impl HubConfig {
    /// The defaults, with the `REALTIME_REPLAY_*` variables applied.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let secs: u64 = config::parse_or("REALTIME_REPLAY_SECS", defaults.replay_age.as_secs())?;
        if secs == 0 {
            return Err(ConfigError::Invalid {
                name: "REALTIME_REPLAY_SECS",
                value: "0".into(),
                reason: "must be at least 1 (set REALTIME_REPLAY_EVENTS=0 to turn replay off)".into(),
            });
        }
        let user_bytes = config::parse_or("REALTIME_REPLAY_USER_BYTES", defaults.replay_user_bytes)?;
        let total_bytes = config::parse_or("REALTIME_REPLAY_TOTAL_BYTES", defaults.replay_total_bytes)?;
        if user_bytes > total_bytes {
            return Err(ConfigError::Invalid {
                name: "REALTIME_REPLAY_USER_BYTES",
                value: user_bytes.to_string(),
                reason: format!("must not exceed REALTIME_REPLAY_TOTAL_BYTES ({total_bytes})"),
            });
        }
        Ok(Self {
            replay_len: config::parse_or("REALTIME_REPLAY_EVENTS", defaults.replay_len)?,
            replay_age: Duration::from_secs(secs),
            replay_user_bytes: user_bytes,
            replay_total_bytes: total_bytes,
            ..defaults
        })
    }

    fn limits(&self) -> Limits {
        Limits {
            events: self.replay_len,
            user_bytes: self.replay_user_bytes,
            total_bytes: self.replay_total_bytes,
            age: self.replay_age,
        }
    }
}

/// What a reconnecting SSE client missed.
#[derive(Debug)]
pub enum Replay {
    /// Nothing asked for, or nothing missed.
    None,
    /// The events after the one the client last saw, read from the buffer as they are sent.
    Events(Cursor),
    /// The client's last event is no longer in the buffer: it must resynchronise. Carries the
    /// newest buffered id, from which a later reconnect can resume.
    Resync(Option<String>),
}

/// One of a connection's queue entries, with the bytes it accounts for.
struct Sender {
    id: u64,
    tx: mpsc::Sender<Arc<Push>>,
    queued: Arc<AtomicUsize>,
}

/// A registered connection; deregisters itself when dropped.
pub struct Connection {
    hub: Arc<Hub>,
    user_id: String,
    id: u64,
    rx: mpsc::Receiver<Arc<Push>>,
    queued: Arc<AtomicUsize>,
}

impl Connection {
    /// The next live push; `None` once the hub dropped this connection as too slow.
    pub async fn recv(&mut self) -> Option<Arc<Push>> {
        let push = self.rx.recv().await?;
        self.queued.fetch_sub(push.json.len(), Ordering::Relaxed);
        Some(push)
    }

    /// A live push if one is waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Push>> {
        let push = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(push.json.len(), Ordering::Relaxed);
        Some(push)
    }

    /// The next event of a replay this connection was given.
    pub fn replayed(&self, cursor: &mut Cursor) -> Step {
        let step = self
            .hub
            .with_state(|state| state.replay.next(&self.user_id, cursor));
        if matches!(step, Step::Resync(_)) {
            metrics::counter!("realtime_resyncs_total").increment(1);
        }
        step
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.hub.remove(&self.user_id, self.id);
    }
}

/// The user already has the maximum number of open connections.
#[derive(Debug)]
pub struct TooManyConnections;

#[derive(Default)]
struct State {
    connections: HashMap<String, Vec<Sender>>,
    replay: Buffers,
    next_seq: u64,
}

impl State {
    fn record_gauges(&self) {
        metrics::gauge!("realtime_replay_bytes").set(self.replay.bytes() as f64);
        metrics::gauge!("realtime_replay_users").set(self.replay.users() as f64);
    }
}

pub struct Hub {
    state: Mutex<State>,
    next_id: AtomicU64,
    config: HubConfig,
}

impl Hub {
    /// A hub; inside a Tokio runtime it also starts the sweeper, which ends with the hub.
    pub fn new(config: HubConfig) -> Arc<Self> {
        let hub = Arc::new(Self {
            state: Mutex::default(),
            next_id: AtomicU64::new(1),
            config,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep_until_dropped(Arc::downgrade(&hub), hub.config.sweep_every));
        }
        hub
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// Delivers `push` to every connection of `user_id` and keeps it for replay; returns how many
    /// connections got it.
    pub fn publish(&self, user_id: &str, mut push: Push) -> usize {
        let config = &self.config;
        let size = push.json.len();
        let (dropped, delivered, evicted) = self.with_state(|state| {
            state.next_seq += 1;
            push.seq = state.next_seq;
            push.at = Instant::now();
            let push = Arc::new(push);
            let evicted = state.replay.push(user_id, push.clone(), &config.limits());
            let (mut dropped, mut delivered) = (0, 0);
            if let Some(connections) = state.connections.get_mut(user_id) {
                let before = connections.len();
                // A full queue means a reader that cannot keep up: drop it (closing its channel).
                connections.retain(|c| {
                    let queued = c.queued.fetch_add(size, Ordering::Relaxed) + size;
                    queued <= config.queue_bytes && c.tx.try_send(push.clone()).is_ok()
                });
                delivered = connections.len();
                dropped = before - delivered;
            }
            if !state.connections.contains_key(user_id) {
                state.replay.forget_if_empty(user_id);
            }
            state.record_gauges();
            (dropped, delivered, evicted)
        });
        for reason in evicted {
            metrics::counter!("realtime_replay_evictions_total", "reason" => reason.label()).increment(1);
        }
        if dropped > 0 {
            tracing::info!(user_id, dropped, "slow clients disconnected");
            metrics::counter!("realtime_slow_clients_dropped_total").increment(dropped as u64);
        }
        if delivered > 0 {
            metrics::counter!("realtime_pushes_total").increment(delivered as u64);
        }
        delivered
    }

    /// How much a reconnecting client is replayed from the durable history at most: the events and
    /// bytes a user's replay buffer may hold (`REALTIME_REPLAY_EVENTS`, `REALTIME_REPLAY_USER_BYTES`).
    pub fn history_bounds(&self) -> crate::resume::Bounds {
        crate::resume::Bounds {
            events: self.config.replay_len,
            bytes: self.config.replay_user_bytes,
        }
    }

    /// Registers a connection for `user_id`, with what it missed since `last_event_id`, atomically:
    /// nothing published in between is lost or repeated. When the buffer cannot tell
    /// ([`Replay::Resync`]), the caller may still find the missed events in the durable history
    /// (`crate::resume`).
    pub fn connect(
        self: &Arc<Self>,
        user_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<(Connection, Replay), TooManyConnections> {
        let (tx, rx) = mpsc::channel(self.config.queue.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let queued = Arc::new(AtomicUsize::new(0));
        let replay = self.with_state(|state| {
            let connections = state.connections.entry(user_id.to_owned()).or_default();
            if connections.len() >= self.config.max_connections_per_user {
                return Err(TooManyConnections);
            }
            connections.push(Sender {
                id,
                tx,
                queued: queued.clone(),
            });
            Ok(match last_event_id {
                None => Replay::None,
                Some(last) => match state.replay.resume(user_id, last) {
                    Resume::UpToDate => Replay::None,
                    Resume::Replay(cursor) => Replay::Events(cursor),
                    Resume::Resync(newest) => Replay::Resync(newest),
                },
            })
        })?;
        metrics::gauge!("realtime_connections").increment(1.0);
        Ok((
            Connection {
                hub: self.clone(),
                user_id: user_id.to_owned(),
                id,
                rx,
                queued,
            },
            replay,
        ))
    }

    fn remove(&self, user_id: &str, id: u64) {
        self.with_state(|state| {
            if let Some(connections) = state.connections.get_mut(user_id) {
                connections.retain(|c| c.id != id);
                if connections.is_empty() {
                    state.connections.remove(user_id);
                    state.replay.forget_if_empty(user_id);
                }
            }
        });
        metrics::gauge!("realtime_connections").decrement(1.0);
    }

    /// Drops replay entries past the window and the buffers of users with nothing left and no
    /// connection. The sweeper calls it.
    pub fn sweep(&self) {
        self.sweep_at(Instant::now());
    }

    /// [`Hub::sweep`] as if it were `now` (tests move the clock forward).
    pub fn sweep_at(&self, now: Instant) {
        let expired = self.with_state(|state| {
            let expired = state.replay.expire(self.config.replay_age, now);
            let connections = &state.connections;
            state.replay.forget_empty(|user| connections.contains_key(user));
            state.record_gauges();
            expired
        });
        if expired > 0 {
            metrics::counter!("realtime_replay_evictions_total", "reason" => "age").increment(expired as u64);
        }
    }

    /// Open connections of `user_id` (for tests and diagnostics).
    pub fn connections(&self, user_id: &str) -> usize {
        self.with_state(|state| state.connections.get(user_id).map_or(0, Vec::len))
    }

    /// Replay bytes held for `user_id` and for everyone (for tests and diagnostics).
    pub fn replay_bytes(&self, user_id: &str) -> (usize, usize) {
        self.with_state(|state| (state.replay.user_bytes(user_id), state.replay.bytes()))
    }

    /// Users with a replay buffer (for tests and diagnostics).
    pub fn replay_users(&self) -> usize {
        self.with_state(|state| state.replay.users())
    }
}

async fn sweep_until_dropped(hub: Weak<Hub>, every: Duration) {
    let mut timer = tokio::time::interval(every.max(Duration::from_millis(10)));
    timer.tick().await;
    loop {
        timer.tick().await;
        match hub.upgrade() {
            Some(hub) => hub.sweep(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(i: usize) -> Push {
        Push::new(format!("e{i}"), "task-created".into(), format!("{{\"n\":{i}}}"))
    }

    /// A push whose JSON is `bytes` long.
    fn sized(i: usize, bytes: usize) -> Push {
        Push::new(format!("e{i}"), "task-updated".into(), "x".repeat(bytes))
    }

    fn small() -> Arc<Hub> {
        Hub::new(HubConfig {
            queue: 4,
            replay_len: 10,
            max_connections_per_user: 3,
            ..HubConfig::default()
        })
    }

    fn replay_ids(connection: &Connection, replay: Replay) -> Vec<String> {
        let Replay::Events(mut cursor) = replay else {
            panic!("expected a replay, got {replay:?}")
        };
        let mut ids = Vec::new();
        while let Step::Event(p) = connection.replayed(&mut cursor) {
            ids.push(p.id.clone());
        }
        ids
    }

    #[test]
    fn a_stalled_reader_is_cut_off_while_a_healthy_one_keeps_receiving() {
        let hub = small();
        let (mut healthy, _) = hub.connect("u1", None).unwrap();
        let (mut stalled, _) = hub.connect("u1", None).unwrap();
        let (mut other_user, _) = hub.connect("u2", None).unwrap();
        let mut received = Vec::new();
        for i in 0..20 {
            hub.publish("u1", push(i));
            while let Some(p) = healthy.try_recv() {
                received.push(p.id.clone());
            }
        }
        assert_eq!(received.len(), 20, "the healthy reader got everything, in order");
        assert_eq!(received.first().map(String::as_str), Some("e0"));
        assert_eq!(
            hub.connections("u1"),
            1,
            "the stalled one was dropped from the hub"
        );
        // It can still read what was queued (bounded by the queue), then sees the channel closed.
        let mut queued = 0;
        while let Some(_p) = stalled.try_recv() {
            queued += 1;
        }
        assert_eq!(queued, 4, "memory per connection is bounded by its queue");
        assert!(stalled.try_recv().is_none());
        assert!(
            other_user.try_recv().is_none(),
            "another user's connection gets nothing"
        );
    }

    #[test]
    fn a_stalled_reader_is_cut_off_at_its_byte_budget() {
        let hub = Hub::new(HubConfig {
            queue_bytes: 10_000,
            ..HubConfig::default()
        });
        let (mut stalled, _) = hub.connect("u1", None).unwrap();
        for i in 0..3 {
            hub.publish("u1", sized(i, 4_000));
        }
        assert_eq!(
            hub.connections("u1"),
            0,
            "12 000 queued bytes exceed the budget of 10 000"
        );
        let mut queued = 0;
        while stalled.try_recv().is_some() {
            queued += 1;
        }
        assert_eq!(queued, 2);
    }

    #[test]
    fn reconnecting_clients_get_what_they_missed_or_a_resync() {
        let hub = small();
        for i in 0..5 {
            hub.publish("u1", push(i));
        }
        let (c, replay) = hub.connect("u1", Some("e2")).unwrap();
        assert_eq!(replay_ids(&c, replay), ["e3", "e4"]);
        let (_up_to_date, replay) = hub.connect("u1", Some("e4")).unwrap();
        assert!(matches!(replay, Replay::None), "nothing was missed");
        for i in 5..30 {
            hub.publish("u1", push(i));
        }
        let (_c2, replay) = hub.connect("u1", Some("e2")).unwrap();
        assert!(
            matches!(replay, Replay::Resync(Some(ref newest)) if newest == "e29"),
            "e2 fell out of the bounded buffer; resync names the newest event: {replay:?}"
        );
        drop(c);
        let (c3, replay) = hub.connect("u1", Some("e25")).unwrap();
        assert_eq!(replay_ids(&c3, replay), ["e26", "e27", "e28", "e29"]);
    }

    #[test]
    fn a_replay_reads_the_buffer_as_it_goes_and_resyncs_when_overtaken() {
        let hub = small();
        for i in 0..5 {
            hub.publish("u1", push(i));
        }
        let (c, replay) = hub.connect("u1", Some("e0")).unwrap();
        let Replay::Events(mut cursor) = replay else {
            panic!("{replay:?}")
        };
        assert!(matches!(c.replayed(&mut cursor), Step::Event(ref p) if p.id == "e1"));
        // Live events after the connect are not part of the replay (they arrive on the queue).
        hub.publish("u1", push(5));
        assert!(matches!(c.replayed(&mut cursor), Step::Event(ref p) if p.id == "e2"));
        // Ten more events push e3 out before it was sent: the replay cannot be completed.
        for i in 6..16 {
            hub.publish("u1", push(i));
        }
        assert!(
            matches!(c.replayed(&mut cursor), Step::Resync(None)),
            "e4, the replay's end, is gone too"
        );
    }

    #[test]
    fn replay_is_capped_in_bytes_per_user_and_overall_oldest_first() {
        let hub = Hub::new(HubConfig {
            replay_user_bytes: 10_000,
            replay_total_bytes: 25_000,
            ..HubConfig::default()
        });
        for i in 0..10 {
            hub.publish("u1", sized(i, 3_000));
        }
        let (u1, total) = hub.replay_bytes("u1");
        assert!(u1 <= 10_000 && u1 > 6_000, "per-user cap holds: {u1}");
        assert_eq!(total, u1);
        let (_c, replay) = hub.connect("u1", Some("e7")).unwrap();
        assert!(
            matches!(replay, Replay::Events(_)),
            "the newest three are kept: {replay:?}"
        );
        let (_c, replay) = hub.connect("u1", Some("e6")).unwrap();
        assert!(matches!(replay, Replay::Resync(_)), "older ones went first");

        for i in 10..40 {
            let user = format!("other{}", i % 3);
            hub.publish(&user, sized(i, 3_000));
        }
        let (u1, total) = hub.replay_bytes("u1");
        assert!(total <= 25_000, "the global cap holds: {total}");
        assert_eq!(u1, 0, "the globally oldest entries, u1's, were evicted first");
    }

    #[test]
    fn a_push_larger_than_the_user_cap_is_delivered_but_not_kept() {
        let hub = Hub::new(HubConfig {
            replay_user_bytes: 1_000,
            ..HubConfig::default()
        });
        let (mut live, _) = hub.connect("u1", None).unwrap();
        assert_eq!(hub.publish("u1", sized(0, 5_000)), 1);
        assert!(live.try_recv().is_some());
        assert_eq!(hub.replay_bytes("u1"), (0, 0));
    }

    #[test]
    fn the_sweep_drops_aged_entries_and_idle_users_without_new_publishes() {
        let hub = Hub::new(HubConfig {
            replay_age: Duration::from_secs(60),
            ..HubConfig::default()
        });
        for i in 0..5 {
            hub.publish("idle", push(i));
        }
        hub.publish("connected", push(5));
        let (_open, _) = hub.connect("connected", None).unwrap();
        assert_eq!(hub.replay_users(), 2);
        hub.sweep_at(Instant::now() + Duration::from_secs(30));
        assert_eq!(hub.replay_users(), 2, "still inside the window");
        hub.sweep_at(Instant::now() + Duration::from_secs(61));
        assert_eq!(hub.replay_bytes("idle"), (0, 0), "aged entries are gone");
        assert_eq!(
            hub.replay_users(),
            1,
            "the idle user's buffer is removed entirely"
        );
        assert_eq!(hub.replay_bytes("connected").0, 0);
        assert_eq!(hub.connections("connected"), 1);
    }

    #[tokio::test]
    async fn the_sweeper_runs_by_itself() {
        let hub = Hub::new(HubConfig {
            replay_age: Duration::from_millis(20),
            sweep_every: Duration::from_millis(10),
            ..HubConfig::default()
        });
        hub.publish("idle", push(0));
        for _ in 0..1000 {
            if hub.replay_users() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the sweeper never removed the idle user");
    }

    #[test]
    fn connections_per_user_are_capped_and_released_on_drop() {
        let hub = small();
        let conns: Vec<_> = (0..3).map(|_| hub.connect("u1", None).unwrap().0).collect();
        assert!(hub.connect("u1", None).is_err());
        assert!(hub.connect("u2", None).is_ok(), "the cap is per user");
        drop(conns);
        assert_eq!(hub.connections("u1"), 0);
        assert!(hub.connect("u1", None).is_ok());
    }
}
