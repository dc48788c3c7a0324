//! Trace context on the Dapr path: an event route runs its handler inside the envelope's trace. (That
//! the relay hands the row's `traceparent` to the sidecar is tested in taskflow-host.)

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use taskflow_bus::dapr::DaprApp;
use taskflow_bus::trace::{self, TraceContext};
use taskflow_bus::{Outcome, ReceivedEvent, Subscription, handler_fn};

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn an_event_route_runs_its_handler_in_the_envelopes_trace() {
    let seen: Arc<Mutex<Vec<Option<TraceContext>>>> = Arc::default();
    let record = seen.clone();
    let sub = Subscription::new(
        "audit",
        "task-created",
        handler_fn(move |_e: ReceivedEvent| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(trace::current());
                Outcome::Success
            }
        }),
    );
    let app = DaprApp::new("pubsub", vec![sub], None);
    let base = taskflow_test_support::consumer::serve(app.configure());
    let url = format!("{base}/events/audit/task-created");
    let client = reqwest::Client::new();
    for traceparent in [Some(PARENT), Some("not-a-traceparent"), None] {
        let mut envelope = json!({
            "specversion": "1.0", "id": "0190aa1b-0000-7000-8000-00000000abcd", "source": "backend-api",
            "type": "com.taskflow.task.created.v1", "datacontenttype": "application/json",
            "data": {"task": {}}, "topic": "task-created", "pubsubname": "pubsub",
        });
        if let Some(tp) = traceparent {
            envelope["traceparent"] = Value::from(tp);
        }
        let res = client
            .post(&url)
            .header("content-type", "application/cloudevents+json")
            .body(envelope.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let seen = seen.lock().unwrap().clone();
    let parent = TraceContext::parse(PARENT).unwrap();
    let child = seen[0].expect("the handler runs in a trace");
    assert_eq!(child.trace_id(), parent.trace_id());
    assert_ne!(child.span_id(), parent.span_id(), "the consumer's own span");
    for fresh in &seen[1..] {
        let fresh = fresh.expect("a new trace when the envelope has none or a bad one");
        assert_ne!(fresh.trace_id(), parent.trace_id());
    }
}
