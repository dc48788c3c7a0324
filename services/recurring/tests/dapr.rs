//! recurring through its Dapr callback route, with envelopes shaped as daprd delivers them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use taskflow_bus::dapr::DaprApp;
use taskflow_domain::{CreateTask, TaskEvent, TaskUpdate, time};
use taskflow_store::{DEFAULT_SOURCE, OutboxScope, Store, TaskFilter};
use taskflow_test_support::{TestDb, consumer, daprd_envelope};

async fn setup() -> (Store, String, TestDb) {
    let (store, db) = consumer::store_with_users([consumer::user("u1", "U", None, "Europe/London")]).await;
    let app = DaprApp::new("pubsub", taskflow_recurring::subscriptions(store.clone()), None);
    let base = consumer::serve(app.configure());
    (store, base, db)
}

/// A recurring task stored, completed, and its `task-completed` event (as the command wrote it to
/// the outbox, for the relay to publish).
async fn completed(store: &Store, body: Value) -> TaskEvent {
    let task = serde_json::from_value::<CreateTask>(body)
        .unwrap()
        .validate()
        .unwrap()
        .into_task("u1", time::now());
    store.tasks().create(&task).await.unwrap();
    store
        .tasks()
        .apply_update("u1", task.id, Some(task.version), &TaskUpdate::completion(true))
        .await
        .unwrap();
    let row = store
        .outbox()
        .pending(&OutboxScope::Source(DEFAULT_SOURCE.into()), 100)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.topic == "task-completed" && r.payload["task"]["id"] == task.id.to_string())
        .unwrap();
    serde_json::from_value(row.payload).unwrap()
}

async fn deliver(base: &str, event: &TaskEvent) -> Value {
    let envelope = daprd_envelope(
        "task-completed",
        &event.event_id.to_string(),
        "com.taskflow.task.completed.v1",
        serde_json::to_value(event).unwrap(),
    );
    consumer::deliver(
        &format!("{base}/events/recurring/task-completed"),
        "application/cloudevents+json",
        &envelope,
    )
    .await
}

async fn tasks(store: &Store) -> Vec<taskflow_domain::Task> {
    let filter = TaskFilter {
        limit: 100,
        sort_by: taskflow_store::SortBy::DueAt,
        sort_order: taskflow_store::SortOrder::Asc,
        ..TaskFilter::default()
    };
    store.tasks().list("u1", &filter).await.unwrap().tasks
}

#[tokio::test]
async fn a_delivered_completion_creates_the_next_occurrence_once() {
    let (store, base, _db) = setup().await;
    // 09:00 London time, the day before BST starts.
    let event = completed(
        &store,
        json!({"title": "Walk", "due_at": "2027-03-27T09:00:00Z", "recurrence": "daily"}),
    )
    .await;
    assert_eq!(deliver(&base, &event).await, json!({"status": "SUCCESS"}));
    assert_eq!(
        deliver(&base, &event).await,
        json!({"status": "SUCCESS"}),
        "a redelivery is acknowledged"
    );
    let all = tasks(&store).await;
    assert_eq!(all.len(), 2, "and has no second effect");
    assert_eq!(
        all[1].due_at,
        Some("2027-03-28T08:00:00Z".parse().unwrap()),
        "09:00 BST"
    );
    // Its task-created event went through the outbox, for recurring's own relay to publish.
    let scope = OutboxScope::Source("recurring".into());
    let pending = store.outbox().pending(&scope, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].topic, "task-created");
    assert_eq!(pending[0].source, "recurring");
    assert_eq!(pending[0].payload["task"]["id"], all[1].id.to_string());
    // Beside it only the first task's own task-created and task-completed, written by the commands.
    assert_eq!(
        store.outbox().pending(&OutboxScope::All, 10).await.unwrap().len(),
        3
    );
}

#[tokio::test]
async fn a_second_completion_event_of_the_same_task_makes_no_second_occurrence() {
    let (store, base, _db) = setup().await;
    let first = completed(
        &store,
        json!({"title": "Gym", "due_at": "2027-01-04T18:00:00Z", "recurrence": "weekly"}),
    )
    .await;
    // Reopened and completed again: a different event id, the same next occurrence.
    let again = TaskEvent {
        event_id: uuid::Uuid::now_v7(),
        ..first.clone()
    };
    assert_eq!(deliver(&base, &first).await["status"], "SUCCESS");
    assert_eq!(deliver(&base, &again).await["status"], "SUCCESS");
    assert_eq!(tasks(&store).await.len(), 2);
}

#[tokio::test]
async fn reopening_non_recurring_and_malformed_events_do_nothing() {
    let (store, base, _db) = setup().await;
    let plain = completed(&store, json!({"title": "Once", "due_at": "2027-01-04T18:00:00Z"})).await;
    assert_eq!(deliver(&base, &plain).await["status"], "SUCCESS");
    let mut reopened = completed(
        &store,
        json!({"title": "Weekly", "due_at": "2027-01-04T18:00:00Z", "recurrence": "weekly"}),
    )
    .await;
    reopened.completed = Some(false);
    assert_eq!(deliver(&base, &reopened).await["status"], "SUCCESS");
    assert_eq!(
        tasks(&store).await.len(),
        2,
        "no occurrence for a one-off or a reopened task"
    );
    let res: Value = reqwest::Client::new()
        .post(format!("{base}/events/recurring/task-completed"))
        .json(&daprd_envelope(
            "task-completed",
            "x",
            "t",
            json!({"not": "a task event"}),
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res["status"], "DROP");
}

#[tokio::test]
async fn the_next_occurrence_comes_from_the_database_not_from_the_events_snapshot() {
    let (store, base, _db) = setup().await;
    let real = completed(
        &store,
        json!({"title": "Water the plants", "due_at": "2027-01-04T09:00:00Z", "recurrence": "weekly"}),
    )
    .await;

    // A forged event for a task that does not exist creates nothing.
    let mut invented = real.clone();
    invented.event_id = uuid::Uuid::new_v4();
    invented.task.id = uuid::Uuid::now_v7();
    invented.task.title = "Injected by whoever reached the broker".into();
    assert_eq!(deliver(&base, &invented).await["status"], "SUCCESS");
    assert_eq!(tasks(&store).await.len(), 1, "a task made up by an event");

    // A forged snapshot of a real task: the next occurrence is the stored task's, not the event's.
    let mut tampered = real.clone();
    tampered.event_id = uuid::Uuid::new_v4();
    tampered.task.title = "Injected title".into();
    tampered.task.description = Some("ignore your instructions".into());
    assert_eq!(deliver(&base, &tampered).await["status"], "SUCCESS");
    let all = tasks(&store).await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|t| t.title == "Water the plants"), "{all:?}");
    assert!(all.iter().all(|t| t.description.is_none()));
}
