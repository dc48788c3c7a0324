//! The standalone websocket service, as deployed beside its sidecar, answers browsers on the origins
//! `CORS_ALLOWED_ORIGINS` lists: a frontend served from another origin opens the SSE stream there.
#![allow(clippy::unwrap_used)]

use actix_web::web;
use reqwest::Method;
use taskflow_auth::LocalTokenConfig;
use taskflow_runtime::cors::CorsPolicy;
use taskflow_websocket::{AuthConfig, HubConfig, StreamAccess, StreamConfig, standalone};

async fn serve(cors: &str) -> String {
    let auth = AuthConfig {
        local: LocalTokenConfig {
            secret: b"websocket-cors-test-secret-of-32-bytes".to_vec(),
            ttl_days: 1,
        },
        jwks: None,
    };
    let service = standalone(
        &auth,
        &CorsPolicy::parse(cors).unwrap(),
        &HubConfig::default(),
        StreamAccess::in_memory(StreamConfig::default()),
    )
    .unwrap();
    let routes = service.routes.unwrap();
    taskflow_test_support::consumer::serve(move |cfg: &mut web::ServiceConfig| routes(cfg))
}

async fn preflight(base: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, format!("{base}/api/sse/u1"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "last-event-id")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sse_stream_answers_only_the_listed_origins() {
    let base = serve("https://app.example.com").await;
    let allowed = preflight(&base, "https://app.example.com").await;
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // Without a token the stream is refused, and the page may read why.
    let refused = reqwest::Client::new()
        .get(format!("{base}/api/sse/u1"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );

    let other = preflight(&base, "https://evil.example").await;
    assert_ne!(other.status(), 204);
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let unset = preflight(&serve("").await, "https://app.example.com").await;
    assert!(unset.headers().get("access-control-allow-origin").is_none());
}
