//! daprd's bulk publish: many events in one request to the sidecar, so the outbox relay's rate is
//! not bounded by one sidecar round trip per event.
//!
//! The contract, as dapr 1.16.19 codes it (`pkg/api/http/http.go` `onBulkPublish`,
//! `pkg/api/http/responses.go`, `utils/utils.go` `PopulateMetadataForBulkPublishEntry`):
//!
//! - `POST /v1.0-alpha1/publish/bulk/{pubsub}/{topic}`, one topic per request, the body a JSON array
//!   of `{entryId, event, contentType, metadata}`. Entry ids must be present and unique (else 400).
//!   An entry's metadata is its own plus the request's — and an entry *without* metadata gets none
//!   of the request's, so the partition key goes on every entry.
//! - An entry of `application/cloudevents+json` is kept as written, as with single publish
//!   ([`super::DaprClient::publish_event`]), its own trace included (`traceid` and `traceparent`;
//!   daprd's per-entry producer spans are children of the request's span, which has no trace of
//!   the write: one request carries many).
//! - 204 when every entry was published. Otherwise an error status (500 for a broker failure)
//!   whose body lists `failedEntries: [{entryId, error}]`: every other entry was published. A
//!   refusal of the whole request (403, 404 for an unknown pub/sub, …) lists none: all failed.
//! - With a component that has no bulk API of its own (Redis Streams, among others) daprd publishes
//!   the entries one by one, in parallel, "in no set order" (`pkg/runtime/pubsub/default_bulkpub.go`).
//!   So a batch must never hold two events whose order matters: the relay sends at most one event
//!   per partition key in a batch ([`crate::Publisher::publish_batch`]).
//! - A daprd older than 1.10, or one whose Configuration's API allow-list has no
//!   `{name: publish, version: v1.0-alpha1}` rule (a `v1.0` rule does not cover it:
//!   `pkg/api/http/endpoints/endpoint.go`), has no such route and answers a plain 404. The client
//!   then publishes one event per request, and tries bulk again after [`BULK_RETRY_AFTER`].

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::DaprClient;
use super::client::{envelope, publish_error, unreachable};
use crate::CloudEvent;
use crate::publisher::{OutgoingEvent, PublishError, Publisher};

/// Entries per request (daprd's own fallback publishes 100 at a time); a larger batch is split into
/// requests sent together.
pub const MAX_ENTRIES: usize = 100;

/// How long the client keeps to single publishes after the sidecar showed it has no bulk API.
pub const BULK_RETRY_AFTER: Duration = Duration::from_secs(300);

const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    entry_id: String,
    event: CloudEvent,
    content_type: &'static str,
    metadata: EntryMetadata<'a>,
}

#[derive(Serialize)]
struct EntryMetadata<'a> {
    #[serde(rename = "partitionKey")]
    partition_key: &'a str,
}

/// `BulkPublishResponse` (responses.go).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct BulkResponse {
    #[serde(default)]
    failed_entries: Option<Vec<FailedEntry>>,
    #[serde(default)]
    error_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FailedEntry {
    entry_id: String,
    #[serde(default)]
    error: Option<String>,
}

/// Whether the sidecar has the bulk API: assumed until it answers that it has not.
#[derive(Debug, Default)]
pub(super) struct BulkSupport {
    off_since: Mutex<Option<Instant>>,
}

impl BulkSupport {
    pub(super) fn available(&self) -> bool {
        self.off_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|since| since.elapsed() >= BULK_RETRY_AFTER)
    }

    fn set(&self, off: bool) {
        let mut state = self.off_since.lock().unwrap_or_else(PoisonError::into_inner);
        if off && state.is_none_or(|since| since.elapsed() >= BULK_RETRY_AFTER) {
            tracing::warn!(
                retry_after = ?BULK_RETRY_AFTER,
                "the Dapr sidecar has no bulk publish API (daprd before 1.10, or a Configuration whose API \
                 allow-list lacks publish v1.0-alpha1): publishing one event per request"
            );
            *state = Some(Instant::now());
        } else if !off && state.is_some() {
            tracing::info!("the Dapr sidecar's bulk publish API answers again");
            *state = None;
        }
    }
}

/// One request's outcome: `None` when the sidecar has no bulk route.
type ChunkOutcome = Option<Vec<Result<(), PublishError>>>;

