//! Authentication settings from the environment, shared by every service that verifies tokens.

use std::time::Duration;

use taskflow_runtime::config::{self, ConfigError};

use crate::JwksConfig;

pub use taskflow_runtime::secret::MIN_SECRET_BYTES;

/// The `JWT_SECRET` rule (long, unpublished, unpredictable), shared by every place that accepts one.
pub fn check_secret(secret: &str) -> Result<Vec<u8>, ConfigError> {
    taskflow_runtime::secret::check_secret("JWT_SECRET", secret)?;
    Ok(secret.as_bytes().to_vec())
}

/// The identity-provider settings, when `JWKS_URL` is set.
pub fn jwks_from_env() -> Result<Option<JwksConfig>, ConfigError> {
    let Some(url) = config::var("JWKS_URL") else {
        return Ok(None);
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::Invalid {
            name: "JWKS_URL",
            value: url,
            reason: "must be an http(s) URL".into(),
        });
    }
    Ok(Some(JwksConfig {
        url,
        issuer: config::var("JWT_ISSUER"),
        audience: config::var("JWT_AUDIENCE"),
        cache_ttl: Duration::from_secs(config::parse_or("JWKS_CACHE_TTL_SECS", 600)?),
        refetch_cooldown: Duration::from_secs(config::parse_or("JWKS_REFETCH_COOLDOWN_SECS", 30)?),
    }))
}

/// Token lifetime in days, from `ACCESS_TOKEN_EXPIRE_DAYS`.
pub fn token_ttl_days() -> Result<i64, ConfigError> {
    let days: i64 = config::parse_or("ACCESS_TOKEN_EXPIRE_DAYS", 7)?;
    if !(1..=365).contains(&days) {
        return Err(ConfigError::Invalid {
            name: "ACCESS_TOKEN_EXPIRE_DAYS",
            value: days.to_string(),
            reason: "must be between 1 and 365".into(),
        });
    }
    Ok(days)
}
