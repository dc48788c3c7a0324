//! The `taskflow` binary's system tests, in one test binary (one link of the workspace instead of
//! one per file): the whole system in process on port 0, or the built binary
//! (`CARGO_BIN_EXE_taskflow`) as a child process. One module per concern; [`support`] is the
//! client side they share.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access_tokens;
mod binary;
mod clean_disconnect;
mod connections;
mod cors;
mod departures;
mod faults;
mod metrics;
mod pipeline;
mod realtime;
mod recurring;
mod reminders;
mod resume;
mod shutdown;
mod startup_safety;
mod support;
mod takeover;
mod tracing;
mod webhooks;
