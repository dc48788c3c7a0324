//! What every TaskFlow service shares at run time: configuration, telemetry, the JSON error contract,
//! request ids and metrics, health and readiness, and the HTTP server with graceful shutdown.

pub mod client_address;
pub mod config;
pub mod cors;
pub mod error;
pub mod health;
pub mod json;
pub mod metrics;
pub mod middleware;
pub mod otlp;
pub mod secret;
pub mod server;
pub mod telemetry;

pub use error::{ApiError, ErrorCode};
pub use json::JsonBody;
