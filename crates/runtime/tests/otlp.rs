//! The OTLP exporter against a stand-in collector: closed `request` and `event` spans arrive as
//! OTLP/JSON with the W3C ids they carried, their parent, kind and attributes; untraced spans do not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;
use taskflow_runtime::otlp::{self, OtlpConfig};
use tracing_subscriber::layer::SubscriberExt;

type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

async fn collector() -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let server = HttpServer::new(move || {
        let sink = sink.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |req: HttpRequest, body: web::Json<Value>| {
                let sink = sink.clone();
                async move {
                    let key = req
                        .headers()
                        .get("x-api-key")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    sink.lock().unwrap().push((key, body.into_inner()));
                    HttpResponse::Ok().json(serde_json::json!({}))
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/v1/traces", server.addrs()[0]);
    tokio::spawn(server.run());
    (url, received)
}

#[tokio::test]
async fn traced_spans_reach_the_collector_with_their_ids() {
    let (url, received) = collector().await;
    let (layer, handle) = otlp::spawn(OtlpConfig {
        url,
        headers: vec![("x-api-key".into(), "secret".into())],
        service_name: "otlp-test".into(),
    })
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!(
            "request",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "1111111111111111",
            parent_span_id = "00f067aa0ba902b7",
            route = "/api/{user_id}/tasks",
            user_id = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        request.record("user_id", "alice");
        request.record("status", 503);
        drop(request);
        let event = tracing::info_span!(
            "event",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id = "2222222222222222",
            parent_span_id = "1111111111111111",
            topic = "task-created",
        );
        drop(event);
        drop(tracing::info_span!("untraced", route = "/nothing"));
    });
    let h = handle.clone();
    tokio::task::spawn_blocking(move || h.flush(Duration::from_secs(10)))
        .await
        .unwrap();

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "one batch");
    let (key, body) = &received[0];
    assert_eq!(key.as_deref(), Some("secret"), "configured headers are sent");
    let resource = &body["resourceSpans"][0];
    assert_eq!(
        resource["resource"]["attributes"][0],
        serde_json::json!({"key": "service.name", "value": {"stringValue": "otlp-test"}})
    );
    let spans = resource["scopeSpans"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "only spans with W3C ids are exported: {spans:?}");
    let request = &spans[0];
    assert_eq!(request["name"], "request");
    assert_eq!(request["kind"], 2);
    assert_eq!(request["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(request["spanId"], "1111111111111111");
    assert_eq!(request["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(request["status"]["code"], 2, "a 5xx is an error");
    let attrs: Vec<(String, String)> = request["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["key"].as_str().unwrap().to_owned(),
                a["value"]["stringValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(attrs.contains(&("user_id".into(), "alice".into())), "{attrs:?}");
    assert!(attrs.contains(&("route".into(), "/api/{user_id}/tasks".into())));
    let start: u128 = request["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u128 = request["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(start > 0 && end >= start);
    let event = &spans[1];
    assert_eq!(
        (event["name"].as_str(), event["kind"].as_u64()),
        (Some("event"), Some(5))
    );
    assert_eq!(event["parentSpanId"], "1111111111111111");
}