impl DaprClient {
    /// Publishes `events` (pairwise different partition keys), one bulk request per topic and
    /// [`MAX_ENTRIES`], all at once; a lone event of its topic goes as a single publish. Outcomes
    /// come back in the order of `events`.
    pub async fn publish_events(&self, events: &[OutgoingEvent]) -> Vec<Result<(), PublishError>> {
        if !self.bulk.available() {
            return join_all(events.iter().map(|e| self.publish(e))).await;
        }
        let mut by_topic: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, event) in events.iter().enumerate() {
            match by_topic.iter_mut().find(|(topic, _)| *topic == event.topic) {
                Some((_, indices)) => indices.push(i),
                None => by_topic.push((event.topic.as_str(), vec![i])),
            }
        }
        let chunks: Vec<(&str, &[usize])> = by_topic
            .iter()
            .flat_map(|(topic, indices)| indices.chunks(MAX_ENTRIES).map(move |c| (*topic, c)))
            .collect();
        let outcomes = join_all(chunks.iter().map(|&(topic, indices)| async move {
            if let [only] = indices {
                return Some(vec![self.publish(&events[*only]).await]);
            }
            let chunk: Vec<&OutgoingEvent> = indices.iter().map(|&i| &events[i]).collect();
            self.publish_bulk(topic, &chunk).await
        }))
        .await;

        let mut results: Vec<Option<Result<(), PublishError>>> = events.iter().map(|_| None).collect();
        let mut without_bulk = Vec::new();
        let mut bulk_answered = false;
        for ((_, indices), outcome) in chunks.iter().zip(outcomes) {
            match outcome {
                Some(outcomes) => {
                    bulk_answered |= indices.len() > 1;
                    for (&i, outcome) in indices.iter().zip(outcomes) {
                        results[i] = Some(outcome);
                    }
                }
                None => without_bulk.extend_from_slice(indices),
            }
        }
        if !without_bulk.is_empty() {
            self.bulk.set(true);
            let singles = join_all(without_bulk.iter().map(|&i| self.publish(&events[i]))).await;
            for (&i, outcome) in without_bulk.iter().zip(singles) {
                results[i] = Some(outcome);
            }
        } else if bulk_answered {
            self.bulk.set(false);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(PublishError::Unavailable("no outcome for the event".into()))))
            .collect()
    }

    /// One bulk request for `events` of `topic`: each event's outcome, or `None` when the sidecar
    /// has no bulk route (a 404 without daprd's `errorCode`: chi's "404 page not found").
    async fn publish_bulk(&self, topic: &str, events: &[&OutgoingEvent]) -> ChunkOutcome {
        let entries: Vec<Entry<'_>> = events
            .iter()
            .enumerate()
            .map(|(i, event)| Entry {
                entry_id: i.to_string(),
                event: envelope(event),
                content_type: CLOUDEVENTS_JSON,
                metadata: EntryMetadata {
                    partition_key: &event.partition_key,
                },
            })
            .collect();
        let all = |e: PublishError| -> ChunkOutcome { Some(events.iter().map(|_| Err(e.clone())).collect()) };
        let path = format!("/v1.0-alpha1/publish/bulk/{}/{topic}", self.config().pubsub);
        let res = match self
            .request(reqwest::Method::POST, &path)
            .json(&entries)
            .send()
            .await
        {
            Ok(res) => res,
            Err(e) => return all(publish_error(unreachable(e))),
        };
        let status = res.status();
        if status == StatusCode::NO_CONTENT || status == StatusCode::OK {
            return Some(events.iter().map(|_| Ok(())).collect());
        }
        // Read whole: a long list of failed entries must not be cut.
        let body = match res.text().await {
            Ok(body) => body,
            Err(e) => return all(publish_error(unreachable(e))),
        };
        let parsed: BulkResponse = serde_json::from_str(&body).unwrap_or_default();
        if status == StatusCode::NOT_FOUND && parsed.error_code.is_none() {
            return None;
        }
        let code = status.as_u16();
        let failed = parsed.failed_entries.unwrap_or_default();
        if failed.is_empty() {
            return all(PublishError::Refused {
                status: code,
                body: body.chars().take(500).collect(),
            });
        }
        Some(
            (0..events.len())
                .map(|i| {
                    let id = i.to_string();
                    match failed.iter().find(|f| f.entry_id == id) {
                        Some(f) => Err(PublishError::Refused {
                            status: code,
                            body: f
                                .error
                                .clone()
                                .unwrap_or_else(|| "failed entry of a bulk publish".into()),
                        }),
                        None => Ok(()),
                    }
                })
                .collect(),
        )
    }
}
