//! Settings of the online agent, from the environment. Without `OPENAI_API_KEY` there is no online
//! agent and the offline parser answers instead.

use std::time::Duration;

/// Where and how to reach an OpenAI-compatible Chat Completions API.
#[derive(Clone)]
pub struct ModelConfig {
    pub api_key: String,
    /// Up to and including `/v1`, e.g. `https://openrouter.ai/api/v1` or `http://localhost:11434/v1`.
    pub base_url: String,
    pub model: String,
    /// Per model request.
    pub timeout: Duration,
    /// Model round trips (each may run tools) before the agent gives up on a turn.
    pub max_steps: usize,
    /// Extra attempts after a timeout, a 429 or a 5xx.
    pub retries: u32,
}

impl std::fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelConfig")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("max_steps", &self.max_steps)
            .field("retries", &self.retries)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

impl ModelConfig {
    pub fn new(api_key: impl Into<String>, base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            model: model.into(),
            timeout: Duration::from_secs(30),
            max_steps: 6,
            retries: 2,
        }
    }

    /// Reads `OPENAI_API_KEY` (absent or empty → `None`), `OPENAI_BASE_URL`, `OPENAI_MODEL`,
    /// `OPENAI_TIMEOUT_SECS` and `ASSISTANT_MAX_STEPS` through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(key) = get("OPENAI_API_KEY").filter(|k| !k.trim().is_empty()) else {
            return Ok(None);
        };
        let base = get("OPENAI_BASE_URL")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConfigError {
                name: "OPENAI_BASE_URL",
                message: format!("{base:?} is not an http(s) URL"),
            });
        }
        let model = get("OPENAI_MODEL")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
        let mut config = Self::new(key.trim(), base, model);
        if let Some(raw) = get("OPENAI_TIMEOUT_SECS") {
            let secs: u64 = raw
                .trim()
                .parse()
                .ok()
                .filter(|s| (1..=600).contains(s))
                .ok_or(ConfigError {
                    name: "OPENAI_TIMEOUT_SECS",
                    message: format!("{raw:?} is not a number of seconds from 1 to 600"),
                })?;
            config.timeout = Duration::from_secs(secs);
        }
        if let Some(raw) = get("ASSISTANT_MAX_STEPS") {
            config.max_steps =
                raw.trim()
                    .parse()
                    .ok()
                    .filter(|s| (1..=20).contains(s))
                    .ok_or(ConfigError {
                        name: "ASSISTANT_MAX_STEPS",
                        message: format!("{raw:?} is not a number from 1 to 20"),
                    })?;
        }
        Ok(Some(config))
    }

    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn no_key_means_no_online_agent() {
        assert!(ModelConfig::from_lookup(lookup(&[])).unwrap().is_none());
        assert!(
            ModelConfig::from_lookup(lookup(&[("OPENAI_API_KEY", " ")]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn defaults_and_overrides() {
        let c = ModelConfig::from_lookup(lookup(&[("OPENAI_API_KEY", "k")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.base_url.as_str(), c.model.as_str()),
            (DEFAULT_BASE_URL, DEFAULT_MODEL)
        );
        let c = ModelConfig::from_lookup(lookup(&[
            ("OPENAI_API_KEY", "k"),
            ("OPENAI_BASE_URL", "http://localhost:11434/v1/"),
            ("OPENAI_MODEL", "llama3.1"),
            ("OPENAI_TIMEOUT_SECS", "5"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.base_url, "http://localhost:11434/v1");
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert!(!format!("{c:?}").contains("\"k\""));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = ModelConfig::from_lookup(lookup(&[
            ("OPENAI_API_KEY", "k"),
            ("OPENAI_TIMEOUT_SECS", "soon"),
        ]))
        .unwrap_err();
        assert_eq!(err.name, "OPENAI_TIMEOUT_SECS");
        let err =
            ModelConfig::from_lookup(lookup(&[("OPENAI_API_KEY", "k"), ("OPENAI_BASE_URL", "ftp://x")]))
                .unwrap_err();
        assert_eq!(err.name, "OPENAI_BASE_URL");
    }
}
