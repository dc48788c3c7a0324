//! The webhook delivery queue on its own: one row per (endpoint, event), each endpoint's oldest
//! pending delivery first, disabled endpoints left out, and a claim that only one sender wins.
//! SQLite, or PostgreSQL with `TEST_DATABASE_URL`.

// A test: a failed step is the failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use taskflow_domain::webhook::ValidWebhook;
use taskflow_domain::{EventType, time};
use taskflow_store::{Attempt, PENDING, Store};
use taskflow_test_support::consumer;
use uuid::Uuid;

async fn endpoint(store: &Store, user: &str) -> Uuid {
    let new = ValidWebhook {
        url: "https://example.com/in".into(),
        events: vec![EventType::TaskCreated],
        description: None,
    };
    store
        .webhooks()
        .create(user, &new, "whsec_AAAA", time::now())
        .await
        .unwrap()
        .id
}

async fn record(store: &Store, endpoint: Uuid, event: Uuid) -> bool {
    store
        .webhook_deliveries()
        .record(
            endpoint,
            "alice",
            event,
            "task-created",
            &format!("msg_{}", event.simple()),
            "{}",
            time::now(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_head_of_each_enabled_endpoint_is_due_once_and_claimed_once() {
    let (store, _db) = consumer::store_with_users([consumer::user("alice", "Alice", None, "UTC")]).await;
    let mut disabled = Vec::new();
    for _ in 0..3 {
        let id = endpoint(&store, "alice").await;
        assert!(record(&store, id, Uuid::now_v7()).await);
        assert!(
            store
                .webhooks()
                .disable(id, "gone", "gone", time::now())
                .await
                .unwrap()
        );
        disabled.push(id);
    }
    let live = endpoint(&store, "alice").await;
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    assert!(record(&store, live, first).await);
    assert!(
        !record(&store, live, first).await,
        "a redelivered event records nothing new"
    );
    assert!(record(&store, live, second).await);

    // With room for one endpoint, the live one is served: disabled ones take no place.
    let later = time::now() + TimeDelta::seconds(1);
    let due = store.webhook_deliveries().due(later, 1).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].endpoint_id, live);
    assert_eq!(due[0].webhook_id, format!("msg_{}", first.simple()));

    let deliveries = store.webhook_deliveries();
    assert!(
        deliveries
            .claim(&due[0], later + TimeDelta::minutes(1))
            .await
            .unwrap()
    );
    assert!(
        !deliveries
            .claim(&due[0], later + TimeDelta::minutes(1))
            .await
            .unwrap(),
        "claimed twice"
    );
    // Claimed (in flight): nothing of that endpoint is due, not even the later event.
    assert!(deliveries.due(later, 10).await.unwrap().is_empty());

    let retry = Attempt {
        status: PENDING,
        status_code: Some(500),
        error: Some("the receiver answered 500"),
        duration_ms: 3,
        next_attempt_at: Some(later),
        at: later,
    };
    deliveries.record_attempt(due[0].id, &retry).await.unwrap();
    let due = deliveries.due(later, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0].webhook_id,
        format!("msg_{}", first.simple()),
        "the earlier event stays first"
    );
    assert_eq!(due[0].attempts, 1);
}
