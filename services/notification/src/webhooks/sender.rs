//! The sender half: attempts due deliveries, one at a time per endpoint and in the order recorded,
//! signing each attempt afresh (`webhook-timestamp` is the attempt's).
//!
//! A 2xx delivers. Anything else is retried on the schedule ([`WebhookConfig::retry_schedule`], plus
//! up to 10 % jitter) until it runs out, then the delivery is `failed` and the endpoint's next one
//! goes. A receiver that answers 429 or 503 with `Retry-After` (seconds or an HTTP date, RFC 9110
//! §10.2.3) is not tried again before then, up to [`MAX_RETRY_AFTER`]. A 410 disables the endpoint at once; an endpoint failing for
//! [`WebhookConfig::disable_after`] is disabled too; either way its owner gets an inbox notification.
//! A claim (the row's due time moved past the attempt) keeps overlapping senders from sending the
//! same attempt twice.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::join_all;
use rand::Rng;
use reqwest::{StatusCode, Url, redirect};
use taskflow_domain::time;
use taskflow_store::{Attempt, DELIVERED, DueDelivery, FAILED, PENDING, Store, WebhookTarget};
use tokio::sync::{Notify, watch};

use super::config::WebhookConfig;
use super::guard::{self, GuardedResolver};
use super::signature;

/// Response bytes read (and discarded) from a receiver, at most.
const RESPONSE_CAP: usize = 4096;
/// Endpoints served per pass.
const BATCH: u64 = 100;
/// The longest `Retry-After` honoured: a receiver cannot park a delivery for longer.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// What one attempt came to.
struct Outcome {
    status_code: Option<u16>,
    error: Option<String>,
    duration_ms: i64,
    /// How long the receiver asked to be left alone (a 429's or 503's `Retry-After`).
    retry_after: Option<Duration>,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

pub struct WebhookSender {
    store: Store,
    client: reqwest::Client,
    config: WebhookConfig,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl WebhookSender {
    pub fn new(store: Store, config: WebhookConfig) -> Result<Self, SenderError> {
        let mut builder = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent("TaskFlow-Webhooks/1");
        if !config.allow_private_networks {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            store,
            client: builder.build()?,
            config,
        })
    }

    /// Attempts everything due until nothing is; returns the attempts made.
    pub async fn run_once(&self) -> Result<usize, String> {
        let mut attempts = 0;
        // A success makes the endpoint's next delivery due at once: go round again, a bounded
        // number of times, so one pass cannot run forever.
        for _ in 0..50 {
            let now = time::now();
            let due = self
                .store
                .webhook_deliveries()
                .due(now, BATCH)
                .await
                .map_err(|e| e.to_string())?;
            if due.is_empty() {
                break;
            }
            let made = join_all(due.into_iter().map(|d| self.attempt(d))).await;
            let made = made.into_iter().filter(|m| *m).count();
            attempts += made;
            if made == 0 {
                break;
            }
        }
        Ok(attempts)
    }

