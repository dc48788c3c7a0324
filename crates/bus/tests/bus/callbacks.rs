//! The app-side routes daprd calls, with envelopes shaped as daprd sends them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use serde_json::{Value, json};
use taskflow_bus::cron::{CronHandler, TickFuture};
use taskflow_bus::dapr::DaprApp;
use taskflow_bus::{Outcome, ReceivedEvent, Subscription, handler_fn};

use crate::support::Recorder;

struct CountingCron(Arc<AtomicUsize>);

impl CronHandler for CountingCron {
    fn tick(&self) -> TickFuture<'_> {
        Box::pin(async move {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

struct App {
    base: String,
    client: reqwest::Client,
    recorder: Recorder,
    ticks: Arc<AtomicUsize>,
}

async fn spawn(token: Option<&str>) -> App {
    let recorder = Recorder::default();
    let ticks = Arc::new(AtomicUsize::new(0));
    let subs = vec![
        Subscription::new("audit", "task-created", recorder.handler()),
        Subscription::new(
            "audit",
            "task-updated",
            handler_fn(|_e: ReceivedEvent| async { Outcome::Retry("db down".into()) }),
        ),
        Subscription::new(
            "audit",
            "task-deleted",
            handler_fn(|_e: ReceivedEvent| async { Outcome::Drop("obsolete".into()) }),
        ),
    ];
    let dapr = DaprApp::new("pubsub", subs, token.map(str::to_owned))
        .with_cron("reminder-cron", Arc::new(CountingCron(ticks.clone())));
    let base = taskflow_test_support::consumer::serve(dapr.configure());
    App {
        base,
        client: reqwest::Client::new(),
        recorder,
        ticks,
    }
}

fn envelope(data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": "0190aa1b-0000-7000-8000-00000000abcd",
        "source": "backend-api",
        "type": "com.taskflow.task.created.v1",
        "subject": "task-1",
        "time": "2026-11-23T10:00:00.123456Z",
        "datacontenttype": "application/json",
        "data": data,
        "topic": "task-created",
        "pubsubname": "pubsub",
        "traceid": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate": "",
        "partitionKey": "alice"
    })
}

impl App {
    async fn post(&self, path: &str, body: Vec<u8>, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/cloudevents+json")
            .body(body);
        if let Some(t) = token {
            req = req.header("dapr-api-token", t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn subscribe_lists_every_subscription_with_routes_and_dead_letters() {
    let app = spawn(None).await;
    let list: Value = app
        .client
        .get(format!("{}/dapr/subscribe", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert_eq!(
        list[0],
        json!({"pubsubname": "pubsub", "topic": "task-created", "routes": {"default": "/events/audit/task-created"}, "deadLetterTopic": "audit-dead-letters"})
    );
}

#[tokio::test]
async fn deliveries_answer_success_retry_or_drop() {
    let app = spawn(None).await;
    let body = envelope(json!({"task": {"title": "from dapr"}}))
        .to_string()
        .into_bytes();
    assert_eq!(
        app.post("/events/audit/task-created", body.clone(), None).await,
        (200, json!({"status": "SUCCESS"}))
    );
    let seen = app.recorder.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.data["task"]["title"], "from dapr");
    assert_eq!(
        seen.traceparent.as_deref(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert_eq!(seen.topic.as_deref(), Some("task-created"));

    let mut b64 = envelope(Value::Null);
    b64.as_object_mut().unwrap().remove("data");
    b64["data_base64"] =
        json!(base64::engine::general_purpose::STANDARD.encode(br#"{"task":{"title":"binary"}}"#));
    assert_eq!(
        app.post("/events/audit/task-created", b64.to_string().into_bytes(), None)
            .await
            .1["status"],
        "SUCCESS"
    );
    assert_eq!(app.recorder.titles(), ["from dapr", "binary"]);

    assert_eq!(
        app.post("/events/audit/task-updated", body.clone(), None).await,
        (200, json!({"status": "RETRY"}))
    );
    assert_eq!(
        app.post("/events/audit/task-deleted", body, None).await,
        (200, json!({"status": "DROP"}))
    );
}

#[tokio::test]
async fn malformed_deliveries_are_dropped_not_crashed_on() {
    let app = spawn(None).await;
    for bad in [
        b"not json".to_vec(),
        b"[]".to_vec(),
        br#"{"id":"x"}"#.to_vec(),
        Vec::new(),
        vec![0xff, 0xfe],
    ] {
        assert_eq!(
            app.post("/events/audit/task-created", bad, None).await,
            (200, json!({"status": "DROP"}))
        );
    }
    assert!(app.recorder.titles().is_empty());
    let (status, _) = app
        .post("/events/nobody/task-created", b"{}".to_vec(), None)
        .await;
    assert_eq!(status, 404, "an unknown route tells daprd to drop");
}

#[tokio::test]
async fn the_cron_binding_answers_the_probe_and_ticks() {
    let app = spawn(None).await;
    let probe = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/reminder-cron", app.base))
        .send()
        .await
        .unwrap();
    assert!(probe.status().is_success());
    for _ in 0..2 {
        let res = app
            .client
            .post(format!("{}/reminder-cron", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    assert_eq!(app.ticks.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn with_an_app_token_only_the_sidecar_gets_in() {
    let app = spawn(Some("s3cret")).await;
    let body = envelope(json!({"task": {"title": "x"}})).to_string().into_bytes();
    assert_eq!(
        app.post("/events/audit/task-created", body.clone(), None).await.0,
        401
    );
    assert_eq!(
        app.post("/events/audit/task-created", body.clone(), Some("wrong"))
            .await
            .0,
        401
    );
    assert_eq!(
        app.post("/events/audit/task-created", body, Some("s3cret"))
            .await
            .0,
        200
    );
    let sub = app
        .client
        .get(format!("{}/dapr/subscribe", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status(), 401);
    let tick = app
        .client
        .post(format!("{}/reminder-cron", app.base))
        .header("dapr-api-token", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(tick.status(), 200);
    let tick = app
        .client
        .post(format!("{}/reminder-cron", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(tick.status(), 401);
    assert_eq!(app.ticks.load(Ordering::SeqCst), 1);
    assert_eq!(app.recorder.titles(), ["x"]);
}
