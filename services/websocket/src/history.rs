//! The durable history a reconnecting client resumes from when this process's replay buffer cannot
//! serve it: after a restart the buffer is empty, and under Dapr each replica has its own.
//!
//! The history is the outbox's published rows (`taskflow_store`'s `published_after`), kept for the
//! relay's retention (24 h by default). websocket keeps no data, so it reads them through an
//! [`EventHistory`]: the single binary reads its store directly; the Dapr service asks backend-api
//! through service invocation ([`DaprHistory`], `GET /internal/events/{user_id}`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use taskflow_bus::dapr::{DaprClient, DaprError};
use taskflow_domain::TaskEvent;

use crate::hub::Push;
use crate::payload;

/// One published event: its id, topic and serialised [`TaskEvent`].
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub topic: String,
    pub data: serde_json::Value,
}

impl HistoryEvent {
    /// The push a live client got for this event; `None` if the payload is not a task event.
    pub fn push(&self) -> Option<Push> {
        let event = TaskEvent::deserialize(&self.data).ok()?;
        Some(payload::push(&event, &self.data))
    }
}

/// What the history holds after a client's last event.
#[derive(Debug)]
pub enum History {
    /// The event is not in the history (unknown, another user's, or pruned).
    Unknown,
    /// The events published after it, oldest first.
    Events(Vec<HistoryEvent>),
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("the event history is unavailable: {0}")]
    Unavailable(String),
    #[error("the event history answered something unreadable: {0}")]
    Malformed(String),
}

pub type HistoryFuture<'a> = Pin<Box<dyn Future<Output = Result<History, HistoryError>> + Send + 'a>>;

/// Where missed events are read from when the replay buffer does not have them.
pub trait EventHistory: Send + Sync {
    /// The events published for `user_id` after `last_event_id`, at most `limit`.
    fn after<'a>(&'a self, user_id: &'a str, last_event_id: &'a str, limit: usize) -> HistoryFuture<'a>;
}

/// No durable history: a client the buffer cannot serve resynchronises.
pub struct NoHistory;

impl EventHistory for NoHistory {
    fn after<'a>(&'a self, _: &'a str, _: &'a str, _: usize) -> HistoryFuture<'a> {
        Box::pin(async { Ok(History::Unknown) })
    }
}

/// The app id `DaprHistory` calls by default (`EVENT_HISTORY_APP_ID`).
pub const DEFAULT_HISTORY_APP_ID: &str = "backend-api";

/// How long a reconnecting client waits for the history at most before it is told to resync.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(3);

/// The answer of backend-api's `GET /internal/events/{user_id}`.
#[derive(Deserialize)]
struct InternalAnswer {
    known: bool,
    #[serde(default)]
    events: Vec<HistoryEvent>,
}

/// The Dapr service's history: backend-api's outbox, through service invocation.
pub struct DaprHistory {
    dapr: DaprClient,
    app_id: String,
}

impl DaprHistory {
    pub fn new(dapr: DaprClient, app_id: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            dapr,
            app_id: app_id.into(),
        })
    }
}

/// Percent-encodes a path segment or query value (ids are UUIDs, but a client chose them).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl EventHistory for DaprHistory {
    fn after<'a>(&'a self, user_id: &'a str, last_event_id: &'a str, limit: usize) -> HistoryFuture<'a> {
        Box::pin(async move {
            let method = format!(
                "internal/events/{}?after={}&limit={limit}",
                encode(user_id),
                encode(last_event_id)
            );
            let body = self
                .dapr
                .invoke_get(&self.app_id, &method, INVOKE_TIMEOUT)
                .await
                .map_err(|e: DaprError| HistoryError::Unavailable(e.to_string()))?;
            let answer: InternalAnswer =
                serde_json::from_slice(&body).map_err(|e| HistoryError::Malformed(e.to_string()))?;
            Ok(if answer.known {
                History::Events(answer.events)
            } else {
                History::Unknown
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn path_pieces_are_escaped() {
        assert_eq!(encode("0193-ab_c.d~"), "0193-ab_c.d~");
        assert_eq!(encode("a/../b?x=1&y"), "a%2F..%2Fb%3Fx%3D1%26y");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