    /// Runs passes whenever `wake` fires or the poll interval passes, until `stop` says so.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        loop {
            // A stop ends a pass half-way: an attempt cut short keeps its claim until the claim
            // lapses, and is made again then (receivers drop the duplicate by its `webhook-id`).
            tokio::select! {
                passed = self.run_once() => {
                    if let Err(e) = passed {
                        tracing::warn!(error = %e, "webhook pass failed; retrying");
                    }
                }
                _ = stop.changed() => return,
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                // Told to stop, or the one who could tell is gone.
                _ = stop.changed() => return,
            }
        }
    }

    /// One attempt at `d`; `false` when there was nothing to attempt (taken by another sender,
    /// endpoint gone or paused).
    async fn attempt(&self, d: DueDelivery) -> bool {
        let now = time::now();
        let target = match self.store.webhooks().target(d.endpoint_id, now).await {
            Ok(Some(t)) if t.enabled => t,
            Ok(_) => return false,
            Err(e) => {
                tracing::warn!(delivery_id = %d.id, error = %e, "cannot read a webhook endpoint");
                return false;
            }
        };
        let lease = now + delta(self.config.timeout) + TimeDelta::seconds(30);
        match self.store.webhook_deliveries().claim(&d, lease).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(delivery_id = %d.id, error = %e, "cannot claim a webhook delivery");
                return false;
            }
        }
        let outcome = self.send(&target, &d).await;
        if let Err(e) = self.record(&target, &d, &outcome).await {
            // The claim lapses and the attempt is made again.
            tracing::warn!(delivery_id = %d.id, error = %e, "cannot record a webhook attempt");
        }
        true
    }

    async fn send(&self, target: &WebhookTarget, d: &DueDelivery) -> Outcome {
        let started = Instant::now();
        let elapsed = |started: Instant| i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let failed = |error: String| Outcome {
            status_code: None,
            error: Some(error),
            duration_ms: elapsed(started),
            retry_after: None,
        };
        let url = match Url::parse(&target.url) {
            Ok(url) => url,
            Err(e) => return failed(format!("invalid URL: {e}")),
        };
        if !self.config.allow_private_networks
            && let Some(ip) = literal_ip(&url)
            && let Some(why) = guard::forbidden(ip)
        {
            let refusal = guard::refusal(ip, why);
            tracing::warn!(endpoint_id = %target.id, error = %refusal, "webhook refused");
            return failed(refusal);
        }
        let timestamp = time::now().timestamp();
        let signature = match signature::header(&target.secrets, &d.webhook_id, timestamp, &d.payload) {
            Ok(s) => s,
            Err(e) => return failed(e.to_string()),
        };
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.payload.clone())
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => return failed(error_chain(&e)),
        };
        let status = response.status();
        let retry_after = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        )
        .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, time::now()));
        // Read a little of the body (the connection can then be reused), never more.
        let mut read = 0;
        while read < RESPONSE_CAP {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Outcome {
            status_code: Some(status.as_u16()),
            error: (!status.is_success()).then(|| format!("the receiver answered {status}")),
            duration_ms: elapsed(started),
            retry_after,
        }
    }

    async fn record(&self, target: &WebhookTarget, d: &DueDelivery, outcome: &Outcome) -> Result<(), String> {
        let now = time::now();
        let attempts = usize::try_from(d.attempts).unwrap_or(0) + 1;
        let (status, next) = if outcome.delivered() {
            (DELIVERED, None)
        } else if outcome.status_code == Some(StatusCode::GONE.as_u16()) {
            (FAILED, None)
        } else {
            match self.config.retry_schedule.get(attempts - 1) {
                Some(delay) => {
                    let wait = outcome.retry_after.map_or(*delay, |asked| asked.max(*delay));
                    (PENDING, Some(now + delta(wait) + jitter(*delay)))
                }
                None => (FAILED, None),
            }
        };
        let attempt = Attempt {
            status,
            status_code: outcome.status_code,
            error: outcome.error.as_deref(),
            duration_ms: outcome.duration_ms,
            next_attempt_at: next,
            at: now,
        };
        let gone = outcome.status_code == Some(StatusCode::GONE.as_u16());
        if gone {
            // Before the log says `failed`, so whoever reads that sees the endpoint disabled.
            self.disable(target, "gone", "answered 410 Gone", now).await?;
        }
        let deliveries = self.store.webhook_deliveries();
        deliveries
            .record_attempt(d.id, &attempt)
            .await
            .map_err(|e| e.to_string())?;
        metrics::counter!("webhook_attempts_total", "status" => status).increment(1);
        if outcome.delivered() {
            tracing::info!(endpoint_id = %target.id, webhook_id = %d.webhook_id, attempts, "webhook delivered");
        } else {
            tracing::warn!(endpoint_id = %target.id, webhook_id = %d.webhook_id, attempts, status,
                error = outcome.error.as_deref().unwrap_or(""), "webhook attempt failed");
        }
        let webhooks = self.store.webhooks();
        let failing_since = webhooks
            .record_outcome(target.id, outcome.delivered(), now)
            .await
            .map_err(|e| e.to_string())?;
        if !gone
            && let Some(since) = failing_since
            && now - since >= delta(self.config.disable_after)
        {
            self.disable(target, "failing", "has failed every delivery for a day", now)
                .await?;
        }
        Ok(())
    }

    async fn disable(
        &self,
        target: &WebhookTarget,
        reason: &str,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let message = format!(
            "Your webhook to {} {what}, so it was disabled. Fix it, then re-enable it (PATCH with \"enabled\": true) and replay what it missed from its delivery log.",
            target.url
        );
        let disabled = self
            .store
            .webhooks()
            .disable(target.id, reason, &message, now)
            .await
            .map_err(|e| e.to_string())?;
        if disabled {
            tracing::warn!(endpoint_id = %target.id, user_id = %target.user_id, reason, "webhook endpoint disabled");
        }
        Ok(())
    }
}

/// The host of `url` when it is an IP address (no resolver sees those).
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date, at most [`MAX_RETRY_AFTER`]; `None` when
/// it is neither (or already past).
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
            (at - now).to_std().ok()?
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Up to 10 % of `delay`, at random, so retries of many deliveries spread out.
fn jitter(delay: Duration) -> TimeDelta {
    let max = delay.as_millis() / 10;
    if max == 0 {
        return TimeDelta::zero();
    }
    let ms = rand::rng().random_range(0..=u64::try_from(max).unwrap_or(u64::MAX));
    TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(0))
}

/// An error with its causes: reqwest's own message ("error sending request") hides the reason.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date_and_is_bounded() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Mon, 07 Dec 2026 10:05:00 GMT", now),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            retry_after("Mon, 07 Dec 2026 09:00:00 GMT", now),
            None,
            "already past"
        );
        assert_eq!(retry_after("9999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
