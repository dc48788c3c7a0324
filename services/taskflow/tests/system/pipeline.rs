//! The single binary end to end: REST writes become events that in-process subscribers receive,
//! in order, as CloudEvents — the same path the services take under Dapr.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use taskflow_bus::ReceivedEvent;
use taskflow_test_support::TestDb;

use crate::support;

struct System {
    base: String,
    client: reqwest::Client,
    seen: Arc<Mutex<Vec<ReceivedEvent>>>,
    _db: TestDb,
}

async fn start() -> System {
    let (subs, seen) = support::recorder(&["task-created", "task-updated", "task-completed", "task-deleted"]);
    let support::System { base, client, db, .. } = support::system(subs, support::no_reminder_ticks()).await;
    System {
        base,
        client,
        seen,
        _db: db,
    }
}

impl System {
    async fn user(&self) -> (String, String) {
        support::sign_up(&self.client, &self.base, json!({})).await
    }

    async fn wait_for(&self, n: usize) -> Vec<ReceivedEvent> {
        for _ in 0..300 {
            if self.seen.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn rest_writes_reach_subscribers_as_ordered_cloudevents() {
    let sys = start().await;
    let (user, token) = sys.user().await;
    let tasks = format!("{}/api/{user}/tasks", sys.base);
    let task: Value = sys
        .client
        .post(&tasks)
        .bearer_auth(&token)
        .json(&json!({"title": "Ship it"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("{tasks}/{}", task["id"].as_str().unwrap());
    sys.client
        .put(&url)
        .bearer_auth(&token)
        .json(&json!({"priority": "high"}))
        .send()
        .await
        .unwrap();
    sys.client
        .patch(format!("{url}/complete"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    sys.client
        .patch(format!("{url}/complete"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    // A write that changes nothing publishes nothing.
    sys.client
        .put(&url)
        .bearer_auth(&token)
        .json(&json!({"priority": "high"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sys.client
            .delete(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    let events = sys.wait_for(5).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "com.taskflow.task.created.v1",
            "com.taskflow.task.updated.v1",
            "com.taskflow.task.completed.v1",
            "com.taskflow.task.completed.v1",
            "com.taskflow.task.deleted.v1",
        ]
    );
    for e in &events {
        assert_eq!(
            e.source, "backend-api",
            "the app that wrote the event, as under Dapr"
        );
        assert_eq!(e.subject.as_deref(), task["id"].as_str());
        assert_eq!(e.data["user_id"], user.as_str());
        assert_eq!(
            e.id,
            e.data["event_id"].as_str().unwrap(),
            "the CloudEvent id is the event id"
        );
    }
    assert_eq!(
        events[1].data["changes"]["priority"],
        json!({"before": "medium", "after": "high"})
    );
    assert_eq!(events[2].data["completed"], true);
    assert_eq!(events[3].data["completed"], false, "un-completing says so");
    assert_eq!(
        events[4].data["task"]["title"], "Ship it",
        "a deleted task's last snapshot travels with the event"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sys.seen.lock().unwrap().len(), 5, "nothing is delivered twice");

    let ready: Value = sys
        .client
        .get(format!("{}/ready", sys.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["checks"]["outbox"]
            .as_str()
            .unwrap()
            .starts_with("ok: 0 pending"),
        "{ready}"
    );
}

#[tokio::test]
async fn a_rejected_write_publishes_nothing() {
    let sys = start().await;
    let (user, token) = sys.user().await;
    let res = sys
        .client
        .post(format!("{}/api/{user}/tasks", sys.base))
        .bearer_auth(&token)
        .json(&json!({"title": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let ok: Value = sys
        .client
        .post(format!("{}/api/{user}/tasks", sys.base))
        .bearer_auth(&token)
        .json(&json!({"title": "valid"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = sys.wait_for(1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["task"]["id"], ok["id"]);
}
