//! The sidecar adapter against a recording stand-in: exactly what goes over the wire.

use std::time::Duration;

use serde_json::json;
use taskflow_bus::dapr::{DaprClient, DaprStateIdempotency};
use taskflow_bus::idempotency::{Claim, IdempotencyStore};

use crate::support::FakeSidecar;

#[tokio::test]
async fn set_if_absent_uses_etag_zero_first_write_and_a_ttl() {
    let sidecar = FakeSidecar::start().await;
    let client = DaprClient::new(sidecar.config(None)).unwrap();
    assert!(
        client
            .set_if_absent("audit:e1", json!(1), Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        !client
            .set_if_absent("audit:e1", json!(1), Duration::from_secs(60))
            .await
            .unwrap()
    );
    let saves: Vec<_> = sidecar
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/v1.0/state/statestore")
        .cloned()
        .collect();
    assert_eq!(saves.len(), 2);
    let item = &saves[0].body[0];
    assert_eq!(item["key"], "audit:e1");
    assert_eq!(item["etag"], "0");
    assert_eq!(item["options"]["concurrency"], "first-write");
    assert_eq!(item["metadata"]["ttlInSeconds"], "60");
    assert!(
        !saves[0].headers.contains_key("dapr-api-token"),
        "no token configured, none sent"
    );
}

#[tokio::test]
async fn state_get_distinguishes_missing_from_present() {
    let sidecar = FakeSidecar::start().await;
    let client = DaprClient::new(sidecar.config(Some("t0ken"))).unwrap();
    assert_eq!(client.get_state("nothing").await.unwrap(), None);
    client
        .set_if_absent("k", json!({"v": 1}), Duration::from_secs(5))
        .await
        .unwrap();
    let (value, etag) = client.get_state("k").await.unwrap().unwrap();
    assert_eq!(value, json!({"v": 1}));
    assert_eq!(etag.as_deref(), Some("1"));
    client.delete_state("k").await.unwrap();
    assert_eq!(client.get_state("k").await.unwrap(), None);
    assert!(
        sidecar
            .requests
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.headers.get("dapr-api-token").map(String::as_str) == Some("t0ken"))
    );
}

#[tokio::test]
async fn dapr_state_backs_the_idempotency_guard() {
    let sidecar = FakeSidecar::start().await;
    let keys = DaprStateIdempotency(DaprClient::new(sidecar.config(None)).unwrap());
    let lease = Duration::from_secs(60);
    assert_eq!(keys.claim("recurring:e9", lease).await.unwrap(), Claim::Acquired);
    assert_eq!(
        keys.claim("recurring:e9", lease).await.unwrap(),
        Claim::InProgress
    );
    keys.complete("recurring:e9", Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(keys.claim("recurring:e9", lease).await.unwrap(), Claim::Done);
    let done = sidecar
        .requests
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.body[0]["value"] == "done")
        .cloned()
        .unwrap();
    assert_eq!(done.path, "/v1.0/state/statestore");
    // The claim was saved with first-write: only a save carrying its etag, again with first-write,
    // is accepted for that key from then on.
    assert_eq!(done.body[0]["etag"], "1", "completing replaces the claim it read");
    assert_eq!(done.body[0]["options"]["concurrency"], "first-write");
    assert_eq!(done.body[0]["metadata"]["ttlInSeconds"], "3600");
    // Redeliveries are answered from a read: no save was refused, so none counts toward the
    // sidecar's circuit breaker.
    assert_eq!(sidecar.state_refusals(), vec![]);
    keys.release("recurring:e9").await.unwrap();
    assert_eq!(keys.claim("recurring:e9", lease).await.unwrap(), Claim::Acquired);
}

#[tokio::test]
async fn a_delivery_that_outlived_its_lease_still_records_done_but_a_stale_etag_is_refused() {
    let sidecar = FakeSidecar::start().await;
    let client = DaprClient::new(sidecar.config(None)).unwrap();
    let keys = DaprStateIdempotency(client.clone());
    let lease = Duration::from_secs(60);
    assert_eq!(keys.claim("audit:e2", lease).await.unwrap(), Claim::Acquired);
    // The lease ran out and another delivery claimed the key (the Redis TTL removed it, then a new
    // set-if-absent wrote it): its etag is no longer the one the first delivery would read.
    sidecar.state.lock().unwrap().keys.remove("audit:e2");
    assert!(
        client
            .set_if_absent("audit:e2", json!("pending"), lease)
            .await
            .unwrap()
    );
    let (_, etag) = client.get_state("audit:e2").await.unwrap().unwrap();
    assert!(
        client
            .replace_if("audit:e2", &etag.unwrap(), json!("pending"), lease)
            .await
            .unwrap()
    );
    // The first delivery reads the current etag and replaces it — the newer claim's outcome would be
    // the same effect — but a save racing in between is refused with 409, reported as a lost lease.
    let stale = client
        .replace_if("audit:e2", "1", json!("done"), lease)
        .await
        .unwrap();
    assert!(!stale, "a stale etag is refused");
    keys.complete("audit:e2", Duration::from_secs(60)).await.unwrap();
    assert_eq!(keys.claim("audit:e2", lease).await.unwrap(), Claim::Done);
}

