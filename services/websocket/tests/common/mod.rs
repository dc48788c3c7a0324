//! Shared set-up of the replay and ticket tests: the SSE endpoint on a free port over a hub, large
//! `task-updated` events delivered through the service's own subscription, and an SSE reader.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use chrono::Utc;
use serde_json::Value;
use taskflow_auth::{Authenticator, LocalTokenConfig};
use taskflow_bus::{EventHandler, ReceivedEvent};
use taskflow_domain::{Category, Priority, Task, TaskChanges, TaskEvent};
use taskflow_websocket::{Hub, StreamAccess, StreamConfig, subscriptions};
use uuid::Uuid;

pub const SECRET: &[u8] = b"websocket-replay-test-secret-of-32-bytes";

pub struct Service {
    pub base: String,
    pub hub: Arc<Hub>,
    pub auth: Authenticator,
    updated: Arc<dyn EventHandler>,
}

/// The endpoints over `hub`, served on a free port.
pub fn serve(hub: Arc<Hub>) -> Service {
    serve_with(hub, StreamAccess::in_memory(StreamConfig::default()))
}

/// The endpoints over `hub`, admitting connections as `access` says.
pub fn serve_with(hub: Arc<Hub>, access: StreamAccess) -> Service {
    let auth = Authenticator::new(
        LocalTokenConfig {
            secret: SECRET.to_vec(),
            ttl_days: 1,
        },
        None,
    );
    let updated = subscriptions(hub.clone())
        .into_iter()
        .find(|s| s.topic == "task-updated")
        .unwrap()
        .handler;
    let endpoints = taskflow_websocket::configure(hub.clone(), access);
    let data = web::Data::new(auth.clone());
    let base = taskflow_test_support::consumer::serve(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data);
        endpoints(cfg);
    });
    Service {
        base,
        hub,
        auth,
        updated,
    }
}

fn task(user_id: &str, description: String, version: i64) -> Task {
    let now = Utc::now();
    Task {
        id: Uuid::nil(),
        user_id: user_id.to_owned(),
        title: "Big".into(),
        description: Some(description),
        priority: Priority::Medium,
        category: Category::Other,
        tags: Vec::new(),
        completed: false,
        completed_at: None,
        due_at: None,
        recurrence: None,
        reminders: Vec::new(),
        parent_task_id: None,
        created_at: now,
        updated_at: now,
        version,
    }
}

impl Service {
    pub fn token(&self, user_id: &str) -> String {
        self.auth.issue(user_id, None, "Tester").unwrap().token
    }

    /// Delivers a `task-updated` event that rewrites a `chars`-character description (the largest
    /// a user may store is 10 000), as the bus would; returns its event id.
    pub async fn big_update(&self, user_id: &str, n: usize, chars: usize) -> String {
        let letter = |k: usize| char::from(b'a' + u8::try_from(k % 26).unwrap());
        let before = task(user_id, letter(n).to_string().repeat(chars), n as i64);
        let after = task(user_id, letter(n + 1).to_string().repeat(chars), n as i64 + 1);
        let changes = TaskChanges {
            task: after,
            changed: vec!["description"],
            reminders_replaced: false,
        };
        let event = TaskEvent::for_changes(&before, &changes, Utc::now())
            .into_iter()
            .next()
            .unwrap();
        let id = event.event_id.to_string();
        let received = ReceivedEvent {
            id: id.clone(),
            source: "backend-api".into(),
            event_type: "com.taskflow.task.updated.v1".into(),
            subject: None,
            time: None,
            topic: Some("task-updated".into()),
            traceparent: None,
            data: serde_json::to_value(&event).unwrap(),
        };
        self.updated.handle(&received).await;
        id
    }

    /// Opens `user_id`'s SSE stream resuming after `last_event_id`; returns once the server answered.
    pub async fn sse(&self, user_id: &str, last_event_id: &str) -> reqwest::Response {
        let res = reqwest::Client::new()
            .get(format!("{}/api/sse/{user_id}", self.base))
            .bearer_auth(self.token(user_id))
            .header("last-event-id", last_event_id)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res
    }
}

/// One SSE event: `id:` (empty if none), `event:`, and `data:` as JSON.
pub type SseEvent = (String, String, Value);

/// Reads SSE frames until `n` events (comments are skipped) have arrived.
pub async fn sse_events(res: &mut reqwest::Response, n: usize) -> Vec<SseEvent> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk())
            .await
            .expect("SSE data within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_owned)
            };
            if let (Some(event), Some(data)) = (field("event: "), field("data: ")) {
                events.push((
                    field("id: ").unwrap_or_default(),
                    event,
                    serde_json::from_str(&data).unwrap(),
                ));
            }
        }
    }
    events
}

/// The resident set of this process (the service runs in it), in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}
