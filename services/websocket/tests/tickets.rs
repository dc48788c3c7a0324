//! Stream tickets on the SSE endpoint (issue 22): a ticket works once, only for its own user's
//! stream and only until it expires; `?token=` is refused unless `STREAM_TOKEN_IN_URL` allows it;
//! under Dapr every replica shares the ledger of spent tickets in the state store (against the bus's
//! fake sidecar, which keeps the Redis state store's first-write rules), and an unreachable store
//! refuses tickets (503) rather than letting one be used once per replica.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
// The bus's fake sidecar (Redis state store rules), shared rather than copied.
#[path = "../../../crates/bus/tests/bus/support.rs"]
#[allow(dead_code)]
mod support;

use std::sync::Arc;

use actix_web::web;
use serde_json::Value;
use taskflow_auth::{Authenticator, LocalTokenConfig};
use taskflow_bus::dapr::{DaprClient, DaprConfig};
use taskflow_runtime::cors::CorsPolicy;
use taskflow_websocket::{AuthConfig, DaprLedger, Hub, HubConfig, StreamAccess, StreamConfig, standalone};

use crate::common::SECRET;
use crate::support::FakeSidecar;

fn authenticator() -> Authenticator {
    Authenticator::new(
        LocalTokenConfig {
            secret: SECRET.to_vec(),
            ttl_days: 1,
        },
        None,
    )
}

fn ticket(user: &str) -> String {
    authenticator().issue_ticket(user).unwrap().ticket
}

async fn sse(base: &str, path_user: &str, query: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/api/sse/{path_user}?{query}"))
        .send()
        .await
        .unwrap()
}

