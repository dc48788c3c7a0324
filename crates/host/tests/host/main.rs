//! The host's parts on a real database: the outbox relay and the in-process bus with the store's
//! dead letters (order, faults, retries, dead letters, duplicates), one relay at a time and what
//! happens when its lock is lost, the trace context the relay hands the sidecar, and the database's
//! claim-once helper.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod event_history;
mod fixtures;
mod processed_events;
mod relay;
mod relay_bulk;
mod relay_lock;
// The recording subscriber and the fake Dapr sidecar are the bus's own test fixtures, shared rather
// than copied; not every helper is used here.
#[path = "../../../bus/tests/bus/support.rs"]
#[allow(dead_code)]
mod support;
mod tracing;
