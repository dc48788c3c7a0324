//! The outbox relay and the in-process bus with the store's dead letters: order, faults, retries,
//! dead letters, duplicates.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskflow_bus::dapr::DaprClient;
use taskflow_bus::idempotency::{Idempotent, InMemoryIdempotency};
use taskflow_bus::inprocess::{InProcessBus, RetryPolicy};
use taskflow_bus::{
    CloudEvent, EventHandler, Outcome, OutgoingEvent, Publisher, ReceivedEvent, Subscription, handler_fn,
};
use taskflow_host::StoreDeadLetters;
use taskflow_host::relay::{OutboxRelay, RelayConfig};
use taskflow_store::Store;

use crate::fixtures::{add_task, create_task, store};
use crate::support::{FakeSidecar, Recorder};

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    }
}

fn relay_config() -> RelayConfig {
    let mut c = RelayConfig::for_all();
    c.initial_backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(20);
    c
}

fn bus(store: &Store, subs: Vec<Subscription>) -> Arc<InProcessBus> {
    Arc::new(InProcessBus::new(
        subs,
        fast(),
        Arc::new(StoreDeadLetters(store.clone())),
    ))
}

#[tokio::test]
async fn each_users_events_reach_subscribers_in_commit_order() {
    let (store, _db) = store().await;
    let recorder = Recorder::default();
    let bus = bus(
        &store,
        vec![Subscription::new("audit", "task-created", recorder.handler())],
    );
    for i in 0..6 {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        create_task(&store, user, &format!("{user}-{i}")).await;
    }
    let relay = OutboxRelay::new(store.clone(), bus, relay_config());
    let report = relay.drain_once().await.unwrap();
    assert_eq!(report.published, 6);
    let titles = recorder.titles();
    let alice: Vec<&String> = titles.iter().filter(|t| t.starts_with("alice")).collect();
    let bob: Vec<&String> = titles.iter().filter(|t| t.starts_with("bob")).collect();
    assert_eq!(alice, ["alice-0", "alice-2", "alice-4"]);
    assert_eq!(bob, ["bob-1", "bob-3", "bob-5"]);
    assert_eq!(
        store
            .outbox()
            .stats(&taskflow_store::OutboxScope::All)
            .await
            .unwrap()
            .pending,
        0
    );
    // Nothing is published twice.
    assert_eq!(relay.drain_once().await.unwrap().published, 0);
    assert_eq!(recorder.titles().len(), 6);
}

