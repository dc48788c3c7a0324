//! websocket's configuration, read once at start: the service under Dapr and how it verifies tokens.

use taskflow_auth::config as auth_config;
use taskflow_auth::{JwksConfig, LocalTokenConfig};
use taskflow_bus::service::ServiceConfig;
use taskflow_runtime::config::{self, ConfigError};
use taskflow_runtime::cors::CorsPolicy;

use crate::DEFAULT_PORT;
use crate::hub::HubConfig;
use crate::tickets::StreamConfig;

#[derive(Debug, Clone)]
pub struct WebsocketConfig {
    /// `HOST`, `PORT`, `APP_API_TOKEN`, `IDEMPOTENCY_TTL_SECS` and the `DAPR_*` settings.
    pub service: ServiceConfig,
    pub auth: AuthConfig,
    /// Browser origins that may open the SSE stream from another origin (`CORS_ALLOWED_ORIGINS`).
    pub cors: CorsPolicy,
    /// Connection queues and replay buffers (`REALTIME_REPLAY_*`).
    pub realtime: HubConfig,
    /// Whether `?token=` is accepted (`STREAM_TOKEN_IN_URL`, discouraged).
    pub stream: StreamConfig,
    /// The Dapr state store of spent stream tickets (`STREAM_TICKET_STATE_STORE`).
    pub ticket_state_store: String,
    /// The app whose `GET /internal/events/{user_id}` serves missed events from the outbox when a
    /// replica's buffer lacks them (`EVENT_HISTORY_APP_ID`, default `backend-api`; empty turns it
    /// off, and such clients resync).
    pub history_app_id: Option<String>,
    /// The app whose `GET /internal/access-tokens/{hash}` resolves personal access tokens
    /// (`ACCESS_TOKEN_APP_ID`, default `backend-api`; empty turns it off, and such tokens are refused).
    pub access_token_app_id: Option<String>,
}

/// How the endpoints verify tokens.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `JWT_SECRET` (required) and `ACCESS_TOKEN_EXPIRE_DAYS`: tokens backend-api signed.
    pub local: LocalTokenConfig,
    /// `JWKS_URL` & co.: tokens of an identity provider.
    pub jwks: Option<JwksConfig>,
}

/// An app id to invoke: unset means backend-api, empty turns the feature off.
fn app_id_from_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(id) if id.trim().is_empty() => None,
        Ok(id) => Some(id.trim().to_owned()),
        Err(_) => Some(crate::history::DEFAULT_HISTORY_APP_ID.to_owned()),
    }
}

impl WebsocketConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let service = ServiceConfig::from_env(DEFAULT_PORT)?;
        let secret = auth_config::check_secret(&config::required(
            "JWT_SECRET",
            "set it to the secret backend-api signs tokens with, so this service can verify them",
        )?)?;
        let jwks = auth_config::jwks_from_env()?;
        let ttl_days = auth_config::token_ttl_days()?;
        Ok(Self {
            service,
            cors: CorsPolicy::from_env()?,
            realtime: HubConfig::from_env()?,
            stream: StreamConfig::from_env()?,
            ticket_state_store: crate::tickets::ticket_state_store_from_env(),
            history_app_id: app_id_from_env("EVENT_HISTORY_APP_ID"),
            access_token_app_id: app_id_from_env("ACCESS_TOKEN_APP_ID"),
            auth: AuthConfig {
                local: LocalTokenConfig { secret, ttl_days },
                jwks,
            },
        })
    }
}
