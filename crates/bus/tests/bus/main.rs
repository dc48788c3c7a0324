//! The event backbone against its contracts: the Dapr adapter against a recording stand-in for the
//! sidecar, the callback routes with envelopes shaped as daprd sends them, and the idempotency stores
//! (Redis when `TEST_REDIS_URL` is set). The relay and the in-process bus on a real database are
//! tested in taskflow-host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callbacks;
mod dapr_client;
mod envelopes;
mod idempotency;
// Shared with taskflow-host's tests, which use the parts these do not.
#[allow(dead_code)]
mod support;
mod tracing;
