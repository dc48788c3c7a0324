//! W3C trace context end to end: the `traceparent` of a REST call follows its change into the
//! outbox, the CloudEvent, the consumers' spans and log lines, the audit row, and the next
//! occurrence of a recurring task (whose own event continues the same trace).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use taskflow_bus::ReceivedEvent;
use taskflow_bus::trace::TraceContext;

use crate::support;

const CREATE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const COMPLETE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-b7ad6b7169203331-01")
}

/// Log lines as JSON from every thread (actix's workers and the test's runtime), for the whole test
/// process; each test looks only at its own trace ids.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured_logs() -> Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        logs
    })
    .clone()
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

fn trace_of(event: &ReceivedEvent) -> String {
    let header = event
        .traceparent
        .as_deref()
        .expect("the CloudEvent carries a traceparent");
    TraceContext::parse(header)
        .expect("a valid traceparent")
        .trace_id()
}

async fn eventually<T>(mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened")
}

#[tokio::test]
async fn a_traceparent_follows_the_change_to_events_audit_logs_and_the_next_occurrence() {
    let logs = captured_logs();

    let (watch, seen) = support::recorder(&["task-created", "task-completed"]);
    let sys = support::system(watch, support::no_reminder_ticks()).await;
    let (base, client) = (sys.base.clone(), sys.client.clone());
    let (user, token) = sys.sign_up(json!({})).await;

    let res = client
        .post(format!("{base}/api/{user}/tasks"))
        .bearer_auth(&token)
        .header("traceparent", traceparent(CREATE_TRACE))
        .json(&json!({"title": "Water plants", "due_at": "2027-03-01T09:00:00Z", "recurrence": "weekly"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    let first_id = first["id"].as_str().unwrap().to_owned();

    // The CloudEvent the consumers received carries the caller's trace (with our own span id).
    let created = eventually(async || {
        let seen = seen.lock().unwrap();
        seen.iter()
            .find(|e| e.subject.as_deref() == Some(&first_id))
            .cloned()
    })
    .await;
    assert_eq!(trace_of(&created), CREATE_TRACE);
    assert_ne!(
        created.traceparent.as_deref(),
        Some(traceparent(CREATE_TRACE).as_str()),
        "the event's parent is the server's span, not the caller's"
    );

    // The audit row carries the trace id.
    let audit_url = format!("{base}/api/{user}/audit?entity_id={first_id}&event_type=task-created");
    let entry = eventually(async || {
        let page: Value = client
            .get(&audit_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["entries"].as_array().and_then(|e| e.first().cloned())
    })
    .await;
    assert_eq!(entry["trace_id"], CREATE_TRACE);

    // Completing it in another trace: the next occurrence's event continues that trace.
    let res = client
        .patch(format!("{base}/api/{user}/tasks/{first_id}/complete"))
        .bearer_auth(&token)
        .header("traceparent", traceparent(COMPLETE_TRACE))
        .json(&json!({"completed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let next = eventually(async || {
        let seen = seen.lock().unwrap();
        seen.iter()
            .find(|e| {
                e.event_type.ends_with("task.created.v1") && e.subject.as_deref() != Some(first_id.as_str())
            })
            .cloned()
    })
    .await;
    let next_id = next.subject.clone().unwrap();
    assert_eq!(
        next.data["task"]["parent_task_id"], first_id,
        "the event is the next occurrence"
    );
    assert_eq!(
        trace_of(&next),
        COMPLETE_TRACE,
        "recurring wrote the next occurrence inside the completion's trace"
    );
    let completed = {
        let seen = seen.lock().unwrap();
        seen.iter()
            .find(|e| e.event_type.ends_with("task.completed.v1"))
            .cloned()
            .unwrap()
    };
    assert_eq!(trace_of(&completed), COMPLETE_TRACE);
    let audit_url = format!("{base}/api/{user}/audit?entity_id={next_id}&event_type=task-created");
    let entry = eventually(async || {
        let page: Value = client
            .get(&audit_url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["entries"].as_array().and_then(|e| e.first().cloned())
    })
    .await;
    assert_eq!(entry["trace_id"], COMPLETE_TRACE);

    // The request's access-log line carries its trace id and the caller, never the token.
    let lines = logs.lines();
    let access = lines
        .iter()
        .find(|l| {
            l["fields"]["message"] == "request"
                && l["span"]["trace_id"] == CREATE_TRACE
                && l["span"]["route"] == "/api/{user_id}/tasks"
        })
        .expect("the create's access-log line is in its trace");
    assert_eq!(access["span"]["user_id"], user.as_str());
    assert_eq!(access["fields"]["status"], 201);
    assert!(access["span"]["request_id"].is_string());
    assert!(
        !lines.iter().any(|l| l.to_string().contains(&token)),
        "no log line holds the bearer token"
    );

    // The consumers' log lines carry the trace: their deliveries, and the WebSocket push.
    let in_trace = |line: &Value, trace: &str, subscriber: &str| {
        line["span"]["trace_id"] == trace && line["span"]["subscriber"] == subscriber
    };
    let pushed = lines
        .iter()
        .find(|l| l["fields"]["message"] == "pushed" && in_trace(l, COMPLETE_TRACE, "websocket"));
    assert!(
        pushed.is_some(),
        "the WebSocket push of the completion logs its trace id"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["name"] == "event" && in_trace(l, CREATE_TRACE, "websocket")),
        "deliveries of the created event log within its trace"
    );
}

#[tokio::test]
async fn a_malformed_traceparent_starts_a_new_trace_and_never_fails_the_request() {
    // Same process-wide log capture as the other test, whichever runs first.
    captured_logs();
    let (watch, seen) = support::recorder(&["task-created"]);
    let sys = support::system(watch, support::no_reminder_ticks()).await;
    let (base, client) = (sys.base.clone(), sys.client.clone());
    let (user, token) = sys.sign_up(json!({})).await;
    for (title, header) in [
        ("bad", Some("00-ZZZ-not-a-trace")),
        (
            "zeros",
            Some("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
        ),
        ("none", None),
    ] {
        let mut req = client
            .post(format!("{base}/api/{user}/tasks"))
            .bearer_auth(&token)
            .json(&json!({ "title": title }));
        if let Some(h) = header {
            req = req.header("traceparent", h);
        }
        assert_eq!(req.send().await.unwrap().status(), 201, "{title}");
    }
    let events = eventually(async || {
        let seen = seen.lock().unwrap();
        (seen.len() >= 3).then(|| seen.clone())
    })
    .await;
    let traces: std::collections::HashSet<String> = events.iter().map(trace_of).collect();
    assert_eq!(traces.len(), 3, "each request got a fresh, valid trace");
    assert!(!traces.contains("00000000000000000000000000000000"));
}

#[tokio::test]
async fn a_chat_turns_tool_calls_continue_the_requests_trace() {
    captured_logs();
    const CHAT_TRACE: &str = "5e0c2d8e9a1b4c7d8e9f0a1b2c3d4e5f";
    const STREAM_TRACE: &str = "6f1d3e9fab2c5d8e9fa0b1c2d3e4f5a6";
    let sys = support::system(Vec::new(), support::no_reminder_ticks()).await;
    let (base, client) = (sys.base.clone(), sys.client.clone());
    let (user, token) = sys.sign_up(json!({})).await;
    // The plain chat, and the streaming chat whose turn runs on a spawned task.
    for (path, trace) in [("chat", CHAT_TRACE), ("chat/stream", STREAM_TRACE)] {
        let res = client
            .post(format!("{base}/api/{user}/{path}"))
            .bearer_auth(&token)
            .header("traceparent", traceparent(trace))
            .json(&json!({"message": format!("add high priority task trace the {path} due tomorrow #ci")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body = res.text().await.unwrap();
        let result: Value = if path == "chat" {
            serde_json::from_str::<Value>(&body).unwrap()["tool_calls"][0]["result"].clone()
        } else {
            let data = body
                .split("\n\n")
                .find(|f| f.starts_with("event: tool_call"))
                .and_then(|f| f.lines().find_map(|l| l.strip_prefix("data: ")))
                .expect("a tool_call event");
            serde_json::from_str::<Value>(data).unwrap()["result"].clone()
        };
        let task_id = result["task"]["id"]
            .as_str()
            .expect("the assistant created a task")
            .to_owned();
        let audit_url = format!("{base}/api/{user}/audit?entity_id={task_id}&event_type=task-created");
        let entry = eventually(async || {
            let page: Value = client
                .get(&audit_url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["entries"].as_array().and_then(|e| e.first().cloned())
        })
        .await;
        assert_eq!(
            entry["trace_id"], trace,
            "{path}: the tool's write is in the chat request's trace"
        );
    }
}
