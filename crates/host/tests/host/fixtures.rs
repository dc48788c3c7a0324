//! A store with two users, and tasks created through the store's command with their outbox events.

use taskflow_domain::{CreateTask, Task, TaskEvent, time};
use taskflow_store::{OutboxScope, Store, StoreOptions};
use taskflow_test_support::{TestDb, consumer};

pub async fn store() -> (Store, TestDb) {
    let options = StoreOptions {
        max_connections: 5,
        ..StoreOptions::default()
    };
    consumer::store_with(
        &options,
        [
            consumer::user("alice", "Alice", Some("alice@example.com"), "UTC"),
            consumer::user("bob", "Bob", Some("bob@example.com"), "UTC"),
        ],
    )
    .await
}

/// Creates a task for `user` through the store's command, with its `task-created` event in the outbox.
pub async fn add_task(store: &Store, user: &str, title: &str) -> Task {
    let body: CreateTask = serde_json::from_value(serde_json::json!({ "title": title })).unwrap();
    let task = body.validate().unwrap().into_task(user, time::now());
    store.tasks().create(&task).await.unwrap();
    task
}

/// [`add_task`], answering the `task-created` event it wrote, read back from the outbox — so only
/// while no relay runs (a running one may publish the row before it is read).
pub async fn create_task(store: &Store, user: &str, title: &str) -> TaskEvent {
    let task = add_task(store, user, title).await;
    let row = store
        .outbox()
        .pending(&OutboxScope::All, 10_000)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.topic == "task-created" && r.payload["task"]["id"] == task.id.to_string())
        .unwrap();
    serde_json::from_value(row.payload).unwrap()
}
