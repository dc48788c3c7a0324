//! backend-api's configuration, read from the environment once at start ([`BackendApiConfig`] for
//! the standalone binary, [`ApiConfig`] for what the single binary shares) and passed down; tests
//! build the structs themselves.

use std::time::Duration;

use taskflow_assistant::online::ModelConfig;
use taskflow_auth::JwksConfig;
pub use taskflow_auth::config::{MIN_SECRET_BYTES, check_secret, jwks_from_env, token_ttl_days};
use taskflow_bus::dapr::DaprConfig;
use taskflow_runtime::config::{self, ConfigError};
use taskflow_runtime::cors::CorsPolicy;
use taskflow_runtime::server;
pub use taskflow_store::Quotas;

pub use crate::rate_limit::{AuthLimitConfig, redis_from_env};
use crate::routes::mcp::AllowedOrigins;

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
    /// Per-user quotas on tasks, conversations and chat history (`QUOTA_*`).
    pub quotas: Quotas,
    /// The online assistant's model; `None` (no `OPENAI_API_KEY`) means the offline parser answers.
    pub model: Option<ModelConfig>,
    /// Origins besides the server's own whose browsers may call `/mcp` (`MCP_ALLOWED_ORIGINS`,
    /// comma-separated; `*` for any).
    pub mcp_allowed_origins: Vec<String>,
    /// Browser origins that may call the API from another origin (`CORS_ALLOWED_ORIGINS`); none when unset.
    pub cors: CorsPolicy,
    /// `SHUTDOWN_TIMEOUT_SECS` (30): what the whole shutdown gets after a signal — the HTTP drain,
    /// then the relay's final flush in what is left.
    pub shutdown_timeout: Duration,
    /// `WEBHOOK_ALLOW_PRIVATE_NETWORKS` (false): webhook URLs may use plain `http://` to any host.
    /// (The delivery service decides, with the same variable, which addresses it connects to.)
    pub webhook_allow_private_networks: bool,
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
            quotas: quotas_from_env()?,
            model: model_from_env()?,
            mcp_allowed_origins: mcp_allowed_origins_from_env(),
            cors: CorsPolicy::from_env()?,
            shutdown_timeout: server::shutdown_timeout_from_env()?,
            webhook_allow_private_networks: config::flag("WEBHOOK_ALLOW_PRIVATE_NETWORKS", false)?,
        })
    }
}

/// `QUOTA_TASKS_PER_USER`, `QUOTA_CONVERSATIONS_PER_USER`, `QUOTA_CHAT_BYTES_PER_USER` (0 turns
/// one off; defaults in [`Quotas::default`]).
pub fn quotas_from_env() -> Result<Quotas, ConfigError> {
    let d = Quotas::default();
    Ok(Quotas {
        tasks: config::parse_or("QUOTA_TASKS_PER_USER", d.tasks)?,
        conversations: config::parse_or("QUOTA_CONVERSATIONS_PER_USER", d.conversations)?,
        chat_bytes: config::parse_or("QUOTA_CHAT_BYTES_PER_USER", d.chat_bytes)?,
        webhooks: config::parse_or("QUOTA_WEBHOOKS_PER_USER", d.webhooks)?,
    })
}

/// `MCP_ALLOWED_ORIGINS`, split on commas.
pub fn mcp_allowed_origins_from_env() -> Vec<String> {
    config::var("MCP_ALLOWED_ORIGINS")
        .map(|v| AllowedOrigins::parse(&v).0)
        .unwrap_or_default()
}

/// What the standalone binary does, decided by `MIGRATE_ONLY`.
#[derive(Debug, Clone)]
pub enum BackendApiConfig {
    /// `MIGRATE_ONLY=true`: apply the migrations to `DATABASE_URL` and exit (a deployment's
    /// migration step needs only the database, not the service's secrets).
    Migrate { database_url: String },
    /// Serve under Dapr.
    Serve(Box<DaprApiConfig>),
}

impl BackendApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        if config::flag("MIGRATE_ONLY", false)? {
            let database_url = config::required("DATABASE_URL", "set it to the database to migrate")?;
            Ok(Self::Migrate { database_url })
        } else {
            Ok(Self::Serve(Box::new(DaprApiConfig::from_env()?)))
        }
    }
}

/// The standalone service beside its sidecar: the API's settings, the sidecar's, and the token
/// daprd must present on its calls to the app (`APP_API_TOKEN`).
#[derive(Debug, Clone)]
pub struct DaprApiConfig {
    pub api: ApiConfig,
    pub dapr: DaprConfig,
    pub app_api_token: Option<String>,
}

impl DaprApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            api: ApiConfig::from_env()?,
            dapr: DaprConfig::from_env()?,
            app_api_token: taskflow_bus::dapr::app_api_token_from_env()?,
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
