//! audit: every task and reminder event, recorded once in an append-only log.
//!
//! The log's `event_id` is unique, so a redelivery is a no-op; there is no foreign key to tasks, so
//! the trail outlives what it describes and never blocks a delete.

use std::sync::Arc;

use taskflow_bus::{
    EventHandler, HandlerFuture, Outcome, ReceivedEvent, Subscription, TaskEventHandler, task_handler,
};
use taskflow_domain::{EventType, TaskEvent, time};
use taskflow_store::{AuditEntry, Store};

pub const SERVICE: &str = "audit";
pub const DEFAULT_PORT: u16 = 8004;

pub struct Recorder {
    store: Store,
}

impl Recorder {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    fn entry(event: &TaskEvent, data: serde_json::Value) -> AuditEntry {
        let (entity_type, entity_id) = match (&event.event_type, &event.reminder) {
            (EventType::ReminderDue, Some(r)) => {
                ("reminder", r.reminder_id.unwrap_or(event.task.id).to_string())
            }
            _ => ("task", event.task.id.to_string()),
        };
        AuditEntry {
            event_id: event.event_id,
            event_type: event.event_type.topic().to_owned(),
            entity_type: entity_type.to_owned(),
            entity_id,
            user_id: event.user_id.clone(),
            data,
            occurred_at: event.occurred_at,
            recorded_at: time::now(),
            // The delivery runs in the event's trace (see `taskflow_bus::dispatch`).
            trace_id: taskflow_bus::trace::current().map(|t| t.trace_id()),
        }
    }
}

impl TaskEventHandler for Recorder {
    fn handle<'a>(&'a self, event: TaskEvent, received: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin(async move {
            match self
                .store
                .audit()
                .append(&Self::entry(&event, received.data.clone()))
                .await
            {
                Ok(true) => Outcome::Success,
                Ok(false) => {
                    tracing::debug!(event_id = %event.event_id, "already audited");
                    Outcome::Success
                }
                Err(e) => Outcome::Retry(e.to_string()),
            }
        })
    }
}

/// audit's subscriptions: every topic.
pub fn subscriptions(store: Store) -> Vec<Subscription> {
    let recorder: Arc<dyn EventHandler> = task_handler(Recorder::new(store));
    EventType::ALL
        .iter()
        .map(|t| Subscription::new(SERVICE, t.topic(), recorder.clone()))
        .collect()
}