/// The stand-in is as strict as the Redis state store: these are the saves daprd refuses.
#[tokio::test]
async fn the_state_store_refuses_what_redis_refuses() {
    let sidecar = FakeSidecar::start().await;
    let client = DaprClient::new(sidecar.config(None)).unwrap();
    let save = |body: serde_json::Value| {
        let port = sidecar.port;
        async move {
            reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}/v1.0/state/statestore"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert!(
        client
            .set_if_absent("k", json!("pending"), Duration::from_secs(60))
            .await
            .unwrap()
    );
    // What the idempotency guard used to send to mark a claim done: no etag, last-write → 500.
    assert_eq!(
        save(json!([{"key": "k", "value": "done", "options": {"concurrency": "last-write"}}])).await,
        500
    );
    // An etag with last-write concurrency is ignored (parseETag), so it is refused too: 409.
    assert_eq!(
        save(json!([{"key": "k", "value": "done", "etag": "1", "options": {"concurrency": "last-write"}}]))
            .await,
        409
    );
    assert_eq!(
        save(json!([{"key": "k", "value": "done", "etag": "7", "options": {"concurrency": "first-write"}}]))
            .await,
        409
    );
    assert_eq!(
        save(json!([{"key": "k", "value": "done", "etag": "x", "options": {"concurrency": "first-write"}}]))
            .await,
        400
    );
    assert_eq!(
        save(json!([{"key": "k", "value": "done", "etag": "1", "options": {"concurrency": "first-write"}}]))
            .await,
        204
    );
    let (value, etag) = client.get_state("k").await.unwrap().unwrap();
    assert_eq!((value, etag.as_deref()), (json!("done"), Some("2")));
    // A key never saved with first-write can be overwritten without an etag.
    assert_eq!(save(json!([{"key": "plain", "value": 1}])).await, 204);
    assert_eq!(save(json!([{"key": "plain", "value": 2}])).await, 204);
}

#[tokio::test]
async fn readiness_follows_the_sidecars_outbound_health() {
    let sidecar = FakeSidecar::start().await;
    let client = DaprClient::new(sidecar.config(None)).unwrap();
    assert!(client.is_ready().await);
    sidecar.set_down(true);
    assert!(!client.is_ready().await);
    let nowhere = DaprClient::new(taskflow_bus::dapr::DaprConfig {
        http_port: 1,
        ..sidecar.config(None)
    })
    .unwrap();
    assert!(!nowhere.is_ready().await);
    assert!(
        nowhere
            .set_if_absent("k", json!(1), Duration::from_secs(1))
            .await
            .is_err()
    );
}

fn outgoing(topic: &str, key: &str, id: &str) -> taskflow_bus::OutgoingEvent {
    let mut cloud_event = taskflow_bus::CloudEvent::for_outbox_payload(
        topic,
        id,
        json!({"task": {"id": format!("task-{id}")}}),
        "backend-api",
    );
    cloud_event.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    taskflow_bus::OutgoingEvent {
        topic: topic.into(),
        partition_key: key.into(),
        cloud_event,
    }
}

#[tokio::test]
async fn a_batch_goes_as_one_bulk_request_per_topic_and_failed_entries_come_back_as_failures() {
    use taskflow_bus::Publisher;
    let sidecar = FakeSidecar::start().await;
    sidecar.enable_bulk(&["e2".to_owned()]);
    let client = DaprClient::new(sidecar.config(Some("t0ken"))).unwrap();
    assert!(client.batches());
    let events = [
        outgoing("task-created", "alice", "e1"),
        outgoing("task-updated", "carol", "e4"),
        outgoing("task-created", "bob", "e2"),
        outgoing("task-created", "dave", "e3"),
    ];
    let results = client.publish_batch(&events).await;
    let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, true, false, true], "{results:?}");
    assert!(matches!(
        &results[2],
        Err(taskflow_bus::PublishError::Refused { status: 500, .. })
    ));

    let requests = sidecar.requests.lock().unwrap().clone();
    let bulk: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/v1.0-alpha1/"))
        .collect();
    assert_eq!(bulk.len(), 1, "one request for task-created's three events");
    assert_eq!(bulk[0].path, "/v1.0-alpha1/publish/bulk/pubsub/task-created");
    assert_eq!(bulk[0].headers["dapr-api-token"], "t0ken");
    let entries = bulk[0].body.as_array().unwrap();
    let keys: Vec<&str> = entries
        .iter()
        .map(|e| e["metadata"]["partitionKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["alice", "bob", "dave"]);
    let entry_ids: Vec<&str> = entries.iter().map(|e| e["entryId"].as_str().unwrap()).collect();
    assert_eq!(entry_ids, ["0", "1", "2"]);
    let event = &entries[0]["event"];
    assert_eq!(entries[0]["contentType"], "application/cloudevents+json");
    assert_eq!(event["id"], "e1");
    assert_eq!(event["subject"], "task-e1");
    assert_eq!(
        event["traceparent"], event["traceid"],
        "daprd keeps a trace given under both names"
    );
    // task-updated's lone event went as a single publish.
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/v1.0/publish/pubsub/task-updated")
    );
    let mut broker = sidecar.broker_ids();
    broker.sort();
    assert_eq!(broker, ["e1", "e3", "e4"]);
}

#[tokio::test]
async fn a_sidecar_without_bulk_publish_gets_single_publishes_and_is_not_asked_again_at_once() {
    use taskflow_bus::Publisher;
    let sidecar = FakeSidecar::start().await; // no bulk route: chi's plain 404
    let client = DaprClient::new(sidecar.config(None)).unwrap();
    let events = [
        outgoing("task-created", "alice", "e1"),
        outgoing("task-created", "bob", "e2"),
    ];
    assert!(client.publish_batch(&events).await.iter().all(Result::is_ok));
    assert!(
        !client.batches(),
        "the relay goes back to one chain of single publishes per key"
    );
    assert!(client.publish_batch(&events).await.iter().all(Result::is_ok));
    let requests = sidecar.requests.lock().unwrap().clone();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.starts_with("/v1.0-alpha1/"))
            .count(),
        1
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.starts_with("/v1.0/publish/"))
            .count(),
        4
    );
}
