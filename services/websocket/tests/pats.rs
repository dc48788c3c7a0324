//! Personal access tokens on the standalone service's streams (issue 20): websocket keeps no data, so
//! it resolves a `tf_pat_…` token by service invocation of backend-api's
//! `GET /internal/access-tokens/{sha256}` (here a stand-in sidecar answering for backend-api). A
//! token with `tasks:read` opens the stream, one without it gets 403 `insufficient_scope`, an unknown
//! one 401, and an unreachable backend-api 503; only the hash ever leaves the process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use taskflow_auth::{LocalTokenConfig, generate_pat};
use taskflow_bus::dapr::{DaprClient, DaprConfig};
use taskflow_runtime::cors::CorsPolicy;
use taskflow_websocket::{AuthConfig, DaprPats, HubConfig, StreamAccess, StreamConfig, standalone};

const SECRET: &[u8] = b"websocket-pat-test-secret-of-at-least-32-bytes";

/// What the stand-in sidecar knows: token hashes with their user and scopes.
type Known = Vec<(String, &'static str, Vec<&'static str>)>;

/// A stand-in for daprd's service invocation of backend-api's token route; records every path.
fn sidecar(known: Known, seen: Arc<Mutex<Vec<String>>>) -> u16 {
    let known = web::Data::new(known);
    let seen = web::Data::new(seen);
    let base = taskflow_test_support::consumer::serve(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(known).app_data(seen).route(
            "/v1.0/invoke/backend-api/method/internal/access-tokens/{hash}",
            web::get().to(
                |path: web::Path<String>,
                 req: actix_web::HttpRequest,
                 known: web::Data<Known>,
                 seen: web::Data<Arc<Mutex<Vec<String>>>>| async move {
                    seen.lock().unwrap().push(req.uri().to_string());
                    let hash = path.into_inner();
                    match known.iter().find(|(h, _, _)| *h == hash) {
                        Some((_, user, scopes)) => HttpResponse::Ok().json(
                            json!({"known": true, "token_id": "t1", "user_id": user, "scopes": scopes}),
                        ),
                        None => HttpResponse::Ok().json(json!({"known": false})),
                    }
                },
            ),
        );
    });
    base.rsplit(':').next().unwrap().parse().unwrap()
}

/// A standalone replica resolving tokens through the sidecar on `port`.
fn replica(port: u16) -> String {
    let auth = AuthConfig {
        local: LocalTokenConfig {
            secret: SECRET.to_vec(),
            ttl_days: 1,
        },
        jwks: None,
    };
    let dapr = DaprClient::new(DaprConfig {
        host: "127.0.0.1".into(),
        http_port: port,
        api_token: None,
        pubsub: "pubsub".into(),
        state_store: "statestore".into(),
    })
    .unwrap();
    let access =
        StreamAccess::in_memory(StreamConfig::default()).with_pats(DaprPats::new(dapr, "backend-api"));
    let service = standalone(&auth, &CorsPolicy::default(), &HubConfig::default(), access).unwrap();
    let routes = service.routes.unwrap();
    taskflow_test_support::consumer::serve(move |cfg: &mut web::ServiceConfig| routes(cfg))
}

async fn sse(base: &str, user: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/api/sse/{user}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_is_resolved_through_backend_api_and_held_to_tasks_read() {
    let (reader, writer, unknown) = (generate_pat(), generate_pat(), generate_pat());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let port = sidecar(
        vec![
            (reader.hash.clone(), "alice", vec!["tasks:read"]),
            (writer.hash.clone(), "alice", vec!["tasks:write", "assistant"]),
        ],
        seen.clone(),
    );
    let base = replica(port);

    let res = sse(&base, "alice", &reader.token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    drop(res);

    let res = sse(&base, "alice", &writer.token).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="tasks:read""#
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_scope");

    assert_eq!(sse(&base, "alice", &unknown.token).await.status(), 401);
    assert_eq!(
        sse(&base, "bob", &reader.token).await.status(),
        401,
        "another user's stream"
    );

    let paths = seen.lock().unwrap().clone();
    assert!(paths.iter().any(|p| p.ends_with(&reader.hash)), "{paths:?}");
    for secret in [&reader.token, &writer.token, &unknown.token] {
        assert!(
            paths.iter().all(|p| !p.contains(&secret["tf_pat_".len()..])),
            "the secret travelled: {paths:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_backend_api_is_503_not_401() {
    // Nothing listens on the discard port.
    let base = replica(9);
    let res = sse(&base, "alice", &generate_pat().token).await;
    assert_eq!(res.status(), 503);
}
