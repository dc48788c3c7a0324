//! The event backbone shared by every service.
//!
//! - [`cloudevent`]: the CloudEvents 1.0 envelope, built for publishing and parsed tolerantly on receipt.
//! - [`handler`]: what a consumer implements, and the SUCCESS / RETRY / DROP outcomes Dapr understands.
//! - [`task_handler`]: the typed consumer of task events — decoded once, the undecodable dropped alike.
//! - [`inprocess`]: the single binary's bus — same envelope, same outcomes, bounded retries, dead
//!   letters handed to a [`DeadLetterSink`].
//! - [`dapr`]: the sidecar's HTTP API (publish, state, health) and the app-side callback routes.
//! - [`idempotency`]: claim-once keys (in memory, Dapr state or Redis) so a redelivered event has
//!   one effect.
//! - [`service`]: serving a Dapr app that keeps no data — configuration, callbacks, cron, health,
//!   graceful shutdown and the `main` wrapper.
//!
//! Only this crate knows the Dapr sidecar's HTTP API. It is transport only and never touches the
//! database: the outbox relay, the database checks and the consumer runner for services that keep
//! data live in `taskflow-host`, so the database-free websocket service links no SQL.

pub mod cloudevent;
pub mod cron;
pub mod dapr;
pub mod dead_letter;
pub mod handler;
pub mod idempotency;
pub mod inprocess;
pub mod publisher;
pub mod service;
pub mod task_handler;

pub use cloudevent::{CloudEvent, EnvelopeError, ReceivedEvent};
pub use dead_letter::{DeadLetter, DeadLetterSink};
pub use handler::{EventHandler, HandlerFuture, Outcome, Subscription, dispatch, handler_fn};
pub use publisher::{BatchFuture, OutgoingEvent, PublishError, Publisher};
pub use task_handler::{TaskEventHandler, TaskEvents, task_handler, task_handler_fn};
/// The W3C trace context the bus carries from outbox rows to consumers.
pub use taskflow_trace as trace;
