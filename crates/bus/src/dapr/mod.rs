//! Dapr, spoken over the sidecar's documented HTTP API.
//!
//! The Rust `dapr` crate was set aside (alpha, gRPC-only, panicking macros); these few calls over
//! `reqwest`, and the app-side routes over actix, are all the services need and are tested against
//! a recording stand-in for the sidecar.

mod app;
pub mod bulk;
mod client;
mod tokens;

pub use app::{DaprApp, app_token_guard};
pub use client::{DaprClient, DaprConfig, DaprError, DaprStateIdempotency, SidecarCheck, StateItem};
pub use tokens::{app_api_token_from_env, dapr_api_token_from_env};
