//! The single binary's durable event history: its own store's published outbox rows, read directly
//! (under Dapr the websocket service asks backend-api for the same rows, `/internal/events`). A
//! client whose last event is not in the in-memory buffer — the process restarted since — resumes
//! from here instead of reloading.

use taskflow_store::{EventsAfter, Store};
use taskflow_websocket::{EventHistory, History, HistoryError, HistoryEvent, HistoryFuture};
use uuid::Uuid;

pub struct StoreHistory(pub Store);

impl EventHistory for StoreHistory {
    fn after<'a>(&'a self, user_id: &'a str, last_event_id: &'a str, limit: usize) -> HistoryFuture<'a> {
        Box::pin(async move {
            let Ok(after) = Uuid::parse_str(last_event_id) else {
                return Ok(History::Unknown);
            };
            let limit = u64::try_from(limit).unwrap_or(u64::MAX);
            match self.0.outbox().published_after(user_id, after, limit).await {
                Ok(EventsAfter::Unknown) => Ok(History::Unknown),
                Ok(EventsAfter::Events(events)) => Ok(History::Events(
                    events
                        .into_iter()
                        .map(|e| HistoryEvent {
                            id: e.event_id.to_string(),
                            topic: e.topic,
                            data: e.payload,
                        })
                        .collect(),
                )),
                Err(e) => Err(HistoryError::Unavailable(e.to_string())),
            }
        })
    }
}
