//! The binary's settings: everything has a default, so nothing needs to be set.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use taskflow_backend_api::StartupError;
use taskflow_backend_api::config::{self as api_config, ApiConfig};
use taskflow_runtime::config::{self, ConfigError};

const SECRET_FILE: &str = "jwt_secret";
const DATABASE_FILE: &str = "taskflow.db";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(transparent)]
    Startup(#[from] StartupError),
}

pub struct Settings {
    pub api: ApiConfig,
    pub system: crate::SystemOptions,
    pub data_dir: PathBuf,
    /// Where the data lives, without credentials, for the start-up banner.
    pub database_label: String,
}

fn data_dir_error(path: &Path) -> impl FnOnce(std::io::Error) -> SettingsError + '_ {
    move |source| SettingsError::DataDir {
        path: path.display().to_string(),
        source,
    }
}

/// The secret from `JWT_SECRET`, or the one kept in the data directory (created on first run).
fn jwt_secret(data_dir: &Path) -> Result<Vec<u8>, SettingsError> {
    if let Some(secret) = config::var("JWT_SECRET") {
        return Ok(api_config::check_secret(&secret)?);
    }
    let path = data_dir.join(SECRET_FILE);
    match fs::read_to_string(&path) {
        Ok(existing) => match api_config::check_secret(existing.trim()) {
            Ok(secret) => {
                crate::private_files::narrow(&path).map_err(data_dir_error(&path))?;
                return Ok(secret);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), reason = %e, "stored JWT secret is not safe; generating a new one (existing tokens stop working)")
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(data_dir_error(&path)(e)),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(data_dir_error(&path))?;
    file.write_all(secret.as_bytes()).map_err(data_dir_error(&path))?;
    crate::private_files::narrow(&path).map_err(data_dir_error(&path))?;
    tracing::info!(path = %path.display(), "generated a JWT secret");
    Ok(secret.into_bytes())
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        let data_dir = PathBuf::from(config::var("TASKFLOW_DATA_DIR").unwrap_or_else(|| "./data".into()));
        crate::private_files::prepare_dir(&data_dir).map_err(data_dir_error(&data_dir))?;
        let database_url = match config::var("DATABASE_URL") {
            Some(url) => url,
            None => {
                let file = data_dir.join(DATABASE_FILE);
                crate::private_files::prepare_database(&file).map_err(data_dir_error(&file))?;
                format!("sqlite://{}?mode=rwc", file.display())
            }
        };
        let api = ApiConfig {
            host: config::var("HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: config::parse_or("PORT", 8000)?,
            database_url: database_url.clone(),
            jwt_secret: jwt_secret(&data_dir)?,
            token_ttl_days: api_config::token_ttl_days()?,
            jwks: api_config::jwks_from_env()?,
            db_max_connections: config::parse_or("DB_MAX_CONNECTIONS", 16)?,
            auth_limits: api_config::AuthLimitConfig::from_env()?,
            quotas: api_config::quotas_from_env()?,
            model: api_config::model_from_env()?,
            mcp_allowed_origins: api_config::mcp_allowed_origins_from_env(),
            cors: taskflow_runtime::cors::CorsPolicy::from_env()?,
            shutdown_timeout: taskflow_runtime::server::shutdown_timeout_from_env()?,
            webhook_allow_private_networks: config::flag("WEBHOOK_ALLOW_PRIVATE_NETWORKS", false)?,
        };
        let tick: u64 = config::parse_or("NOTIFICATION_TICK_SECS", 10)?;
        if tick == 0 {
            let reason = "must be at least 1".to_owned();
            return Err(ConfigError::Invalid {
                name: "NOTIFICATION_TICK_SECS",
                value: "0".into(),
                reason,
            }
            .into());
        }
        let system = crate::SystemOptions {
            reminder_tick: Some(std::time::Duration::from_secs(tick)),
            mailer: taskflow_notification::mailer_from_env()?,
            realtime: taskflow_websocket::HubConfig::from_env()?,
            stream: taskflow_websocket::StreamConfig::from_env()?,
            webhooks: taskflow_notification::WebhookConfig::from_env()?,
            ..crate::SystemOptions::default()
        };
        Ok(Self {
            api,
            system,
            data_dir,
            database_label: redact(&database_url),
        })
    }
}
