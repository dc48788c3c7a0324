//! backend-api's configuration, read from the environment.

use taskflow_assistant::online::ModelConfig;
use taskflow_auth::JwksConfig;
pub use taskflow_auth::config::{MIN_SECRET_BYTES, check_secret, jwks_from_env, token_ttl_days};
use taskflow_runtime::config::{self, ConfigError};

pub use crate::rate_limit::{AuthLimitConfig, redis_from_env};

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub host: String,
    pub port: u16,
    pub database_url: String,
    pub jwt_secret: Vec<u8>,
    pub token_ttl_days: i64,
    pub jwks: Option<JwksConfig>,
    pub db_max_connections: u32,
    /// Login and registration throttling (`AUTH_RATE_*`, `TRUSTED_PROXY_HOPS`), shared between
    /// replicas through Redis with `REDIS_URL`.
    pub auth_limits: AuthLimitConfig,
    /// The online assistant's model; `None` (no `OPENAI_API_KEY`) means the offline parser answers.
    pub model: Option<ModelConfig>,
}

impl ApiConfig {
    /// The standalone service's configuration: `DATABASE_URL` and `JWT_SECRET` are required.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            host: config::var("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: config::parse_or("PORT", 8000)?,
            database_url: config::required(
                "DATABASE_URL",
                "set it to postgres://user:pass@host/db (or sqlite://path?mode=rwc)",
            )?,
            jwt_secret: check_secret(&config::required(
                "JWT_SECRET",
                "set it to a random string of at least 32 bytes (`openssl rand -hex 32`)",
            )?)?,
            token_ttl_days: token_ttl_days()?,
            jwks: jwks_from_env()?,
            db_max_connections: config::parse_or("DB_MAX_CONNECTIONS", 16)?,
            auth_limits: AuthLimitConfig {
                redis: redis_from_env()?,
                ..AuthLimitConfig::from_env()?
            },
            model: model_from_env()?,
        })
    }
}

/// The assistant's model settings (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_MODEL`, …).
pub fn model_from_env() -> Result<Option<ModelConfig>, ConfigError> {
    ModelConfig::from_env().map_err(|e| ConfigError::Invalid {
        name: e.name,
        value: std::env::var(e.name).unwrap_or_default(),
        reason: e.message,
    })
}
