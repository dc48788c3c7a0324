//! One Chat Completions request, with a timeout and bounded retries on the failures worth retrying
//! (timeouts, connection errors, 429 and 5xx). The model's latency is recorded per request.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::ModelConfig;
use super::stream::StreamAssembler;
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
            if !self.retry_after(started, &result, &mut attempt, true).await {
                return result;
            }
        }
    }

    async fn once(&self, messages: &[ChatMessage], tools: &Value) -> Result<ChatMessage, ModelError> {
        let res = self.post(messages, tools, false).await?;
        let body = res.bytes().await.map_err(|e| self.transport(e))?;
        first_message(&body)
    }

    /// Sends one Chat Completions request; a non-2xx answer is a [`ModelError::Status`].
    async fn post(
        &self,
        messages: &[ChatMessage],
        tools: &Value,
        stream: bool,
    ) -> Result<reqwest::Response, ModelError> {
        let request = ChatRequest {
            model: &self.config.model,
            messages,
            tools,
            tool_choice: "auto",
            stream,
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
        if status.is_success() {
            return Ok(res);
        }
        let body = res.bytes().await.map_err(|e| self.transport(e))?;
        Err(ModelError::Status {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        })
    }

    /// Like [`Self::complete`], with `stream: true`: `on_text` gets the reply's text as the model
    /// produces it. A failure is retried only while nothing has been passed on yet.
    pub async fn complete_streaming(
        &self,
        messages: &[ChatMessage],
        tools: &Value,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ChatMessage, ModelError> {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let mut sent_any = false;
            let mut forward = |t: &str| {
                sent_any = true;
                on_text(t);
            };
            let result = self.once_streaming(messages, tools, &mut forward).await;
            // Text already passed on cannot be taken back: only a silent failure is retried.
            if !self.retry_after(started, &result, &mut attempt, !sent_any).await {
                return result;
            }
        }
    }

    /// Records the request's latency and, for a failure worth retrying (when `allowed`) within the
    /// budget, waits before the next attempt and answers `true`.
    async fn retry_after(
        &self,
        started: Instant,
        result: &Result<ChatMessage, ModelError>,
        attempt: &mut u32,
        allowed: bool,
    ) -> bool {
        let outcome = match result {
            Ok(_) => "ok",
            Err(ModelError::Timeout(_)) => "timeout",
            Err(_) => "error",
        };
        metrics::histogram!("assistant_model_request_duration_seconds", "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        match result {
            Err(e) if allowed && e.retryable() && *attempt < self.config.retries => {
                *attempt += 1;
                tracing::warn!(error = %e, attempt = *attempt, "model request failed; retrying");
                tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(*attempt))).await;
                true
            }
            _ => false,
        }
    }

    async fn once_streaming(
        &self,
        messages: &[ChatMessage],
        tools: &Value,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ChatMessage, ModelError> {
        let mut res = self.post(messages, tools, true).await?;
        let is_sse = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            // A server that ignores `stream` answers with one completion.
            let body = res.bytes().await.map_err(|e| self.transport(e))?;
            let message = first_message(&body)?;
            if let Some(text) = message.content.as_deref().filter(|t| !t.is_empty()) {
                on_text(text);
            }
            return Ok(message);
        }
        let mut assembler = StreamAssembler::default();
        while let Some(chunk) = res.chunk().await.map_err(|e| self.transport(e))? {
            assembler.feed(&chunk, on_text)?;
            if assembler.is_done() {
                break;
            }
        }
        assembler.finish(on_text)
    }

    fn transport(&self, e: reqwest::Error) -> ModelError {
        if e.is_timeout() {
            ModelError::Timeout(self.config.timeout)
        } else {
            ModelError::Unreachable(e.without_url().to_string())
        }
    }
}

/// The first choice's message of a (non-streamed) completion body.
fn first_message(body: &[u8]) -> Result<ChatMessage, ModelError> {
    let parsed: ChatResponse =
        serde_json::from_slice(body).map_err(|e| ModelError::Malformed(e.to_string()))?;
    parsed
        .choices
        .into_iter()
        .next()
        .map(|c| c.message)
        .ok_or_else(|| ModelError::Malformed("no choices".to_owned()))
}
