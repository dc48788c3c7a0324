//! Calls from the app to its sidecar: publish, state, health.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use taskflow_runtime::config::{self, ConfigError};

use super::bulk::BulkSupport;
use crate::CloudEvent;
use crate::idempotency::{Claim, ClaimFuture, DONE, IdempotencyError, IdempotencyStore, PENDING};
use crate::publisher::{BatchFuture, OutgoingEvent, PublishError, PublishFuture, Publisher};

/// Where the sidecar is and which components to use.
#[derive(Debug, Clone)]
pub struct DaprConfig {
    pub host: String,
    pub http_port: u16,
    /// Sent as `dapr-api-token` on every call when set (`DAPR_API_TOKEN`).
    pub api_token: Option<String>,
    pub pubsub: String,
    pub state_store: String,
}

impl DaprConfig {
    /// `DAPR_HOST` (127.0.0.1), `DAPR_HTTP_PORT` (3500), `DAPR_API_TOKEN`, `DAPR_PUBSUB_NAME` (pubsub),
    /// `DAPR_STATE_STORE` (statestore).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            host: config::var("DAPR_HOST").unwrap_or_else(|| "127.0.0.1".into()),
            http_port: config::parse_or("DAPR_HTTP_PORT", 3500)?,
            api_token: super::dapr_api_token_from_env()?,
            pubsub: config::var("DAPR_PUBSUB_NAME").unwrap_or_else(|| "pubsub".into()),
            state_store: config::var("DAPR_STATE_STORE").unwrap_or_else(|| "statestore".into()),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaprError {
    #[error("sidecar unreachable: {0}")]
    Unreachable(String),
    #[error("sidecar answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("etag mismatch")]
    EtagMismatch,
}

/// One entry of a state save.
#[derive(Debug, Clone, Serialize)]
pub struct StateItem {
    pub key: String,
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub options: Value,
    pub metadata: Value,
}

#[derive(Clone)]
pub struct DaprClient {
    base: String,
    config: DaprConfig,
    http: reqwest::Client,
    /// Whether the sidecar has the bulk publish API (shared by clones).
    pub(super) bulk: Arc<BulkSupport>,
}

pub(super) fn unreachable(e: reqwest::Error) -> DaprError {
    DaprError::Unreachable(e.to_string())
}

async fn status_error(res: reqwest::Response) -> DaprError {
    let status = res.status().as_u16();
    let body = res.text().await.unwrap_or_default().chars().take(500).collect();
    DaprError::Status { status, body }
}

impl DaprClient {
    pub fn new(config: DaprConfig) -> Result<Self, DaprError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(unreachable)?;
        Ok(Self {
            base: format!("http://{}:{}", config.host, config.http_port),
            config,
            http,
            bulk: Arc::default(),
        })
    }

