//! A typed handler for task events: the consumers (audit, recurring, websocket) all want the
//! delivery's data as a [`TaskEvent`], and all drop one that is not. The adapter decodes it once and
//! answers [`Outcome::Drop`] with the same reason everywhere, so a consumer only sees good events.

use std::future::{Future, ready};
use std::sync::Arc;

use taskflow_domain::TaskEvent;

use crate::{EventHandler, HandlerFuture, Outcome, ReceivedEvent};

/// What a consumer of task events implements. Must be safe to call again with the same event.
pub trait TaskEventHandler: Send + Sync {
    /// Handles one delivery's decoded `event`; `received` is the delivery itself (id, trace,
    /// envelope attributes and the raw data).
    fn handle<'a>(&'a self, event: TaskEvent, received: &'a ReceivedEvent) -> HandlerFuture<'a>;
}

/// The outcome for a delivery whose data is not a task event: it can never succeed.
pub fn undecodable(error: &serde_json::Error) -> Outcome {
    Outcome::Drop(format!("not a task event: {error}"))
}

/// An [`EventHandler`] that decodes each delivery as a [`TaskEvent`] and passes it to `H`;
/// a delivery that does not decode is dropped ([`undecodable`]) without calling `H`.
pub struct TaskEvents<H>(H);

impl<H: TaskEventHandler> TaskEvents<H> {
    pub fn new(handler: H) -> Self {
        Self(handler)
    }
}

impl<H: TaskEventHandler> EventHandler for TaskEvents<H> {
    fn handle<'a>(&'a self, received: &'a ReceivedEvent) -> HandlerFuture<'a> {
        match received.task_event() {
            Ok(event) => self.0.handle(event, received),
            Err(e) => Box::pin(ready(undecodable(&e))),
        }
    }
}

/// `handler` as a subscription's handler, behind the decoding adapter.
pub fn task_handler<H: TaskEventHandler + 'static>(handler: H) -> Arc<dyn EventHandler> {
    Arc::new(TaskEvents::new(handler))
}

struct FnTaskHandler<F>(F);

impl<F, Fut> TaskEventHandler for FnTaskHandler<F>
where
    F: Fn(TaskEvent, ReceivedEvent) -> Fut + Send + Sync,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn handle<'a>(&'a self, event: TaskEvent, received: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin((self.0)(event, received.clone()))
    }
}

/// A task-event handler from an async closure, behind the decoding adapter.
pub fn task_handler_fn<F, Fut>(f: F) -> Arc<dyn EventHandler>
where
    F: Fn(TaskEvent, ReceivedEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    task_handler(FnTaskHandler(f))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Mutex;

    use serde_json::{Value, json};
    use taskflow_domain::{CreateTask, time};

    use super::*;

    fn delivery(data: Value) -> ReceivedEvent {
        ReceivedEvent {
            id: "evt-1".into(),
            source: "backend-api".into(),
            event_type: "com.taskflow.task.created.v1".into(),
            subject: None,
            time: None,
            topic: Some("task-created".into()),
            traceparent: None,
            data,
        }
    }

    fn created() -> TaskEvent {
        let body: CreateTask = serde_json::from_value(json!({"title": "Pay rent"})).unwrap();
        let now = time::now();
        TaskEvent::created(&body.validate().unwrap().into_task("u1", now), now)
    }

    /// Each decoded event that reached the handler, with its delivery's id.
    type Seen = Arc<Mutex<Vec<(TaskEvent, String)>>>;

    /// Records what reaches it and answers `Retry`, so the outcome shows the handler ran.
    fn recording() -> (Arc<dyn EventHandler>, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let handler = task_handler_fn(move |event: TaskEvent, received: ReceivedEvent| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((event, received.id));
                Outcome::Retry("recorded".into())
            }
        });
        (handler, seen)
    }

    #[tokio::test]
    async fn a_task_event_reaches_the_handler_decoded_with_its_delivery() {
        let (handler, seen) = recording();
        let event = created();
        let outcome = handler
            .handle(&delivery(serde_json::to_value(&event).unwrap()))
            .await;
        assert_eq!(outcome, Outcome::Retry("recorded".into()), "the handler's answer");
        assert_eq!(*seen.lock().unwrap(), vec![(event, "evt-1".to_owned())]);
    }

    #[tokio::test]
    async fn a_malformed_event_is_dropped_without_calling_the_handler() {
        let (handler, seen) = recording();
        for data in [
            json!({"not": "a task event"}),
            json!("a string"),
            Value::Null,
            json!({"event_id": "not-a-uuid", "event_type": "task-created"}),
        ] {
            match handler.handle(&delivery(data.clone())).await {
                Outcome::Drop(reason) => {
                    assert!(reason.starts_with("not a task event: "), "{reason}")
                }
                other => panic!("{data} was not dropped: {other:?}"),
            }
        }
        assert!(seen.lock().unwrap().is_empty(), "the handler never ran");
    }

    #[tokio::test]
    async fn a_trait_handler_sees_the_same_decoded_event() {
        struct Echo;
        impl TaskEventHandler for Echo {
            fn handle<'a>(&'a self, event: TaskEvent, received: &'a ReceivedEvent) -> HandlerFuture<'a> {
                Box::pin(async move {
                    assert_eq!(serde_json::to_value(&event).unwrap(), received.data);
                    Outcome::Success
                })
            }
        }
        let handler = task_handler(Echo);
        let data = serde_json::to_value(created()).unwrap();
        assert_eq!(handler.handle(&delivery(data)).await, Outcome::Success);
        assert!(matches!(
            handler.handle(&delivery(json!([]))).await,
            Outcome::Drop(_)
        ));
    }
}
