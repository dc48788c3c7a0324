//! The relay over daprd's bulk publish, against a sidecar double as strict as daprd 1.16 (entries
//! reach the broker in no set order, a partial failure lists its failed entries): nothing lost,
//! each user's order kept, failed entries retried; and one publish per event without the bulk API.

use std::sync::Arc;
use std::time::Duration;

use taskflow_bus::dapr::DaprClient;
use taskflow_domain::TaskEvent;
use taskflow_host::relay::{OutboxRelay, RelayConfig};
use taskflow_store::{OutboxScope, Store};

use crate::fixtures::{create_task, store};
use crate::support::FakeSidecar;

fn relay_config() -> RelayConfig {
    let mut c = RelayConfig::for_all();
    c.initial_backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(20);
    c
}

/// Four tasks each for alice and bob, their creates interleaved.
async fn interleaved(store: &Store) -> Vec<TaskEvent> {
    let mut events = Vec::new();
    for i in 0..4 {
        for user in ["alice", "bob"] {
            events.push(create_task(store, user, &format!("{user}-{i}")).await);
        }
    }
    events
}

async fn drain_all(relay: &OutboxRelay, store: &Store) {
    for _ in 0..200 {
        relay.drain_once().await.unwrap();
        if store.outbox().stats(&OutboxScope::All).await.unwrap().pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the outbox did not drain");
}

fn ids_of(events: &[TaskEvent], user: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.user_id == user)
        .map(|e| e.event_id.to_string())
        .collect()
}

#[tokio::test]
async fn bulk_publish_with_a_partial_failure_loses_nothing_and_keeps_each_users_order() {
    let (store, _db) = store().await;
    let events = interleaved(&store).await;
    let sidecar = FakeSidecar::start().await;
    // alice's second event and bob's first fail once, inside batches whose other entries succeed.
    let fail = [events[2].event_id.to_string(), events[1].event_id.to_string()];
    sidecar.enable_bulk(&fail);
    let publisher = Arc::new(DaprClient::new(sidecar.config(Some("sidecar-token"))).unwrap());
    let relay = OutboxRelay::new(store.clone(), publisher, relay_config());

    let first = relay.drain_once().await.unwrap();
    assert_eq!(
        (first.published, first.failed),
        (1, 2),
        "alice-0 went out; alice-1 and bob-0 failed and hold back the rest of their user's events"
    );
    drain_all(&relay, &store).await;

    let broker = sidecar.broker_ids();
    let mut all: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let mut got = broker.clone();
    all.sort();
    got.sort();
    assert_eq!(got, all, "every event reached the broker exactly once");
    for user in ["alice", "bob"] {
        let order: Vec<String> = broker
            .iter()
            .filter(|id| ids_of(&events, user).contains(id))
            .cloned()
            .collect();
        assert_eq!(order, ids_of(&events, user), "{user}'s events in commit order");
    }
    let batches = sidecar.bulk_batches();
    assert!(
        batches.iter().all(|b| {
            let mut keys: Vec<&String> = b.iter().map(|(k, _)| k).collect();
            keys.sort();
            keys.dedup();
            keys.len() == b.len()
        }),
        "no bulk request holds two events of one user: {batches:?}"
    );
    assert!(
        batches.iter().any(|b| b.len() == 2),
        "both users' events share requests: {batches:?}"
    );
    let requests = sidecar.requests.lock().unwrap().clone();
    for id in &fail {
        let in_bulk = batches.iter().flatten().filter(|(_, e)| e == id).count();
        let single = requests
            .iter()
            .filter(|r| r.path.starts_with("/v1.0/publish/") && r.body["id"] == id.as_str())
            .count();
        assert_eq!(in_bulk + single, 2, "the failed event {id} was sent again, once");
    }
    let first = requests
        .iter()
        .find(|r| r.path == "/v1.0-alpha1/publish/bulk/pubsub/task-created")
        .cloned()
        .unwrap();
    assert_eq!(first.headers["dapr-api-token"], "sidecar-token");
    let entry = &first.body[0];
    assert_eq!(entry["contentType"], "application/cloudevents+json");
    assert_eq!(entry["metadata"]["partitionKey"], "alice");
    assert_eq!(entry["event"]["id"], events[0].event_id.to_string());
    assert_eq!(entry["event"]["source"], "backend-api");
    assert_eq!(entry["event"]["subject"], events[0].task.id.to_string());
}

#[tokio::test]
async fn without_the_bulk_api_the_relay_publishes_one_event_per_request_in_order() {
    let (store, _db) = store().await;
    let events = interleaved(&store).await;
    let sidecar = FakeSidecar::start().await; // bulk route absent: a plain 404
    let publisher = Arc::new(DaprClient::new(sidecar.config(None)).unwrap());
    let relay = OutboxRelay::new(store.clone(), publisher, relay_config());
    drain_all(&relay, &store).await;

    let broker = sidecar.broker_ids();
    assert_eq!(broker.len(), events.len());
    for user in ["alice", "bob"] {
        let order: Vec<String> = broker
            .iter()
            .filter(|id| ids_of(&events, user).contains(id))
            .cloned()
            .collect();
        assert_eq!(order, ids_of(&events, user), "{user}'s events in commit order");
    }
    let requests = sidecar.requests.lock().unwrap().clone();
    let bulk = requests
        .iter()
        .filter(|r| r.path.starts_with("/v1.0-alpha1/"))
        .count();
    assert_eq!(
        bulk, 1,
        "the 404 is remembered: bulk is not asked again in every pass"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path == "/v1.0/publish/pubsub/task-created")
            .count(),
        events.len()
    );
}
