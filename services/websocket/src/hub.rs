//! The fan-out hub: every connection of a user, and a bounded replay buffer per user.
//!
//! Each connection has a bounded queue. Publishing never waits: a connection whose queue is full is
//! dropped from the hub (its task sees the channel close and disconnects the client with a policy
//! close code), so a slow reader never slows the others and never grows memory without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// One event as clients receive it.
#[derive(Debug)]
pub struct Push {
    /// The event id (SSE `id:`, and what `Last-Event-ID` names).
    pub id: String,
    /// The topic (SSE `event:`).
    pub event_type: String,
    /// `{id, type, task_id, data, occurred_at}` as JSON.
    pub json: String,
    at: Instant,
}

impl Push {
    pub fn new(id: String, event_type: String, json: String) -> Self {
        Self {
            id,
            event_type,
            json,
            at: Instant::now(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Messages a connection may have waiting before it is cut off as too slow.
    pub queue: usize,
    pub replay_len: usize,
    pub replay_age: Duration,
    pub max_connections_per_user: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            queue: 256,
            replay_len: 1000,
            replay_age: Duration::from_secs(15 * 60),
            max_connections_per_user: 20,
        }
    }
}

#[derive(Default)]
struct UserState {
    connections: Vec<(u64, mpsc::Sender<Arc<Push>>)>,
    replay: VecDeque<Arc<Push>>,
}

/// What a reconnecting SSE client missed.
#[derive(Debug)]
pub enum Replay {
    /// Nothing asked for.
    None,
    /// The events after the one the client last saw, oldest first.
    Events(Vec<Arc<Push>>),
    /// The client's last event is no longer in the buffer: it must resynchronise.
    Resync,
}

/// A registered connection; deregisters itself when dropped.
pub struct Connection {
    hub: Arc<Hub>,
    user_id: String,
    id: u64,
    pub rx: mpsc::Receiver<Arc<Push>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.hub.remove(&self.user_id, self.id);
    }
}

/// The user already has the maximum number of open connections.
#[derive(Debug)]
pub struct TooManyConnections;

pub struct Hub {
    users: Mutex<HashMap<String, UserState>>,
    next_id: AtomicU64,
    config: HubConfig,
}

impl Hub {
    pub fn new(config: HubConfig) -> Arc<Self> {
        Arc::new(Self {
            users: Mutex::default(),
            next_id: AtomicU64::new(1),
            config,
        })
    }

    fn with_users<T>(&self, f: impl FnOnce(&mut HashMap<String, UserState>) -> T) -> T {
        let mut users = self
            .users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut users)
    }

    /// Delivers `push` to every connection of `user_id` and keeps it for replay; returns how many
    /// connections got it.
    pub fn publish(&self, user_id: &str, push: Push) -> usize {
        let push = Arc::new(push);
        let config = &self.config;
        let (dropped, delivered) = self.with_users(|users| {
            let state = users.entry(user_id.to_owned()).or_default();
            state.replay.push_back(push.clone());
            while state.replay.len() > config.replay_len
                || state
                    .replay
                    .front()
                    .is_some_and(|p| p.at.elapsed() > config.replay_age)
            {
                state.replay.pop_front();
            }
            let before = state.connections.len();
            // A full queue means a reader that cannot keep up: drop it (closing its channel).
            state
                .connections
                .retain(|(_, tx)| tx.try_send(push.clone()).is_ok());
            (before - state.connections.len(), state.connections.len())
        });
        if dropped > 0 {
            tracing::info!(user_id, dropped, "slow clients disconnected");
            metrics::counter!("realtime_slow_clients_dropped_total").increment(dropped as u64);
        }
        if delivered > 0 {
            metrics::counter!("realtime_pushes_total").increment(delivered as u64);
        }
        delivered
    }

    /// Registers a connection for `user_id`, with what it missed since `last_event_id`, atomically:
    /// nothing published in between is lost or repeated.
    pub fn connect(
        self: &Arc<Self>,
        user_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<(Connection, Replay), TooManyConnections> {
        let (tx, rx) = mpsc::channel(self.config.queue);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let replay = self.with_users(|users| {
            let state = users.entry(user_id.to_owned()).or_default();
            if state.connections.len() >= self.config.max_connections_per_user {
                return Err(TooManyConnections);
            }
            state.connections.push((id, tx));
            Ok(match last_event_id {
                None => Replay::None,
                Some(last) => match state.replay.iter().position(|p| p.id == last) {
                    Some(i) => Replay::Events(state.replay.iter().skip(i + 1).cloned().collect()),
                    None => Replay::Resync,
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
            },
            replay,
        ))
    }

    fn remove(&self, user_id: &str, id: u64) {
        self.with_users(|users| {
            if let Some(state) = users.get_mut(user_id) {
                state.connections.retain(|(c, _)| *c != id);
            }
        });
        metrics::gauge!("realtime_connections").decrement(1.0);
    }

    /// Open connections of `user_id` (for tests and diagnostics).
    pub fn connections(&self, user_id: &str) -> usize {
        self.with_users(|users| users.get(user_id).map_or(0, |s| s.connections.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(i: usize) -> Push {
        Push::new(format!("e{i}"), "task-created".into(), format!("{{\"n\":{i}}}"))
    }

    fn small() -> Arc<Hub> {
        Hub::new(HubConfig {
            queue: 4,
            replay_len: 10,
            max_connections_per_user: 3,
            ..HubConfig::default()
        })
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
            while let Ok(p) = healthy.rx.try_recv() {
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
        while let Ok(_p) = stalled.rx.try_recv() {
            queued += 1;
        }
        assert_eq!(queued, 4, "memory per connection is bounded by its queue");
        assert!(stalled.rx.try_recv().is_err());
        assert!(
            other_user.rx.try_recv().is_err(),
            "another user's connection gets nothing"
        );
    }

    #[test]
    fn reconnecting_clients_get_what_they_missed_or_a_resync() {
        let hub = small();
        for i in 0..5 {
            hub.publish("u1", push(i));
        }
        let (_c, replay) = hub.connect("u1", Some("e2")).unwrap();
        match replay {
            Replay::Events(missed) => assert_eq!(
                missed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
                ["e3", "e4"]
            ),
            other => panic!("expected a replay, got {other:?}"),
        }
        for i in 5..30 {
            hub.publish("u1", push(i));
        }
        let (_c2, replay) = hub.connect("u1", Some("e2")).unwrap();
        assert!(
            matches!(replay, Replay::Resync),
            "e2 fell out of the bounded buffer"
        );
        let (_c3, replay) = hub.connect("u1", Some("e25")).unwrap();
        assert!(matches!(replay, Replay::Events(ref v) if v.len() == 4));
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