/// Asserts the standard error shape with `code`; returns the message.
async fn error(res: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_ticket_opens_the_stream_once() {
    let service = common::serve(Hub::new(HubConfig::default()));
    let t = ticket("u1");
    let first = sse(&service.base, "u1", &format!("ticket={t}")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "text/event-stream");
    let message = error(
        sse(&service.base, "u1", &format!("ticket={t}")).await,
        401,
        "unauthorized",
    )
    .await;
    assert!(message.contains("already used"), "{message}");
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    let service = common::serve(Hub::new(HubConfig::default()));
    let old = authenticator().issue_ticket_for("u1", -60).unwrap().ticket;
    error(
        sse(&service.base, "u1", &format!("ticket={old}")).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn another_users_ticket_does_not_open_my_stream_and_is_not_spent() {
    let service = common::serve(Hub::new(HubConfig::default()));
    let bobs = ticket("bob");
    error(
        sse(&service.base, "alice", &format!("ticket={bobs}")).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        sse(&service.base, "bob", &format!("ticket={bobs}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_access_token_is_not_a_ticket_and_a_ticket_is_not_a_bearer_token() {
    let service = common::serve(Hub::new(HubConfig::default()));
    let token = service.token("u1");
    error(
        sse(&service.base, "u1", &format!("ticket={token}")).await,
        401,
        "unauthorized",
    )
    .await;
    let as_bearer = reqwest::Client::new()
        .get(format!("{}/api/sse/u1", service.base))
        .bearer_auth(ticket("u1"))
        .send()
        .await
        .unwrap();
    error(as_bearer, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_token_in_the_url_is_refused_by_default_and_says_what_to_do() {
    let service = common::serve(Hub::new(HubConfig::default()));
    let token = service.token("u1");
    let message = error(
        sse(&service.base, "u1", &format!("token={token}")).await,
        401,
        "unauthorized",
    )
    .await;
    assert!(
        message.contains("POST /api/{user_id}/stream-tickets"),
        "{message}"
    );
    assert!(message.contains("Authorization"), "{message}");
    // The header still works.
    let header = reqwest::Client::new()
        .get(format!("{}/api/sse/u1", service.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(header.status(), 200);
}

#[tokio::test]
async fn stream_token_in_url_re_enables_the_legacy_token_parameter() {
    let legacy = StreamAccess::in_memory(StreamConfig { token_in_url: true });
    let service = common::serve_with(Hub::new(HubConfig::default()), legacy);
    let token = service.token("u1");
    assert_eq!(
        sse(&service.base, "u1", &format!("token={token}")).await.status(),
        200
    );
}

#[tokio::test]
async fn a_ticket_resumes_after_last_event_id_from_the_query() {
    let service = common::serve(Hub::new(HubConfig::default()));
    let first = service.big_update("u1", 0, 10).await;
    let second = service.big_update("u1", 1, 10).await;
    let mut res = sse(
        &service.base,
        "u1",
        &format!("ticket={}&last_event_id={first}", ticket("u1")),
    )
    .await;
    assert_eq!(res.status(), 200);
    let events = common::sse_events(&mut res, 1).await;
    assert_eq!(events[0].0, second);
}

/// One standalone websocket replica beside `sidecar` (or an unreachable one).
fn replica(sidecar: Option<&FakeSidecar>) -> String {
    let auth = AuthConfig {
        local: LocalTokenConfig {
            secret: SECRET.to_vec(),
            ttl_days: 1,
        },
        jwks: None,
    };
    let config = match sidecar {
        Some(s) => s.config(None),
        None => DaprConfig {
            host: "127.0.0.1".into(),
            // Nothing listens on the discard port.
            http_port: 9,
            api_token: None,
            pubsub: "pubsub".into(),
            state_store: "statestore".into(),
        },
    };
    // The ledger in `statestore`, whatever the sidecar's default store (websocket's is per pod).
    let dapr = DaprClient::new(DaprConfig {
        state_store: "statestore-replica".into(),
        ..config
    })
    .unwrap();
    let ledger = DaprLedger::new(&dapr, "statestore").unwrap();
    let access = StreamAccess::new(Arc::new(ledger), StreamConfig::default());
    let service = standalone(&auth, &CorsPolicy::default(), &HubConfig::default(), access).unwrap();
    let routes = service.routes.unwrap();
    taskflow_test_support::consumer::serve(move |cfg: &mut web::ServiceConfig| routes(cfg))
}

#[tokio::test]
async fn under_dapr_a_ticket_works_once_across_replicas() {
    let sidecar = FakeSidecar::start().await;
    let (a, b) = (replica(Some(&sidecar)), replica(Some(&sidecar)));
    let t = ticket("u1");
    assert_eq!(sse(&a, "u1", &format!("ticket={t}")).await.status(), 200);
    error(sse(&b, "u1", &format!("ticket={t}")).await, 401, "unauthorized").await;
    error(sse(&a, "u1", &format!("ticket={t}")).await, 401, "unauthorized").await;

    let jti = authenticator().verify_ticket(&t).unwrap().jti;
    let saves: Vec<_> = sidecar
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/v1.0/state/statestore")
        .cloned()
        .collect();
    assert_eq!(
        saves.len(),
        1,
        "replays are answered by a read, not a refused save"
    );
    let item = &saves[0].body[0];
    assert_eq!(item["key"], format!("stream-ticket:{jti}"));
    assert_eq!(item["etag"], "0");
    assert_eq!(item["options"]["concurrency"], "first-write");
    let ttl: u64 = item["metadata"]["ttlInSeconds"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (55..=65).contains(&ttl),
        "the ledger keeps the id for the ticket's life: {ttl}"
    );
    assert!(
        sidecar.state_refusals().is_empty(),
        "no refused saves (409) for daprd's circuit breaker to count"
    );
}

#[tokio::test]
async fn under_dapr_an_unreachable_state_store_refuses_tickets() {
    let base = replica(None);
    let message = error(
        sse(&base, "u1", &format!("ticket={}", ticket("u1"))).await,
        503,
        "unavailable",
    )
    .await;
    assert!(message.contains("state store"), "{message}");
}

#[tokio::test]
async fn a_full_in_memory_ledger_refuses_new_tickets() {
    let access = StreamAccess::new(
        Arc::new(taskflow_websocket::MemoryLedger::new(1)),
        StreamConfig::default(),
    );
    let service = common::serve_with(Hub::new(HubConfig::default()), access);
    assert_eq!(
        sse(&service.base, "u1", &format!("ticket={}", ticket("u1")))
            .await
            .status(),
        200
    );
    // Capacity 1, the first ticket still unexpired: a new one is refused, the ledger does not grow.
    error(
        sse(&service.base, "u1", &format!("ticket={}", ticket("u1"))).await,
        503,
        "unavailable",
    )
    .await;
}
