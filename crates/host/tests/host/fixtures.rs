//! A store with two users, and tasks created through it with their outbox events.

use taskflow_domain::{CreateTask, TaskEvent, time};
use taskflow_store::{Store, StoreOptions};
use taskflow_test_support::{TestDb, test_database};

pub async fn store() -> (Store, TestDb) {
    let (url, db) = test_database().await;
    let store = Store::connect(
        &url,
        &StoreOptions {
            max_connections: 5,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
        .users()
        .create(taskflow_store::NewUser {
            id: "alice".into(),
            name: "Alice".into(),
            email: Some("alice@example.com".into()),
            password_hash: None,
            timezone: "UTC".into(),
        })
        .await
        .unwrap();
    store
        .users()
        .create(taskflow_store::NewUser {
            id: "bob".into(),
            name: "Bob".into(),
            email: Some("bob@example.com".into()),
            password_hash: None,
            timezone: "UTC".into(),
        })
        .await
        .unwrap();
    (store, db)
}

/// Creates a task for `user` through the store, with its `task-created` event in the outbox.
pub async fn create_task(store: &Store, user: &str, title: &str) -> TaskEvent {
    let body: CreateTask = serde_json::from_value(serde_json::json!({ "title": title })).unwrap();
    let now = time::now();
    let task = body.validate().unwrap().into_task(user, now);
    let event = TaskEvent::created(&task, now);
    store
        .tasks()
        .create(&task, std::slice::from_ref(&event))
        .await
        .unwrap();
    event
}
