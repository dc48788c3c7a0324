//! The notification service's configuration, read once at start: the host's settings, the SMTP
//! server e-mail goes through, and the webhook sender's settings.

use taskflow_host::HostConfig;
use taskflow_runtime::config::{self, ConfigError};

use crate::{DEFAULT_PORT, Mailer, WebhookConfig};

#[derive(Debug, Clone)]
pub struct NotificationConfig {
    /// `DATABASE_URL`, `DB_MAX_CONNECTIONS`, `HOST`, `PORT`, `APP_API_TOKEN`, `IDEMPOTENCY_TTL_SECS`, `DAPR_*`.
    pub host: HostConfig,
    /// `SMTP_URL` and `SMTP_FROM`; `None` (no e-mail) when `SMTP_URL` is unset.
    pub mailer: Option<Mailer>,
    /// `WEBHOOK_*`: the webhook sender.
    pub webhooks: WebhookConfig,
}

impl NotificationConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            host: HostConfig::from_env(DEFAULT_PORT)?,
            mailer: mailer_from_env()?,
            webhooks: WebhookConfig::from_env()?,
        })
    }
}

/// From `SMTP_URL` (e.g. `smtps://user:pass@smtp.example.com`, or `smtp://127.0.0.1:2525` for a
/// local relay) and `SMTP_FROM`; `None` when `SMTP_URL` is unset.
pub fn mailer_from_env() -> Result<Option<Mailer>, ConfigError> {
    let Some(url) = config::var("SMTP_URL") else {
        return Ok(None);
    };
    let from = config::var("SMTP_FROM").unwrap_or_else(|| "TaskFlow <noreply@taskflow.local>".into());
    Mailer::new(&url, &from).map(Some)
}
