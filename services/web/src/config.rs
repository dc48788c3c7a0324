//! web's configuration, read once at start: the service beside its sidecar, the app id it invokes
//! and how long it waits for it.

use std::time::Duration;

use taskflow_bus::service::ServiceConfig;
use taskflow_runtime::config::{self, ConfigError};
use taskflow_runtime::json::DEFAULT_BODY_LIMIT;

use crate::DEFAULT_PORT;

#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `HOST`, `PORT` (8005), `SHUTDOWN_TIMEOUT_SECS` and the `DAPR_*` settings: the sidecar API
    /// calls go to `DAPR_HOST:DAPR_HTTP_PORT`, with `DAPR_API_TOKEN` when set.
    pub service: ServiceConfig,
    /// `BACKEND_API_APP_ID` (backend-api): the Dapr app id the API calls are invoked on.
    pub backend_app_id: String,
    /// `UPSTREAM_TIMEOUT_SECS` (60): how long to wait for the response's head, and then for each read
    /// of its body, before answering 503 (or ending a stream). Bounds every call, so a stuck sidecar
    /// never hangs a browser.
    pub upstream_timeout: Duration,
    /// The largest request body forwarded: the 1 MiB backend-api accepts.
    pub body_limit: usize,
    /// `TRUSTED_PROXY_HOPS` (0): reverse proxies in front (an ingress) that append to
    /// `X-Forwarded-For`; the client is that many entries from the right. Its address is relayed to
    /// backend-api, whose per-address login budgets would otherwise see one client: the sidecar.
    pub trusted_proxy_hops: usize,
}

impl WebConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            service: ServiceConfig::from_env(DEFAULT_PORT)?,
            backend_app_id: config::var("BACKEND_API_APP_ID").unwrap_or_else(|| "backend-api".into()),
            upstream_timeout: Duration::from_secs(config::parse_or("UPSTREAM_TIMEOUT_SECS", 60u64)?.max(1)),
            body_limit: DEFAULT_BODY_LIMIT,
            trusted_proxy_hops: config::parse_or("TRUSTED_PROXY_HOPS", 0usize)?,
        })
    }
}
