//! The consumer half: every task event, for each of its owner's enabled endpoints subscribed to its
//! type, becomes a delivery row — inserted if absent, so a redelivered event records nothing new —
//! and wakes the sender.

use std::sync::Arc;

use taskflow_bus::{
    EventHandler, HandlerFuture, Outcome, ReceivedEvent, Subscription, TaskEventHandler, task_handler,
};
use taskflow_domain::webhook::WebhookMessage;
use taskflow_domain::{EventType, TaskEvent, time};
use taskflow_store::{Store, StoreError};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::SERVICE;

/// The `webhook-id` of `event` sent to `endpoint`: the same on every attempt, unique per endpoint,
/// and without the `.` the signed content uses as its separator.
pub fn webhook_id(event: Uuid, endpoint: Uuid) -> String {
    format!("msg_{}_{}", event.simple(), endpoint.simple())
}

pub struct DeliveryRecorder {
    store: Store,
    wake: Arc<Notify>,
}

impl DeliveryRecorder {
    pub fn new(store: Store, wake: Arc<Notify>) -> Self {
        Self { store, wake }
    }

    async fn record(&self, event: TaskEvent) -> Outcome {
        let now = time::now();
        let targets = match self
            .store
            .webhooks()
            .subscribed(&event.user_id, event.event_type, now)
            .await
        {
            Ok(targets) => targets,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if targets.is_empty() {
            return Outcome::Success;
        }
        let payload = match serde_json::to_string(&WebhookMessage::of(&event)) {
            Ok(payload) => payload,
            Err(e) => return Outcome::Drop(format!("cannot render the webhook body: {e}")),
        };
        let mut recorded = 0;
        for target in targets {
            let id = webhook_id(event.event_id, target.id);
            match self
                .store
                .webhook_deliveries()
                .record(
                    target.id,
                    &event.user_id,
                    event.event_id,
                    event.event_type.topic(),
                    &id,
                    &payload,
                    now,
                )
                .await
            {
                Ok(new) => recorded += usize::from(new),
                // The endpoint was deleted meanwhile.
                Err(StoreError::MissingReference) => {}
                Err(e) => return Outcome::Retry(e.to_string()),
            }
        }
        if recorded > 0 {
            tracing::debug!(event_id = %event.event_id, recorded, "webhook deliveries queued");
            self.wake.notify_one();
        }
        Outcome::Success
    }
}

impl TaskEventHandler for DeliveryRecorder {
    fn handle<'a>(&'a self, event: TaskEvent, _received: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin(self.record(event))
    }
}

/// notification's subscriptions to every task-event topic, recording webhook deliveries.
pub fn subscriptions(store: Store, wake: Arc<Notify>) -> Vec<Subscription> {
    let recorder: Arc<dyn EventHandler> = task_handler(DeliveryRecorder::new(store, wake));
    EventType::ALL
        .iter()
        .map(|t| Subscription::new(SERVICE, t.topic(), recorder.clone()))
        .collect()
}
