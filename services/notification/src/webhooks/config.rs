//! The webhook sender's settings, read once at start (`WEBHOOK_*`).

use std::time::Duration;

use taskflow_runtime::config::{self, ConfigError};

/// The retries after the first attempt (which is immediate): about a day in all.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `WEBHOOK_ALLOW_PRIVATE_NETWORKS` (false): connect to loopback, private, link-local and
    /// metadata addresses too.
    pub allow_private_networks: bool,
    /// `WEBHOOK_RETRY_SCHEDULE`: the delay before each retry, e.g. `5s,5m,30m,2h` (units `ms`, `s`,
    /// `m`, `h`). A delivery is attempted once more than there are delays, then marked failed.
    pub retry_schedule: Vec<Duration>,
    /// `WEBHOOK_DISABLE_AFTER_SECS` (86400): an endpoint whose deliveries have failed for this
    /// long is disabled and its owner notified.
    pub disable_after: Duration,
    /// `WEBHOOK_POLL_MS` (1000): how often the sender looks for due deliveries when nothing woke it.
    pub poll_interval: Duration,
    /// Per attempt, connecting included (15 s).
    pub timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            retry_schedule: parse_schedule(DEFAULT_SCHEDULE).unwrap_or_default(),
            disable_after: Duration::from_secs(86_400),
            poll_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(15),
        }
    }
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let retry_schedule = match config::var("WEBHOOK_RETRY_SCHEDULE") {
            None => d.retry_schedule,
            Some(raw) => parse_schedule(&raw).map_err(|reason| ConfigError::Invalid {
                name: "WEBHOOK_RETRY_SCHEDULE",
                value: raw.clone(),
                reason,
            })?,
        };
        Ok(Self {
            allow_private_networks: config::flag("WEBHOOK_ALLOW_PRIVATE_NETWORKS", false)?,
            retry_schedule,
            disable_after: Duration::from_secs(config::parse_or("WEBHOOK_DISABLE_AFTER_SECS", 86_400)?),
            poll_interval: Duration::from_millis(config::parse_or("WEBHOOK_POLL_MS", 1000u64)?.max(10)),
            timeout: d.timeout,
        })
    }
}

/// `5s,5m,2h,250ms` → durations; a bare number is seconds.
pub fn parse_schedule(raw: &str) -> Result<Vec<Duration>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let split = item.find(|c: char| !c.is_ascii_digit()).unwrap_or(item.len());
            let (number, unit) = item.split_at(split);
            let n: u64 = number
                .parse()
                .map_err(|_| format!("{item:?} is not a number with a unit (ms, s, m, h)"))?;
            let unit_ms = match unit {
                "ms" => 1,
                "" | "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => return Err(format!("{item:?}: the unit must be ms, s, m or h")),
            };
            Ok(Duration::from_millis(n.saturating_mul(unit_ms)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_with_units() {
        let parsed = parse_schedule(DEFAULT_SCHEDULE).unwrap();
        assert_eq!(parsed.len(), 7);
        assert_eq!(parsed[1], Duration::from_secs(300));
        assert_eq!(
            parse_schedule("10ms, 2").unwrap(),
            [Duration::from_millis(10), Duration::from_secs(2)]
        );
        assert!(parse_schedule("5d").is_err());
        assert!(parse_schedule("x").is_err());
    }
}
