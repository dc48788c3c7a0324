//! What every service run beside a Dapr sidecar reads from the environment, read once at start.
//!
//! A binary builds its configuration type (this, or one that embeds it) in `main` and passes it
//! down; nothing below reads the environment again, and tests build the struct themselves.

use std::time::Duration;

use taskflow_runtime::config::{self, ConfigError};
use taskflow_runtime::server;

use crate::dapr::DaprConfig;

/// The listener, the sidecar and the callback guard of a service under Dapr.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// `HOST` (0.0.0.0).
    pub host: String,
    /// `PORT` (the service's default port).
    pub port: u16,
    /// `APP_API_TOKEN`: the token daprd must present on its calls to the app (required); `None`, with
    /// `ALLOW_MISSING_APP_API_TOKEN=true` only, disables the check.
    pub app_api_token: Option<String>,
    /// `IDEMPOTENCY_TTL_SECS` (7 days): how long an event's claim in the Dapr state store lives.
    pub idempotency_ttl: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS` (30): what the whole shutdown gets after a signal.
    pub shutdown_timeout: Duration,
    /// `DAPR_HOST`, `DAPR_HTTP_PORT`, `DAPR_API_TOKEN`, `DAPR_PUBSUB_NAME`, `DAPR_STATE_STORE`.
    pub dapr: DaprConfig,
}

impl ServiceConfig {
    /// Reads the variables above; `default_port` when `PORT` is unset.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        let dapr = DaprConfig::from_env()?;
        Ok(Self {
            host: config::var("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: config::parse_or("PORT", default_port)?,
            idempotency_ttl: Duration::from_secs(config::parse_or("IDEMPOTENCY_TTL_SECS", 7 * 24 * 3600)?),
            app_api_token: crate::dapr::app_api_token_from_env()?,
            shutdown_timeout: server::shutdown_timeout_from_env()?,
            dapr,
        })
    }
}
