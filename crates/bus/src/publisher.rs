//! Where the outbox relay hands events: the Dapr sidecar, or the in-process bus.

use std::future::Future;
use std::pin::Pin;

use crate::CloudEvent;

/// An event ready to leave the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    pub topic: String,
    /// Events with the same key keep their order (the user id).
    pub partition_key: String,
    pub cloud_event: CloudEvent,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error("broker unreachable: {0}")]
    Unavailable(String),
    #[error("publish refused with status {status}: {body}")]
    Refused { status: u16, body: String },
}

pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;

/// Each event's outcome, in the order the events were given.
pub type BatchFuture<'a> = Pin<Box<dyn Future<Output = Vec<Result<(), PublishError>>> + Send + 'a>>;

/// Accepts an event for delivery. `Ok` means the broker has it; anything else is retried later.
pub trait Publisher: Send + Sync {
    fn publish<'a>(&'a self, event: &'a OutgoingEvent) -> PublishFuture<'a>;

    /// Whether publishing can succeed now (the sidecar is up); the relay waits while it cannot.
    fn ready(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async { true })
    }

    /// Whether [`Publisher::publish_batch`] hands many events over at a lower cost than one
    /// [`Publisher::publish`] each (daprd's bulk publish: one request for many). The relay then
    /// publishes in rounds of one event per key; otherwise it runs one chain of single publishes
    /// per key. May change over time (a sidecar without the bulk API).
    fn batches(&self) -> bool {
        false
    }

    /// Publishes `events`, which have pairwise different partition keys: the broker may take them
    /// in any order, so the caller never puts two events whose order matters in one batch. The
    /// outcomes come back in the order of `events`; a failed event was not published (or may
    /// have been: it is published again, and consumers are idempotent).
    fn publish_batch<'a>(&'a self, events: &'a [OutgoingEvent]) -> BatchFuture<'a> {
        Box::pin(futures_util::future::join_all(
            events.iter().map(|e| self.publish(e)),
        ))
    }
}
