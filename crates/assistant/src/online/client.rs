//! One Chat Completions request, with a timeout and bounded retries on the failures worth retrying
//! (timeouts, connection errors, 429 and 5xx). The model's latency is recorded per request.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::ModelConfig;
use super::wire::{ChatMessage, ChatRequest, ChatResponse};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the model service cannot be reached: {0}")]
    Unreachable(String),
    #[error("the model service answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the model's answer is not a chat completion: {0}")]
    Malformed(String),
}

impl ModelError {
    fn retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Unreachable(_) => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Malformed(_) => false,
        }
    }
}

#[derive(Clone)]
pub struct ModelClient {
    http: reqwest::Client,
    config: ModelConfig,
}

impl ModelClient {
    pub fn new(config: ModelConfig) -> Result<Self, ModelError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ModelError::Unreachable(e.to_string()))?;
        Ok(Self { http, config })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The model's next message for `messages`, offering `tools`.
    pub async fn complete(&self, messages: &[ChatMessage], tools: &Value) -> Result<ChatMessage, ModelError> {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let result = self.once(messages, tools).await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(ModelError::Timeout(_)) => "timeout",
                Err(_) => "error",
            };
            metrics::histogram!("assistant_model_request_duration_seconds", "outcome" => outcome)
                .record(started.elapsed().as_secs_f64());
            match result {
                Err(e) if e.retryable() && attempt < self.config.retries => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "model request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn once(&self, messages: &[ChatMessage], tools: &Value) -> Result<ChatMessage, ModelError> {
        let request = ChatRequest {
            model: &self.config.model,
            messages,
            tools,
            tool_choice: "auto",
        };
        let res = self
            .http
            .post(format!("{}/chat/completions", self.config.base_url))
            .bearer_auth(&self.config.api_key)
            .json(&request)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(ModelError::Status {
                status: status.as_u16(),
                body: text.chars().take(300).collect(),
            });
        }
        let parsed: ChatResponse =
            serde_json::from_slice(&body).map_err(|e| ModelError::Malformed(e.to_string()))?;
        parsed
            .choices
            .into_iter()
            .next()
            .map(|c| c.message)
            .ok_or_else(|| ModelError::Malformed("no choices".to_owned()))
    }

    fn transport(&self, e: reqwest::Error) -> ModelError {
        if e.is_timeout() {
            ModelError::Timeout(self.config.timeout)
        } else {
            ModelError::Unreachable(e.without_url().to_string())
        }
    }
}
