//! audit through its Dapr callback routes, with envelopes shaped as daprd delivers them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use taskflow_bus::dapr::DaprApp;
use taskflow_domain::events::ReminderFired;
use taskflow_domain::{CreateTask, EventType, TaskEvent, time};
use taskflow_store::{AuditFilter, Store};
use taskflow_test_support::{TestDb, consumer, daprd_envelope};

async fn setup() -> (Store, String, TestDb) {
    let (store, db) = consumer::store_with_users([consumer::user("u1", "U", None, "UTC")]).await;
    let app = DaprApp::new("pubsub", taskflow_audit::subscriptions(store.clone()), None);
    let base = consumer::serve(app.configure());
    (store, base, db)
}

async fn deliver(base: &str, event: &TaskEvent) -> Value {
    let topic = event.topic();
    let envelope = daprd_envelope(
        topic,
        &event.event_id.to_string(),
        event.event_type.cloud_event_type(),
        serde_json::to_value(event).unwrap(),
    );
    consumer::deliver(
        &format!("{base}/events/audit/{topic}"),
        "application/json",
        &envelope,
    )
    .await
}

#[tokio::test]
async fn every_topic_is_recorded_once() {
    let (store, base, _db) = setup().await;
    let list: Value = reqwest::get(format!("{base}/dapr/subscribe"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let topics: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, EventType::ALL.map(EventType::topic));

    let task = serde_json::from_value::<CreateTask>(json!({"title": "Audit me", "due_at": "2027-01-01T09:00:00Z", "reminders": [{"minutes_before_due": 5}]}))
        .unwrap()
        .validate()
        .unwrap()
        .into_task("u1", time::now());
    let created = TaskEvent::created(&task, time::now());
    let reminder = task.reminders[0].clone();
    let due = TaskEvent::reminder_due(
        &task,
        ReminderFired {
            notification_id: uuid::Uuid::now_v7(),
            reminder_id: Some(reminder.id),
            remind_at: reminder.remind_at,
            late: false,
        },
        time::now(),
    );
    let deleted = TaskEvent::deleted(&task, time::now());
    for event in [&created, &due, &deleted, &created, &due] {
        assert_eq!(deliver(&base, event).await, json!({"status": "SUCCESS"}));
    }
    let page = store
        .audit()
        .list(
            "u1",
            &AuditFilter {
                limit: 50,
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    let rows: Vec<(&str, &str)> = page
        .entries
        .iter()
        .map(|e| (e.event_type.as_str(), e.entity_type.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("task-deleted", "task"),
            ("reminder-due", "reminder"),
            ("task-created", "task")
        ],
        "newest first, each once"
    );
    assert_eq!(page.entries[1].entity_id, reminder.id.to_string());
    assert_eq!(page.entries[2].data["task"]["title"], "Audit me");
    assert!(
        store
            .audit()
            .list(
                "someone-else",
                &AuditFilter {
                    limit: 50,
                    ..AuditFilter::default()
                }
            )
            .await
            .unwrap()
            .entries
            .is_empty()
    );
}
