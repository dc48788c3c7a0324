//! What a consumer implements, and how its answer maps onto Dapr's delivery contract.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use taskflow_trace::TraceContext;
use tracing::Instrument;

use crate::ReceivedEvent;

/// A handler's verdict on one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; do not deliver again.
    Success,
    /// Failed for now (a dependency is down); deliver again later.
    Retry(String),
    /// Can never succeed (malformed, obsolete); do not deliver again — dead-letter it.
    Drop(String),
}

impl Outcome {
    /// The `status` Dapr expects in the reply body.
    pub fn dapr_status(&self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Retry(_) => "RETRY",
            Self::Drop(_) => "DROP",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Retry(_) => "retry",
            Self::Drop(_) => "drop",
        }
    }
}

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Handles the events of one subscription. Must be safe to call again with the same event.
pub trait EventHandler: Send + Sync {
    fn handle<'a>(&'a self, event: &'a ReceivedEvent) -> HandlerFuture<'a>;
}

struct FnHandler<F>(F);

impl<F, Fut> EventHandler for FnHandler<F>
where
    F: Fn(ReceivedEvent) -> Fut + Send + Sync,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn handle<'a>(&'a self, event: &'a ReceivedEvent) -> HandlerFuture<'a> {
        Box::pin((self.0)(event.clone()))
    }
}

/// A handler from an async closure.
pub fn handler_fn<F, Fut>(f: F) -> Arc<dyn EventHandler>
where
    F: Fn(ReceivedEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

/// One consumer's interest in one topic.
#[derive(Clone)]
pub struct Subscription {
    /// The consuming service (`audit`, `recurring`, …); names its route and idempotency keys.
    pub subscriber: String,
    pub topic: String,
    pub handler: Arc<dyn EventHandler>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("subscriber", &self.subscriber)
            .field("topic", &self.topic)
            .finish()
    }
}

impl Subscription {
    pub fn new(subscriber: &str, topic: &str, handler: Arc<dyn EventHandler>) -> Self {
        Self {
            subscriber: subscriber.into(),
            topic: topic.into(),
            handler,
        }
    }

    /// The app route Dapr delivers this subscription's events to.
    pub fn route(&self) -> String {
        format!("/events/{}/{}", self.subscriber, self.topic)
    }

    /// Where the broker parks events this subscription dropped or could not handle.
    pub fn dead_letter_topic(&self) -> String {
        format!("{}-dead-letters", self.subscriber)
    }
}

/// Runs `sub`'s handler on one delivery inside the event's trace: a child of the CloudEvent's
/// `traceparent` (a new trace when it has none or a malformed one), as the `event` span with the
/// trace id — so the consumer's log lines carry it — and as the [`taskflow_trace::current`]
/// context, so the outbox rows the handler writes continue the same trace.
pub async fn dispatch(sub: &Subscription, event: &ReceivedEvent) -> Outcome {
    let parent = event.traceparent.as_deref().and_then(TraceContext::parse);
    let trace = parent.map_or_else(TraceContext::new_root, |p| p.child());
    let span = tracing::info_span!(
        "event",
        subscriber = %sub.subscriber,
        topic = %sub.topic,
        event_id = %event.id,
        trace_id = %trace.trace_id(),
        span_id = %trace.span_id(),
        parent_span_id = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    if let Some(parent) = parent {
        span.record("parent_span_id", parent.span_id().as_str());
    }
    let outcome = taskflow_trace::scope(trace, sub.handler.handle(event))
        .instrument(span.clone())
        .await;
    span.record("outcome", outcome.label());
    outcome
}
