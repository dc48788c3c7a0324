//! The store's durable event history (`OutboxRepo::published_after`), which real-time clients resume
//! from: a user's published events after one of theirs, in publication order, nobody else's.

use chrono::Duration;
use taskflow_domain::time;
use taskflow_store::{EventsAfter, OutboxScope, Store};

use crate::fixtures::{create_task, store};

async fn after(store: &Store, user: &str, event: uuid::Uuid) -> Option<Vec<String>> {
    match store.outbox().published_after(user, event, 100).await.unwrap() {
        EventsAfter::Unknown => None,
        EventsAfter::Events(events) => Some(
            events
                .into_iter()
                .map(|e| e.payload["task"]["title"].as_str().unwrap().to_owned())
                .collect(),
        ),
    }
}

async fn row_id(store: &Store, event: uuid::Uuid) -> i64 {
    let pending = store.outbox().pending(&OutboxScope::All, 100).await.unwrap();
    pending.iter().find(|r| r.event_id == event).unwrap().id
}

#[tokio::test]
async fn events_come_in_publication_order_after_the_clients_last_one_and_only_the_users() {
    let (store, _db) = store().await;
    let one = create_task(&store, "alice", "one").await.event_id;
    let two = create_task(&store, "alice", "two").await.event_id;
    let three = create_task(&store, "alice", "three").await.event_id;
    let bobs = create_task(&store, "bob", "bob's").await.event_id;
    let ids = [
        row_id(&store, one).await,
        row_id(&store, two).await,
        row_id(&store, three).await,
        row_id(&store, bobs).await,
    ];
    // Not yet published: nothing is published after it either.
    assert_eq!(after(&store, "alice", one).await, Some(vec![]));

    // "three" committed first and went out first; "one" and "two" in a later pass, as when two of a
    // user's transactions commit out of id order.
    let now = time::now();
    store
        .outbox()
        .mark_published(&[ids[2], ids[3]], now)
        .await
        .unwrap();
    store
        .outbox()
        .mark_published(&[ids[0], ids[1]], now + Duration::milliseconds(5))
        .await
        .unwrap();

    assert_eq!(
        after(&store, "alice", three).await,
        Some(vec!["one".to_owned(), "two".to_owned()]),
        "a client that saw three first still gets one and two, published after it"
    );
    assert_eq!(after(&store, "alice", one).await, Some(vec!["two".to_owned()]));
    assert_eq!(after(&store, "alice", two).await, Some(vec![]));
    assert_eq!(after(&store, "bob", three).await, None, "another user's event id");
    assert_eq!(after(&store, "alice", bobs).await, None);
    assert_eq!(after(&store, "alice", uuid::Uuid::now_v7()).await, None);

    let limited = store.outbox().published_after("alice", three, 1).await.unwrap();
    assert!(matches!(limited, EventsAfter::Events(events) if events.len() == 1));
}
