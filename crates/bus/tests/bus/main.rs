//! The event backbone against its contracts: the relay and in-process bus on a real database, the
//! Dapr adapter against a recording stand-in for the sidecar, the callback routes with envelopes
//! shaped as daprd sends them, and the idempotency stores (Redis when `TEST_REDIS_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callbacks;
mod dapr_client;
mod envelopes;
mod idempotency;
mod relay;
mod support;
mod tracing;
