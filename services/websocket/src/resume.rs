//! What a reconnecting client is sent before its live stream: the events it missed, from this
//! process's replay buffer when it still has them, else from the durable [`EventHistory`], else a
//! `resync` telling the client to reload.
//!
//! The connection is registered before any of this is read, so nothing published meanwhile is lost;
//! an event read from the history may also arrive live while the history is read, and is then sent
//! once ([`Resumption::is_repeat`]). The buffer needs no such check: the hub hands out its cursor
//! under the same lock that registers the connection.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::history::{EventHistory, History};
use crate::hub::{Connection, Push, Replay};
use crate::replay::{Cursor, Step};

/// The next thing a resuming client is sent.
#[derive(Debug)]
pub enum Next {
    Event(Arc<Push>),
    /// The missed events cannot be given: the client must reload. Carries the id it may resume from
    /// later, when one is known.
    Resync(Option<String>),
    /// Nothing more to replay: the live stream follows.
    Done,
}

#[derive(Default)]
pub struct Resumption {
    resync: Option<Option<String>>,
    buffered: Option<Cursor>,
    from_history: VecDeque<Arc<Push>>,
    /// Ids sent from the history that may still arrive live.
    sent: HashSet<String>,
}

impl Resumption {
    /// Resolves what a client that last saw `last_event_id` (if any) is owed, given what the hub's
    /// buffer said (`replay`); at most `limit` events come from the history, more is a resync.
    pub async fn start(
        replay: Replay,
        user_id: &str,
        last_event_id: Option<&str>,
        history: &dyn EventHistory,
        limit: usize,
    ) -> Self {
        let newest = match replay {
            Replay::None => return Self::default(),
            Replay::Events(cursor) => {
                metrics::counter!("realtime_resumes_total", "source" => "buffer").increment(1);
                return Self {
                    buffered: Some(cursor),
                    ..Self::default()
                };
            }
            Replay::Resync(newest) => newest,
        };
        let Some(last) = last_event_id else {
            return Self::resync(newest);
        };
        match history.after(user_id, last, limit.saturating_add(1)).await {
            Ok(History::Events(events)) if events.len() <= limit => {
                let pushes: VecDeque<Arc<Push>> =
                    events.iter().filter_map(|e| e.push()).map(Arc::new).collect();
                metrics::counter!("realtime_resumes_total", "source" => "history").increment(1);
                Self {
                    sent: pushes.iter().map(|p| p.id.clone()).collect(),
                    from_history: pushes,
                    ..Self::default()
                }
            }
            Ok(History::Events(_)) => {
                tracing::info!(user_id, limit, "more missed events than a replay sends: resync");
                Self::resync(newest)
            }
            Ok(History::Unknown) => Self::resync(newest),
            Err(e) => {
                tracing::warn!(user_id, error = %e, "cannot read missed events: the client resyncs");
                Self::resync(newest)
            }
        }
    }

    fn resync(newest: Option<String>) -> Self {
        metrics::counter!("realtime_resyncs_total").increment(1);
        Self {
            resync: Some(newest),
            ..Self::default()
        }
    }

    /// The next replayed event, or what ends the replay.
    pub fn next(&mut self, connection: &Connection) -> Next {
        if let Some(newest) = self.resync.take() {
            return Next::Resync(newest);
        }
        if let Some(push) = self.from_history.pop_front() {
            return Next::Event(push);
        }
        let Some(mut cursor) = self.buffered.take() else {
            return Next::Done;
        };
        match connection.replayed(&mut cursor) {
            Step::Event(push) => {
                self.buffered = Some(cursor);
                Next::Event(push)
            }
            Step::Done => Next::Done,
            Step::Resync(newest) => Next::Resync(newest),
        }
    }

    /// Whether a live `push` was already sent from the history (it is then skipped).
    pub fn is_repeat(&mut self, push: &Push) -> bool {
        !self.sent.is_empty() && self.sent.remove(&push.id)
    }
}
