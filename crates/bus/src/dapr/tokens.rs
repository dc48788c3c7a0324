//! The two tokens between an app and its sidecar, read from the environment and checked like any secret.
//!
//! Without `APP_API_TOKEN` any pod that can reach a service's port can post forged events and cron
//! ticks to it, so under Dapr its absence stops start-up unless the operator says, with
//! `ALLOW_MISSING_APP_API_TOKEN=true`, that the port is reachable only by the sidecar (a local
//! `dapr run`, or a chart whose NetworkPolicy admits nothing else).

use taskflow_runtime::config::{self, ConfigError};
use taskflow_runtime::secret;

/// `APP_API_TOKEN`, which daprd must present on its calls to the app: required (and checked like a
/// secret) unless `ALLOW_MISSING_APP_API_TOKEN=true`, when `None` disables the check.
pub fn app_api_token_from_env() -> Result<Option<String>, ConfigError> {
    let allow_missing = config::flag("ALLOW_MISSING_APP_API_TOKEN", false)?;
    app_api_token(config::var("APP_API_TOKEN"), allow_missing)
}

/// `DAPR_API_TOKEN`, sent to the sidecar on every call when set; checked like a secret.
pub fn dapr_api_token_from_env() -> Result<Option<String>, ConfigError> {
    let token = config::var("DAPR_API_TOKEN");
    if let Some(token) = &token {
        secret::check_secret("DAPR_API_TOKEN", token)?;
    }
    Ok(token)
}

fn app_api_token(token: Option<String>, allow_missing: bool) -> Result<Option<String>, ConfigError> {
    match token {
        Some(token) => {
            secret::check_secret("APP_API_TOKEN", &token)?;
            Ok(Some(token))
        }
        None if allow_missing => Ok(None),
        None => Err(ConfigError::Invalid {
            name: "APP_API_TOKEN",
            value: String::new(),
            reason: "must be set under Dapr (the token daprd presents on its calls to this app); set \
                     ALLOW_MISSING_APP_API_TOKEN=true only where nothing but the sidecar can reach the app"
                .into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "9b1d6f3e2a7c4b8d0e5f1a2b3c4d5e6f7a8b9c0d1e2f3a4b";

    #[test]
    fn a_missing_app_token_stops_start_up_unless_allowed() {
        let Err(error) = app_api_token(None, false) else {
            panic!("a missing APP_API_TOKEN was accepted");
        };
        assert!(error.to_string().contains("APP_API_TOKEN"), "{error}");
        assert_eq!(app_api_token(None, true).ok(), Some(None));
    }

    #[test]
    fn a_set_app_token_must_be_a_real_secret_even_when_missing_is_allowed() {
        assert!(app_api_token(Some("local-app-api-token-change-me".into()), true).is_err());
        assert!(app_api_token(Some("short".into()), true).is_err());
        assert_eq!(
            app_api_token(Some(TOKEN.into()), false).ok(),
            Some(Some(TOKEN.into()))
        );
    }
}