    pub fn config(&self) -> &DaprConfig {
        &self.config
    }

    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.config.api_token {
            Some(token) => req.header("dapr-api-token", token),
            None => req,
        }
    }

    /// `true` once the sidecar's outbound components (pub/sub, state) are ready.
    pub async fn is_ready(&self) -> bool {
        self.request(reqwest::Method::GET, "/v1.0/healthz/outbound")
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Waits until the sidecar is ready, up to `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.is_ready().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        false
    }

    /// Publishes `event` as a whole CloudEvent (`application/cloudevents+json`), with its partition
    /// key carried as metadata.
    ///
    /// daprd 1.16 keeps an envelope sent this way (components-contrib `pubsub/envelope.go`
    /// `FromCloudEvent`): id, source, type, `subject`, `time` and `data` arrive as written, and it
    /// adds only `topic`, `pubsubname` and the trace attributes that are missing. Sent as
    /// `application/json` instead, daprd builds the envelope itself and ignores
    /// `metadata.cloudevent.subject` (dapr `pkg/runtime/pubsub/cloudevents.go` honours only id,
    /// source, type, traceid, tracestate and traceparent), so the task id would be lost.
    pub async fn publish_event(&self, event: &OutgoingEvent) -> Result<(), DaprError> {
        let path = format!("/v1.0/publish/{}/{}", self.config.pubsub, event.topic);
        let envelope = envelope(event);
        let body = serde_json::to_vec(&envelope).map_err(|e| DaprError::Status {
            status: 400,
            body: e.to_string(),
        })?;
        let mut req = self
            .request(reqwest::Method::POST, &path)
            .query(&[("metadata.partitionKey", event.partition_key.as_str())])
            .header("content-type", "application/cloudevents+json");
        // daprd's publish span continues the trace from this header.
        if let Some(tp) = envelope.traceparent.as_deref() {
            req = req.header("traceparent", tp);
        }
        let res = req.body(body).send().await.map_err(unreachable)?;
        if res.status() == StatusCode::NO_CONTENT || res.status() == StatusCode::OK {
            Ok(())
        } else {
            Err(status_error(res).await)
        }
    }

    /// `GET`s `method` (a path with its query, percent-encoded by the caller) of app `app_id`
    /// through the sidecar's service invocation (`/v1.0/invoke/{app_id}/method/{method}`), waiting
    /// at most `timeout`. A 200 from the app is its body; anything else (the app's own error, or
    /// daprd's `ERR_DIRECT_INVOKE` when it cannot reach the app) is an error.
    pub async fn invoke_get(
        &self,
        app_id: &str,
        method: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, DaprError> {
        let path = format!("/v1.0/invoke/{app_id}/method/{}", method.trim_start_matches('/'));
        let mut req = self.request(reqwest::Method::GET, &path).timeout(timeout);
        // The callee's sidecar continues the caller's trace.
        if let Some(trace) = taskflow_trace::current() {
            req = req.header("traceparent", trace.header());
        }
        let res = req.send().await.map_err(unreachable)?;
        if res.status() != StatusCode::OK {
            return Err(status_error(res).await);
        }
        Ok(res.bytes().await.map_err(unreachable)?.to_vec())
    }

    /// A state entry and its etag; `None` when the key does not exist.
    pub async fn get_state(&self, key: &str) -> Result<Option<(Value, Option<String>)>, DaprError> {
        let path = format!("/v1.0/state/{}/{}", self.config.state_store, urlencode(key));
        let res = self
            .request(reqwest::Method::GET, &path)
            .send()
            .await
            .map_err(unreachable)?;
        match res.status() {
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(None),
            StatusCode::OK => {
                let etag = res
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = res.bytes().await.map_err(unreachable)?;
                let value = serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
                Ok(Some((value, etag)))
            }
            _ => Err(status_error(res).await),
        }
    }

    pub async fn save_state(&self, items: &[StateItem]) -> Result<(), DaprError> {
        let path = format!("/v1.0/state/{}", self.config.state_store);
        let res = self
            .request(reqwest::Method::POST, &path)
            .json(items)
            .send()
            .await
            .map_err(unreachable)?;
        match res.status() {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT => Err(DaprError::EtagMismatch),
            _ => Err(status_error(res).await),
        }
    }

    pub async fn delete_state(&self, key: &str) -> Result<(), DaprError> {
        let path = format!("/v1.0/state/{}/{}", self.config.state_store, urlencode(key));
        let res = self
            .request(reqwest::Method::DELETE, &path)
            .send()
            .await
            .map_err(unreachable)?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(status_error(res).await)
        }
    }

    /// Set-if-absent with a TTL: `etag "0"` with first-write concurrency. `false` if the key exists.
    pub async fn set_if_absent(&self, key: &str, value: Value, ttl: Duration) -> Result<bool, DaprError> {
        self.replace_if(key, "0", value, ttl).await
    }

    /// Saves `value` only if the key's etag is still `etag` (first-write concurrency); `false` when it
    /// changed. With the Redis state store this is the only save a first-write key accepts again
    /// (components-contrib `state/redis/redis.go`, `setDefaultQuery`): saved without an etag daprd
    /// answers 500, and with an etag but last-write concurrency the etag is ignored and it answers 409.
    pub async fn replace_if(
        &self,
        key: &str,
        etag: &str,
        value: Value,
        ttl: Duration,
    ) -> Result<bool, DaprError> {
        let item = StateItem {
            key: key.to_owned(),
            value,
            etag: Some(etag.to_owned()),
            options: json!({"concurrency": "first-write", "consistency": "strong"}),
            metadata: json!({"ttlInSeconds": ttl.as_secs().max(1).to_string()}),
        };
        match self.save_state(std::slice::from_ref(&item)).await {
            Ok(()) => Ok(true),
            Err(DaprError::EtagMismatch) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The CloudEvent as the sidecar gets it: whole, with its trace under both names. daprd fills
/// `traceid` (its older name for the same value) only when it is absent; set both so consumers
/// reading either see the trace of the write.
pub(super) fn envelope(event: &OutgoingEvent) -> CloudEvent {
    let mut envelope = event.cloud_event.clone();
    if let Some(tp) = envelope.traceparent.clone() {
        envelope.extensions.insert("traceid".into(), Value::String(tp));
    }
    envelope
}

fn urlencode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A sidecar's refusal is the broker's; anything else means it could not be reached.
pub(super) fn publish_error(e: DaprError) -> PublishError {
    match e {
        DaprError::Status { status, body } => PublishError::Refused { status, body },
        other => PublishError::Unavailable(other.to_string()),
    }
}

impl Publisher for DaprClient {
    fn publish<'a>(&'a self, event: &'a OutgoingEvent) -> PublishFuture<'a> {
        Box::pin(async move { self.publish_event(event).await.map_err(publish_error) })
    }

    fn ready(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>> {
        Box::pin(self.is_ready())
    }

    /// Until the sidecar answers that it has no bulk API (see [`super::bulk`]).
    fn batches(&self) -> bool {
        self.bulk.available()
    }

    fn publish_batch<'a>(&'a self, events: &'a [OutgoingEvent]) -> BatchFuture<'a> {
        Box::pin(self.publish_events(events))
    }
}

/// Idempotency keys in the Dapr state store.
pub struct DaprStateIdempotency(pub DaprClient);

fn state_error(e: DaprError) -> IdempotencyError {
    IdempotencyError(e.to_string())
}

impl IdempotencyStore for DaprStateIdempotency {
    /// Reads the key before claiming it: a redelivery of a claimed event is answered from the read,
    /// without a refused first-write save. daprd counts a refused save (409) as a failure of the
    /// state store, so a burst of redeliveries answered by 409s would open the state store's
    /// circuit breaker (dapr `pkg/resiliency/policy.go` runs every attempt inside the breaker).
    /// Only two deliveries of one event racing each other still meet a 409.
    fn claim<'a>(&'a self, key: &'a str, lease: Duration) -> ClaimFuture<'a, Claim> {
        Box::pin(async move {
            let existing = |value: Option<Value>| {
                if value == Some(json!(DONE)) {
                    Claim::Done
                } else {
                    Claim::InProgress
                }
            };
            if let Some((value, _)) = self.0.get_state(key).await.map_err(state_error)? {
                return Ok(existing(Some(value)));
            }
            if self
                .0
                .set_if_absent(key, json!(PENDING), lease)
                .await
                .map_err(state_error)?
            {
                return Ok(Claim::Acquired);
            }
            let value = self.0.get_state(key).await.map_err(state_error)?.map(|(v, _)| v);
            Ok(existing(value))
        })
    }

    /// Replaces this delivery's claim with "done", carrying the claim's etag: the claim was saved
    /// with first-write, so the store accepts no other save of the key (see
    /// [`DaprClient::replace_if`]). A changed etag means the lease ran out and another delivery
    /// claimed the key: that delivery records the outcome.
    fn complete<'a>(&'a self, key: &'a str, ttl: Duration) -> ClaimFuture<'a, ()> {
        Box::pin(async move {
            let etag = match self.0.get_state(key).await.map_err(state_error)? {
                Some((value, _)) if value == json!(DONE) => return Ok(()),
                Some((_, Some(etag))) => etag,
                Some((_, None)) => return Err(IdempotencyError("the state store returned no etag".into())),
                // The lease expired before the effect finished: claim the key as done afresh.
                None => "0".to_owned(),
            };
            if self
                .0
                .replace_if(key, &etag, json!(DONE), ttl)
                .await
                .map_err(state_error)?
            {
                Ok(())
            } else {
                Err(IdempotencyError(
                    "lease lost: another delivery claimed the key before this one finished".into(),
                ))
            }
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> ClaimFuture<'a, ()> {
        Box::pin(async move { self.0.delete_state(key).await.map_err(state_error) })
    }
}

/// `/ready`: the sidecar answers and its components are up.
pub struct SidecarCheck(pub DaprClient);

impl taskflow_runtime::health::ReadinessCheck for SidecarCheck {
    fn name(&self) -> &'static str {
        "sidecar"
    }

    fn check(&self) -> taskflow_runtime::health::CheckFuture<'_> {
        Box::pin(async move {
            if self.0.is_ready().await {
                Ok("ok".into())
            } else {
                Err("Dapr sidecar not ready".into())
            }
        })
    }
}
