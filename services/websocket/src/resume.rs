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

use crate::history::{EventHistory, History, HistoryError};
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

/// How many events one read of the history asks for: what a read holds in memory at once, whatever
/// the replay's limits.
pub const HISTORY_PAGE: usize = 100;

/// The bounds of one replay from the history.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// At most this many events (`REALTIME_REPLAY_EVENTS`).
    pub events: usize,
    /// At most this many bytes of pushes (`REALTIME_REPLAY_USER_BYTES`): a client resuming from an
    /// old id holds no more than a user's replay buffer may, however large the events it missed.
    pub bytes: usize,
}

impl Resumption {
    /// Resolves what a client that last saw `last_event_id` (if any) is owed, given what the hub's
    /// buffer said (`replay`). The history is read a page at a time; past `bounds`, the client
    /// resyncs instead.
    pub async fn start(
        replay: Replay,
        user_id: &str,
        last_event_id: Option<&str>,
        history: &dyn EventHistory,
        bounds: Bounds,
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
        match read_history(history, user_id, last, bounds).await {
            Ok(Some(pushes)) => {
                metrics::counter!("realtime_resumes_total", "source" => "history").increment(1);
                Self {
                    sent: pushes.iter().map(|p| p.id.clone()).collect(),
                    from_history: pushes,
                    ..Self::default()
                }
            }
            Ok(None) => Self::resync(newest),
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

/// The pushes published after `last`, page by page; `None` when the history does not hold `last` or
/// what follows it exceeds `bounds`.
async fn read_history(
    history: &dyn EventHistory,
    user_id: &str,
    last: &str,
    bounds: Bounds,
) -> Result<Option<VecDeque<Arc<Push>>>, HistoryError> {
    let mut pushes = VecDeque::new();
    let mut bytes = 0;
    let mut after = last.to_owned();
    loop {
        let History::Events(events) = history.after(user_id, &after, HISTORY_PAGE).await? else {
            return Ok(None);
        };
        let full = events.len() >= HISTORY_PAGE;
        for event in &events {
            if let Some(push) = event.push() {
                bytes += push.json.len();
                pushes.push_back(Arc::new(push));
            }
            if pushes.len() > bounds.events || bytes > bounds.bytes {
                tracing::info!(
                    user_id,
                    events = pushes.len(),
                    bytes,
                    "more missed than a replay sends: resync"
                );
                return Ok(None);
            }
        }
        match events.last() {
            Some(event) if full => after.clone_from(&event.id),
            _ => return Ok(Some(pushes)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::history::{HistoryEvent, HistoryFuture};

    /// `n` events of `size` bytes each for one user, served in pages; records each read's size.
    struct Log {
        events: Vec<HistoryEvent>,
        reads: Mutex<Vec<usize>>,
    }

    impl Log {
        fn new(n: usize, size: usize) -> Self {
            let events = (0..=n)
                .map(|i| {
                    let id = format!("00000000-0000-7000-8000-{i:012}");
                    let data = json!({
                        "event_id": id, "event_type": "task-created", "user_id": "u",
                        "occurred_at": "2026-12-07T00:00:00Z",
                        "task": {"id": "00000000-0000-7000-8000-000000000000", "user_id": "u",
                                 "title": "t", "description": "x".repeat(size), "completed": false,
                                 "priority": "medium", "category": "other", "tags": [], "reminders": [],
                                 "created_at": "2026-12-07T00:00:00Z", "updated_at": "2026-12-07T00:00:00Z",
                                 "version": 1}
                    });
                    HistoryEvent {
                        id,
                        topic: "task-created".into(),
                        data,
                    }
                })
                .collect();
            Self {
                events,
                reads: Mutex::default(),
            }
        }
    }

    impl EventHistory for Log {
        fn after<'a>(&'a self, _: &'a str, last: &'a str, limit: usize) -> HistoryFuture<'a> {
            Box::pin(async move {
                self.reads.lock().unwrap().push(limit);
                let Some(i) = self.events.iter().position(|e| e.id == last) else {
                    return Ok(History::Unknown);
                };
                Ok(History::Events(
                    self.events[i + 1..].iter().take(limit).cloned().collect(),
                ))
            })
        }
    }

    fn first(log: &Log) -> String {
        log.events[0].id.clone()
    }

    const BOUNDS: Bounds = Bounds {
        events: 1000,
        bytes: 1024 * 1024,
    };

    #[tokio::test]
    async fn missed_events_are_read_a_page_at_a_time_and_all_replayed() {
        let log = Log::new(250, 10);
        let r = Resumption::start(Replay::Resync(None), "u", Some(&first(&log)), &log, BOUNDS).await;
        assert!(r.resync.is_none());
        assert_eq!(r.from_history.len(), 250);
        assert_eq!(*log.reads.lock().unwrap(), [HISTORY_PAGE; 3]);
    }

    #[tokio::test]
    async fn large_missed_events_past_the_byte_bound_resync_without_reading_everything() {
        // 1 000 events of 10 000 characters: ten times the bound. The replay stops at the bound, after
        // a page or two, instead of holding 10 MB for one reconnecting client.
        let log = Log::new(1000, 10_000);
        let r = Resumption::start(Replay::Resync(None), "u", Some(&first(&log)), &log, BOUNDS).await;
        assert_eq!(r.resync, Some(None));
        assert!(r.from_history.is_empty());
        assert!(log.reads.lock().unwrap().len() <= 2);
    }

    #[tokio::test]
    async fn more_events_than_the_count_bound_resync_and_an_unknown_id_too() {
        let log = Log::new(150, 10);
        let bounds = Bounds {
            events: 120,
            ..BOUNDS
        };
        let r = Resumption::start(Replay::Resync(None), "u", Some(&first(&log)), &log, bounds).await;
        assert_eq!(r.resync, Some(None));
        let r = Resumption::start(
            Replay::Resync(Some("n".into())),
            "u",
            Some("unknown"),
            &log,
            BOUNDS,
        )
        .await;
        assert_eq!(r.resync, Some(Some("n".into())));
    }
}
