//! Health, readiness, metrics, request ids and the OpenAPI document.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let health: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let res = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ready: Value = res.json().await.unwrap();
    assert_eq!(ready["checks"]["database"], "ok");

    app.user().await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("http_requests_total{method=\"POST\",route=\"/api/auth/register\",status=\"201\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "bad id with spaces");
    assert!(uuid::Uuid::parse_str(id).is_ok());
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = TestApp::spawn().await;
    let spec = app.openapi().await;
    let paths = spec["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/auth/register", vec!["post"]),
        ("/api/auth/login", vec!["post"]),
        ("/api/auth/me", vec!["get", "patch"]),
        ("/api/{user_id}/audit", vec!["get"]),
        ("/api/{user_id}/tasks/{task_id}/occurrences", vec!["get"]),
        ("/api/{user_id}/tasks", vec!["get", "post"]),
        (
            "/api/{user_id}/tasks/{task_id}",
            vec!["get", "put", "patch", "delete"],
        ),
        ("/api/{user_id}/tasks/{task_id}/complete", vec!["patch"]),
        ("/api/{user_id}/tasks/quick", vec!["post"]),
        ("/api/{user_id}/tasks/quick/preview", vec!["post"]),
        ("/api/{user_id}/recurrence/preview", vec!["post"]),
        ("/api/{user_id}/stats", vec!["get"]),
        ("/api/{user_id}/chat", vec!["post"]),
        ("/api/{user_id}/chat/stream", vec!["post"]),
        ("/api/{user_id}/conversations", vec!["get"]),
        ("/api/{user_id}/conversations/clear", vec!["delete"]),
        ("/api/{user_id}/conversations/{conversation_id}", vec!["delete"]),
        (
            "/api/{user_id}/conversations/{conversation_id}/messages",
            vec!["get"],
        ),
        ("/mcp", vec!["post"]),
        ("/health", vec!["get"]),
        ("/ready", vec!["get"]),
        ("/metrics", vec!["get"]),
    ] {
        for m in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(m)).is_some(),
                "{m} {path} missing from the spec"
            );
        }
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}
