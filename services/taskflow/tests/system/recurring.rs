//! Recurrence and the audit trail end to end in the single binary, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use taskflow_test_support::TestDb;

use crate::support;

struct System {
    base: String,
    client: reqwest::Client,
    user: String,
    token: String,
    running_state: taskflow_backend_api::ApiState,
    _db: TestDb,
}

async fn start() -> System {
    let support::System {
        base,
        state: running_state,
        client,
        db,
    } = support::system(Vec::new(), support::no_reminder_ticks()).await;
    let (user, token) = support::sign_up(&client, &base, json!({"timezone": "America/New_York"})).await;
    System {
        base,
        client,
        user,
        token,
        running_state,
        _db: db,
    }
}

impl System {
    fn url(&self, path: &str) -> String {
        format!("{}/api/{}{path}", self.base, self.user)
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn complete(&self, id: &str, completed: bool) {
        let res = self
            .client
            .patch(self.url(&format!("/tasks/{id}/complete")))
            .bearer_auth(&self.token)
            .json(&json!({ "completed": completed }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    /// Polls the task list until `n` tasks exist (events are delivered asynchronously).
    async fn tasks_eventually(&self, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let page = self.get("/tasks?sort_by=due_at&sort_order=asc").await;
            let tasks = page["tasks"].as_array().unwrap().clone();
            if tasks.len() >= n {
                return tasks;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.get("/tasks?sort_by=due_at&sort_order=asc").await["tasks"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn settle(&self) {
        for _ in 0..300 {
            if self
                .running_state
                .store
                .outbox()
                .stats(&taskflow_host::relay::OutboxScope::All)
                .await
                .unwrap()
                .pending
                == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn completing_a_recurring_task_creates_the_next_one_exactly_once() {
    let sys = start().await;
    // 09:00 in New York, monthly from January 31st.
    let first: Value = sys
        .client
        .post(sys.url("/tasks"))
        .bearer_auth(&sys.token)
        .json(&json!({"title": "Pay rent", "priority": "high", "tags": ["home"], "due_at": "2027-01-31T14:00:00Z",
                      "recurrence": "monthly", "reminders": [{"minutes_before_due": 60}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap();

    let preview = sys.get(&format!("/tasks/{id}/occurrences?limit=3")).await;
    assert_eq!(preview["timezone"], "America/New_York");
    assert_eq!(
        preview["occurrences"],
        json!([
            "2027-02-28T14:00:00Z",
            "2027-03-31T13:00:00Z",
            "2027-04-30T13:00:00Z"
        ])
    );

    // Complete, reopen, complete again: one next occurrence, not two.
    sys.complete(id, true).await;
    sys.complete(id, false).await;
    sys.complete(id, true).await;
    sys.settle().await;
    let tasks = sys.tasks_eventually(2).await;
    assert_eq!(tasks.len(), 2, "{tasks:#?}");
    let next = &tasks[1];
    assert_eq!(next["title"], "Pay rent");
    assert_eq!(
        next["due_at"], "2027-02-28T14:00:00Z",
        "Feb 28th, 09:00 New York time"
    );
    assert_eq!(next["parent_task_id"], id);
    assert_eq!(next["priority"], "high");
    assert_eq!(next["tags"], json!(["home"]));
    assert_eq!(next["reminders"][0]["minutes_before_due"], 60);
    assert_eq!(next["reminders"][0]["remind_at"], "2027-02-28T13:00:00Z");
    assert_eq!(next["recurrence"]["occurrence"], 2);

    // After DST begins (14 March 2027) the wall clock stays at 09:00: 13:00 UTC.
    sys.complete(next["id"].as_str().unwrap(), true).await;
    sys.settle().await;
    let tasks = sys.tasks_eventually(3).await;
    assert_eq!(tasks[2]["due_at"], "2027-03-31T13:00:00Z");
    assert_eq!(
        tasks[2]["parent_task_id"], id,
        "every occurrence points to the series' first task"
    );

    // The audit trail has each event exactly once, newest first.
    let audit = sys.get("/audit?limit=200").await;
    let entries = audit["entries"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    let unique: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "no event audited twice");
    let count = |kind: &str| entries.iter().filter(|e| e["event_type"] == kind).count();
    assert_eq!(
        (count("task-created"), count("task-completed")),
        (3, 4),
        "three tasks, four completion changes"
    );
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let created = sys
        .get(&format!(
            "/audit?event_type=task-created&entity_id={}",
            tasks[1]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(created["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_series_with_a_count_stops_and_deleting_any_task_of_it_works() {
    let sys = start().await;
    let first: Value = sys
        .client
        .post(sys.url("/tasks"))
        .bearer_auth(&sys.token)
        .json(
            &json!({"title": "Twice", "due_at": "2027-01-04T14:00:00Z", "recurrence": "FREQ=WEEKLY;COUNT=2"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    sys.complete(first["id"].as_str().unwrap(), true).await;
    let tasks = sys.tasks_eventually(2).await;
    assert_eq!(tasks.len(), 2);
    sys.complete(tasks[1]["id"].as_str().unwrap(), true).await;
    sys.settle().await;
    assert_eq!(
        sys.get("/tasks").await["tasks"].as_array().unwrap().len(),
        2,
        "COUNT=2 means two tasks in all"
    );

    // Deleting the series' first task never fails, and the rest stay.
    let res = sys
        .client
        .delete(sys.url(&format!("/tasks/{}", first["id"].as_str().unwrap())))
        .bearer_auth(&sys.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(sys.tasks_eventually(1).await.len(), 1);
    sys.settle().await;
    let audit = sys
        .get(&format!("/audit?entity_id={}", first["id"].as_str().unwrap()))
        .await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_type"] == "task-deleted"),
        "the trail outlives the task"
    );
}

#[tokio::test]
async fn the_time_zone_is_settable_and_drives_the_schedule() {
    let sys = start().await;
    let res = sys
        .client
        .patch(format!("{}/api/auth/me", sys.base))
        .bearer_auth(&sys.token)
        .json(&json!({"timezone": "Asia/Karachi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let task: Value = sys
        .client
        .post(sys.url("/tasks"))
        .bearer_auth(&sys.token)
        .json(&json!({"title": "Standup", "due_at": "2027-03-01T04:00:00Z", "recurrence": "weekdays"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let preview = sys
        .get(&format!(
            "/tasks/{}/occurrences?limit=5",
            task["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(preview["timezone"], "Asia/Karachi");
    assert_eq!(
        preview["occurrences"],
        json!([
            "2027-03-02T04:00:00Z",
            "2027-03-03T04:00:00Z",
            "2027-03-04T04:00:00Z",
            "2027-03-05T04:00:00Z",
            "2027-03-08T04:00:00Z"
        ])
    );
    let res = sys
        .client
        .patch(format!("{}/api/auth/me", sys.base))
        .bearer_auth(&sys.token)
        .json(&json!({"timezone": "Mars/Olympus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let res = sys
        .client
        .get(sys.url(&format!(
            "/tasks/{}/occurrences?limit=0",
            task["id"].as_str().unwrap()
        )))
        .bearer_auth(&sys.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}