#[tokio::test]
async fn with_the_sidecar_down_nothing_is_lost_and_order_survives() {
    let (store, _db) = store().await;
    let sidecar = FakeSidecar::start().await;
    sidecar.set_down(true);
    let publisher = Arc::new(DaprClient::new(sidecar.config(Some("sidecar-token"))).unwrap());
    let relay = OutboxRelay::new(store.clone(), publisher, relay_config());
    let mut events = Vec::new();
    for i in 0..4 {
        events.push(create_task(&store, "alice", &format!("task {i}")).await);
    }
    let report = relay.drain_once().await.unwrap();
    assert_eq!(
        (report.published, report.failed),
        (0, 1),
        "the first failure blocks the rest of the key"
    );
    assert_eq!(
        store
            .outbox()
            .stats(&taskflow_store::OutboxScope::All)
            .await
            .unwrap()
            .pending,
        4
    );

    sidecar.set_down(false);
    let mut published = 0;
    for _ in 0..100 {
        published += relay.drain_once().await.unwrap().published;
        if published == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(published, 4);
    assert_eq!(
        store
            .outbox()
            .stats(&taskflow_store::OutboxScope::All)
            .await
            .unwrap()
            .pending,
        0
    );

    let accepted: Vec<_> = sidecar.published().into_iter().skip(1).collect();
    let ids: Vec<String> = accepted
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(ids, expected, "delivered once each, in commit order");
    let first = &accepted[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1.0/publish/pubsub/task-created");
    assert_eq!(first.query["metadata.partitionKey"], "alice");
    // The whole envelope, so daprd keeps it as written (subject included): see
    // `DaprClient::publish_event`. No `metadata.cloudevent.*` overrides, which daprd would ignore.
    assert_eq!(first.headers["content-type"], "application/cloudevents+json");
    assert!(
        first.query.keys().all(|k| !k.starts_with("metadata.cloudevent.")),
        "{:?}",
        first.query
    );
    assert_eq!(first.headers["dapr-api-token"], "sidecar-token");
    let envelope = &first.body;
    assert_eq!(envelope["specversion"], "1.0");
    assert_eq!(envelope["type"], "com.taskflow.task.created.v1");
    assert_eq!(envelope["source"], "backend-api", "the app that wrote the row");
    assert_eq!(envelope["subject"], events[0].task.id.to_string());
    assert_eq!(envelope["datacontenttype"], "application/json");
    assert_eq!(envelope["data"]["event_type"], "task-created");
    assert_eq!(envelope["data"]["task"]["title"], "task 0");
    assert_eq!(envelope["data"]["user_id"], "alice");
    // What a subscriber receives parses back to the same event.
    let received = taskflow_bus::cloudevent::parse(&serde_json::to_vec(envelope).unwrap()).unwrap();
    assert_eq!(received.id, events[0].event_id.to_string());
    assert_eq!(received.subject, Some(events[0].task.id.to_string()));
}

fn flaky(failures: usize, effects: Arc<AtomicUsize>) -> Arc<dyn EventHandler> {
    let attempts = Arc::new(AtomicUsize::new(0));
    handler_fn(move |_e: ReceivedEvent| {
        let (attempts, effects) = (attempts.clone(), effects.clone());
        async move {
            if attempts.fetch_add(1, Ordering::SeqCst) < failures {
                Outcome::Retry("database busy".into())
            } else {
                effects.fetch_add(1, Ordering::SeqCst);
                Outcome::Success
            }
        }
    })
}

#[tokio::test]
async fn a_handler_that_fails_twice_then_succeeds_has_one_effect() {
    let (store, _db) = store().await;
    let effects = Arc::new(AtomicUsize::new(0));
    let bus = bus(
        &store,
        vec![Subscription::new(
            "recurring",
            "task-created",
            flaky(2, effects.clone()),
        )],
    );
    create_task(&store, "alice", "retry me").await;
    OutboxRelay::new(store.clone(), bus, relay_config())
        .drain_once()
        .await
        .unwrap();
    assert_eq!(effects.load(Ordering::SeqCst), 1);
    assert_eq!(store.dead_letters().count().await.unwrap(), 0);
}

#[tokio::test]
async fn poison_events_are_dead_lettered_not_retried_forever() {
    let (store, _db) = store().await;
    let never = Arc::new(AtomicUsize::new(0));
    let panics = handler_fn(|e: ReceivedEvent| async move {
        if !e.id.is_empty() {
            panic!("handler bug");
        }
        Outcome::Success
    });
    let drops = handler_fn(|_e: ReceivedEvent| async move { Outcome::Drop("unknown schema".into()) });
    let healthy = Recorder::default();
    let bus = bus(
        &store,
        vec![
            Subscription::new("always-retry", "task-created", flaky(usize::MAX, never.clone())),
            Subscription::new("panics", "task-created", panics),
            Subscription::new("drops", "task-created", drops),
            Subscription::new("healthy", "task-created", healthy.handler()),
        ],
    );
    let event = create_task(&store, "alice", "poison").await;
    let report = OutboxRelay::new(store.clone(), bus, relay_config())
        .drain_once()
        .await
        .unwrap();
    assert_eq!(report.published, 1, "a poison event does not block the outbox");
    assert_eq!(healthy.titles(), ["poison"], "other subscribers still get it");
    let mut letters = store.dead_letters().recent(10).await.unwrap();
    letters.sort_by(|a, b| a.subscriber.cmp(&b.subscriber));
    let summary: Vec<(&str, i32)> = letters
        .iter()
        .map(|l| (l.subscriber.as_str(), l.attempts))
        .collect();
    assert_eq!(summary, [("always-retry", 3), ("drops", 1), ("panics", 1)]);
    assert!(
        letters
            .iter()
            .all(|l| l.event_id == event.event_id && l.topic == "task-created")
    );
    assert!(letters[0].reason.contains("gave up after 3 attempts"));
    assert_eq!(never.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_same_event_delivered_twice_has_one_effect() {
    let (store, _db) = store().await;
    {
        let keys = Arc::new(InMemoryIdempotency::default());
        let effects = Arc::new(AtomicUsize::new(0));
        let counted = {
            let effects = effects.clone();
            handler_fn(move |_e: ReceivedEvent| {
                let effects = effects.clone();
                async move {
                    effects.fetch_add(1, Ordering::SeqCst);
                    Outcome::Success
                }
            })
        };
        let guarded = Arc::new(Idempotent::new("audit", keys, counted, Duration::from_secs(3600)));
        let bus = InProcessBus::new(
            vec![Subscription::new("audit", "task-created", guarded)],
            fast(),
            Arc::new(StoreDeadLetters(store.clone())),
        );
        let event = create_task(&store, "alice", "once").await;
        let payload = serde_json::to_value(&event).unwrap();
        let outgoing = OutgoingEvent {
            topic: "task-created".into(),
            partition_key: "alice".into(),
            cloud_event: CloudEvent::for_outbox_payload(
                "task-created",
                &event.event_id.to_string(),
                payload,
                "test",
            ),
        };
        bus.publish(&outgoing).await.unwrap();
        bus.publish(&outgoing).await.unwrap();
        assert_eq!(effects.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn the_running_relay_publishes_on_commit_without_waiting_for_a_poll() {
    let (store, _db) = store().await;
    let recorder = Recorder::default();
    let bus = bus(
        &store,
        vec![Subscription::new("ws", "task-created", recorder.handler())],
    );
    let mut config = relay_config();
    config.poll_interval = Duration::from_secs(3600);
    let handle = taskflow_host::relay::spawn(store.clone(), bus, config);
    // Let the relay take its lock and go to sleep on the signal.
    tokio::time::sleep(Duration::from_millis(100)).await;
    add_task(&store, "alice", "signalled").await;
    for _ in 0..200 {
        if !recorder.titles().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        recorder.titles(),
        ["signalled"],
        "an hour-long poll means only the commit signal could deliver it"
    );
    handle.stop().await;
}

#[tokio::test]
async fn stopping_the_relay_flushes_what_is_due() {
    let (store, _db) = store().await;
    let recorder = Recorder::default();
    let bus = bus(
        &store,
        vec![Subscription::new("ws", "task-created", recorder.handler())],
    );
    let handle = taskflow_host::relay::spawn(store.clone(), bus, relay_config());
    handle.stop().await;
    create_task(&store, "alice", "late write").await;
    let handle = taskflow_host::relay::spawn(
        store.clone(),
        Arc::new(InProcessBus::new(
            vec![Subscription::new("ws", "task-created", recorder.handler())],
            fast(),
            Arc::new(StoreDeadLetters(store.clone())),
        )),
        relay_config(),
    );
    handle.stop().await;
    assert_eq!(recorder.titles(), ["late write"]);
}

#[tokio::test]
async fn published_rows_are_pruned_after_retention() {
    let (store, _db) = store().await;
    create_task(&store, "alice", "old").await;
    let rows = store
        .outbox()
        .pending(&taskflow_store::OutboxScope::All, 10)
        .await
        .unwrap();
    let long_ago = taskflow_domain::time::now() - chrono::TimeDelta::days(2);
    store
        .outbox()
        .mark_published(&[rows[0].id], long_ago)
        .await
        .unwrap();
    create_task(&store, "alice", "new").await;
    let cutoff = taskflow_domain::time::now() - chrono::TimeDelta::days(1);
    assert_eq!(
        store
            .outbox()
            .prune(&taskflow_store::OutboxScope::All, cutoff)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .outbox()
            .stats(&taskflow_store::OutboxScope::All)
            .await
            .unwrap()
            .pending,
        1,
        "pending rows are never pruned"
    );
}

/// `Idempotency-Key` rows older than 24 h are pruned by backend-api's relay (or the binary's, which
/// covers backend-api); fresh ones stay, and another service's relay leaves the table alone.
#[tokio::test]
async fn backend_apis_relay_prunes_idempotency_keys_past_a_day() {
    use taskflow_store::{Claim, KEY_TTL};

    let (store, _db) = store().await;
    let now = taskflow_domain::time::now();
    let keys = store.idempotency_keys();
    let old = now - KEY_TTL - chrono::TimeDelta::seconds(1);
    assert!(matches!(
        keys.claim("alice", "old", "f", old).await.unwrap(),
        Claim::Acquired(_)
    ));
    assert!(matches!(
        keys.claim("alice", "new", "f", now).await.unwrap(),
        Claim::Acquired(_)
    ));
    let count = || async {
        use sea_orm::{EntityTrait, PaginatorTrait};
        taskflow_store::entity::idempotency_keys::Entity::find()
            .count(store.connection())
            .await
            .unwrap()
    };
    let bus = bus(&store, Vec::new());
    let fast_prune = |mut c: RelayConfig| {
        c.prune_interval = Duration::from_millis(20);
        c.poll_interval = Duration::from_millis(20);
        c
    };

    let other = RelayConfig::for_source("recurring");
    let handle = taskflow_host::relay::spawn(store.clone(), bus.clone(), fast_prune(other));
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle.stop().await;
    assert_eq!(
        count().await,
        2,
        "recurring's relay does not prune backend-api's keys"
    );

    let own = RelayConfig::for_source(taskflow_store::DEFAULT_SOURCE);
    let handle = taskflow_host::relay::spawn(store.clone(), bus, fast_prune(own));
    for _ in 0..100 {
        if count().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    handle.stop().await;
    assert_eq!(count().await, 1, "only the expired key went");
}
