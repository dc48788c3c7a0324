//! The configuration of a service that keeps data, read once at start: the store-free service
//! settings plus the shared database.

use taskflow_bus::service::ServiceConfig;
use taskflow_runtime::config::{self, ConfigError};

#[derive(Debug, Clone)]
pub struct HostConfig {
    /// `HOST`, `PORT`, `APP_API_TOKEN`, `IDEMPOTENCY_TTL_SECS` and the `DAPR_*` settings.
    pub service: ServiceConfig,
    /// `DATABASE_URL` (required): the shared database.
    pub database_url: String,
    /// `DB_MAX_CONNECTIONS` (8).
    pub db_max_connections: u32,
}

impl HostConfig {
    /// Reads the variables above; `default_port` when `PORT` is unset.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        let database_url = config::required(
            "DATABASE_URL",
            "set it to the shared PostgreSQL database, e.g. postgres://user:pass@host/taskflow",
        )?;
        let db_max_connections = config::parse_or("DB_MAX_CONNECTIONS", 8)?;
        Ok(Self {
            service: ServiceConfig::from_env(default_port)?,
            database_url,
            db_max_connections,
        })
    }
}
