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

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker unreachable: {0}")]
    Unavailable(String),
    #[error("publish refused with status {status}: {body}")]
    Refused { status: u16, body: String },
}

pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;

/// Accepts an event for delivery. `Ok` means the broker has it; anything else is retried later.
pub trait Publisher: Send + Sync {
    fn publish<'a>(&'a self, event: &'a OutgoingEvent) -> PublishFuture<'a>;

    /// Whether publishing can succeed now (the sidecar is up); the relay waits while it cannot.
    fn ready(&self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async { true })
    }
}
