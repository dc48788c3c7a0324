//! The single binary's bus: the same subscriptions, envelope and outcomes as under Dapr, in memory.
//!
//! Publishing delivers to every subscriber of the topic before it returns, so the relay's per-key
//! order is the order each subscriber sees. Each subscriber gets a bounded number of attempts with
//! exponential backoff; what still fails — or is dropped, or panics — becomes a dead letter handed to
//! its [`DeadLetterSink`] (the database, in the single binary), never silently lost and never retried
//! forever.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::join_all;
use uuid::Uuid;

use crate::dead_letter::{DeadLetter, DeadLetterSink};
use crate::handler::Outcome;
use crate::publisher::{OutgoingEvent, PublishError, PublishFuture, Publisher};
use crate::{Subscription, cloudevent};

/// How often and how patiently a subscriber is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The pause before attempt `attempt + 1` (attempts count from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

#[derive(Clone)]
pub struct InProcessBus {
    subscriptions: Arc<Vec<Subscription>>,
    retry: RetryPolicy,
    dead_letters: Arc<dyn DeadLetterSink>,
}

impl InProcessBus {
    pub fn new(
        subscriptions: Vec<Subscription>,
        retry: RetryPolicy,
        dead_letters: Arc<dyn DeadLetterSink>,
    ) -> Self {
        Self {
            subscriptions: Arc::new(subscriptions),
            retry,
            dead_letters,
        }
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    async fn deliver(&self, sub: &Subscription, event: &OutgoingEvent, bytes: &[u8]) {
        let topic = event.topic.as_str();
        let received = match cloudevent::parse(bytes) {
            Ok(r) => r,
            Err(e) => {
                return self
                    .dead_letter(sub, event, &format!("malformed envelope: {e}"), 0)
                    .await;
            }
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = AssertUnwindSafe(crate::handler::dispatch(sub, &received))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Outcome::Drop("handler panicked".into()));
            metrics::counter!("bus_deliveries_total", "topic" => topic.to_owned(), "subscriber" => sub.subscriber.clone(), "outcome" => outcome.label())
                .increment(1);
            match outcome {
                Outcome::Success => return,
                Outcome::Drop(reason) => return self.dead_letter(sub, event, &reason, attempt).await,
                Outcome::Retry(reason) if attempt >= self.retry.max_attempts => {
                    let why = format!("gave up after {attempt} attempts: {reason}");
                    return self.dead_letter(sub, event, &why, attempt).await;
                }
                Outcome::Retry(reason) => {
                    tracing::debug!(subscriber = %sub.subscriber, topic, attempt, %reason, "retrying delivery");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                }
            }
        }
    }

    async fn dead_letter(&self, sub: &Subscription, event: &OutgoingEvent, reason: &str, attempts: u32) {
        tracing::warn!(subscriber = %sub.subscriber, topic = %event.topic, event_id = %event.cloud_event.id, reason, "event dead-lettered");
        metrics::counter!("bus_dead_letters_total", "topic" => event.topic.clone(), "subscriber" => sub.subscriber.clone())
            .increment(1);
        let letter = DeadLetter {
            event_id: Uuid::parse_str(&event.cloud_event.id).unwrap_or(Uuid::nil()),
            topic: event.topic.clone(),
            subscriber: sub.subscriber.clone(),
            payload: serde_json::to_value(&event.cloud_event).unwrap_or_default(),
            reason: reason.to_owned(),
            attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
            created_at: taskflow_domain::time::now(),
        };
        if let Err(e) = self.dead_letters.record(&letter).await {
            tracing::error!(error = %e, event_id = %letter.event_id, "could not record a dead letter");
        }
    }
}

impl Publisher for InProcessBus {
    fn publish<'a>(&'a self, event: &'a OutgoingEvent) -> PublishFuture<'a> {
        Box::pin(async move {
            // Serialise as the wire would, so subscribers parse exactly what Dapr would deliver.
            let bytes = serde_json::to_vec(&event.cloud_event).map_err(|e| PublishError::Refused {
                status: 400,
                body: e.to_string(),
            })?;
            let deliveries = self
                .subscriptions
                .iter()
                .filter(|s| s.topic == event.topic)
                .map(|s| self.deliver(s, event, &bytes));
            join_all(deliveries).await;
            Ok(())
        })
    }
}
