//! The event backbone shared by every service.
//!
//! - [`cloudevent`]: the CloudEvents 1.0 envelope, built for publishing and parsed tolerantly on receipt.
//! - [`relay`]: publishes the transactional outbox in order per user, with backoff, exactly as committed.
//! - [`handler`]: what a consumer implements, and the SUCCESS / RETRY / DROP outcomes Dapr understands.
//! - [`task_handler`]: the typed consumer of task events — decoded once, the undecodable dropped alike.
//! - [`inprocess`]: the single binary's bus — same envelope, same outcomes, bounded retries, dead letters.
//! - [`dapr`]: the sidecar's HTTP API (publish, state, health) and the app-side callback routes.
//! - [`idempotency`]: claim-once keys (in memory, Dapr state, Redis, or a database table) so a
//!   redelivered event has one effect.
//!
//! Only this crate knows the Dapr sidecar's HTTP API.

pub mod cloudevent;
pub mod cron;
pub mod dapr;
pub mod handler;
pub mod idempotency;
pub mod inprocess;
pub mod publisher;
pub mod relay;
pub mod service;
pub mod task_handler;

pub use cloudevent::{CloudEvent, EnvelopeError, ReceivedEvent};
pub use handler::{EventHandler, HandlerFuture, Outcome, Subscription, dispatch, handler_fn};
pub use publisher::{OutgoingEvent, PublishError, Publisher};
pub use task_handler::{TaskEventHandler, TaskEvents, task_handler, task_handler_fn};
/// The W3C trace context the bus carries from outbox rows to consumers.
pub use taskflow_trace as trace;
