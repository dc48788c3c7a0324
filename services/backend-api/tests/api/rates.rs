//! Per-user request rates (issue 22, item 4): task writes, chat turns and MCP calls each draw from
//! the caller's own token bucket; a spent bucket answers 429 `rate_limited` with `Retry-After`, and
//! other users and reads are not affected. (Tiny buckets here; the defaults are far above a human.)

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use taskflow_backend_api::ApiConfig;
use taskflow_backend_api::rate_limit::{Rate, RedisTarget};
use taskflow_test_support::redis_for_test;

use crate::helpers::{TestApp, TestUser, assert_error};

const MINUTE: Duration = Duration::from_secs(60);

/// `burst` requests, then one a minute: a test never sees a refill.
fn tiny(burst: u32) -> Rate {
    Rate::per(1, MINUTE, burst)
}

async fn assert_throttled(res: reqwest::Response) {
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", None).await;
}

async fn create(app: &TestApp, user: &TestUser) -> reqwest::Response {
    app.post_json(
        &format!("/api/{}/tasks", user.id),
        Some(&user.token),
        &json!({"title": "t"}),
    )
    .await
}

async fn mcp(app: &TestApp, user: &TestUser) -> reqwest::Response {
    app.client
        .post(app.url("/mcp"))
        .bearer_auth(&user.token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap()
}

async fn chat(app: &TestApp, user: &TestUser, path: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/{}/{path}", user.id),
        Some(&user.token),
        &json!({"message": "hello"}),
    )
    .await
}

#[tokio::test]
async fn task_writes_beyond_the_users_rate_get_429_with_retry_after() {
    let app = TestApp::spawn_configured(|c| c.auth_limits.rates.writes = tiny(3)).await;
    let alice = app.user().await;
    let task = app.create_task(&alice, json!({"title": "first"})).await;
    let id = task["id"].as_str().unwrap();
    let res = app
        .client
        .patch(app.url(&format!("/api/{}/tasks/{id}", alice.id)))
        .bearer_auth(&alice.token)
        .json(&json!({"title": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(create(&app, &alice).await.status(), StatusCode::CREATED);
    // The bucket is spent: every kind of write is refused, before any work.
    assert_throttled(create(&app, &alice).await).await;
    assert_throttled(
        app.delete(&format!("/api/{}/tasks/{id}", alice.id), &alice.token)
            .await,
    )
    .await;
    let quick = app
        .post_json(
            &format!("/api/{}/tasks/quick", alice.id),
            Some(&alice.token),
            &json!({"text": "call mum"}),
        )
        .await;
    assert_throttled(quick).await;
    // Reads are not writes, and another user has a bucket of their own.
    assert_eq!(
        app.get(&format!("/api/{}/tasks/{id}", alice.id), &alice.token)
            .await
            .status(),
        StatusCode::OK
    );
    let bob = app.user().await;
    assert_eq!(create(&app, &bob).await.status(), StatusCode::CREATED);
    // Nothing was written by the refused requests.
    assert_eq!(
        app.list(&alice, "limit=100").await["tasks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn chat_turns_beyond_the_users_rate_get_429() {
    let app = TestApp::spawn_configured(|c| c.auth_limits.rates.chat = tiny(2)).await;
    let alice = app.user().await;
    assert_eq!(chat(&app, &alice, "chat").await.status(), StatusCode::OK);
    assert_eq!(chat(&app, &alice, "chat/stream").await.status(), StatusCode::OK);
    assert_throttled(chat(&app, &alice, "chat").await).await;
    assert_throttled(chat(&app, &alice, "chat/stream").await).await;
    let bob = app.user().await;
    assert_eq!(chat(&app, &bob, "chat").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn mcp_calls_beyond_the_users_rate_get_429() {
    let app = TestApp::spawn_configured(|c| c.auth_limits.rates.mcp = tiny(2)).await;
    let alice = app.user().await;
    for _ in 0..2 {
        let res = mcp(&app, &alice).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert!(body["result"]["tools"].is_array(), "{body}");
    }
    assert_throttled(mcp(&app, &alice).await).await;
    let bob = app.user().await;
    assert_eq!(mcp(&app, &bob).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unauthenticated_request_spends_nobodys_bucket() {
    let app = TestApp::spawn_configured(|c| c.auth_limits.rates.writes = tiny(1)).await;
    let alice = app.user().await;
    for _ in 0..5 {
        let res = app
            .post_json(&format!("/api/{}/tasks", alice.id), None, &json!({"title": "t"}))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(create(&app, &alice).await.status(), StatusCode::CREATED);
}

/// Two replicas on one Redis share a user's bucket: N replicas do not give N budgets.
#[tokio::test]
async fn replicas_share_a_users_bucket_through_redis() {
    let Some(url) = redis_for_test("per-user rates shared by replicas") else {
        return;
    };
    let target = RedisTarget::parse(&url, None).unwrap();
    let prefix = format!("taskflow-test:auth-rate:{}", uuid::Uuid::new_v4().simple());
    let config = move |c: &mut ApiConfig| {
        c.auth_limits.redis = Some(target.clone());
        c.auth_limits.redis_key_prefix = prefix.clone();
        c.auth_limits.redis_timeout = Duration::from_secs(2);
        c.auth_limits.rates.writes = tiny(2);
    };
    let one = TestApp::spawn_configured(config.clone()).await;
    let two = one.replica(config).await;
    let alice = one.user().await;
    assert_eq!(create(&one, &alice).await.status(), StatusCode::CREATED);
    assert_eq!(create(&two, &alice).await.status(), StatusCode::CREATED);
    assert_throttled(create(&one, &alice).await).await;
    assert_throttled(create(&two, &alice).await).await;
}

/// Every operation behind a bucket answers 429 once it is spent, and `/openapi.json` says so (a
/// client generated from the document must expect it; schemathesis fails on undocumented statuses).
#[tokio::test]
async fn every_rated_operation_answers_a_documented_429() {
    let app = TestApp::spawn_configured(|c| {
        c.auth_limits.rates.writes = tiny(1);
        c.auth_limits.rates.chat = tiny(1);
        c.auth_limits.rates.mcp = tiny(1);
    })
    .await;
    let doc = app.openapi().await;
    let task = "/api/{user_id}/tasks/{task_id}";
    let operations = [
        ("post", "/api/{user_id}/tasks", json!({"title": "t"})),
        ("put", task, json!({"title": "t"})),
        ("patch", task, json!({"title": "t"})),
        ("delete", task, Value::Null),
        ("patch", "/api/{user_id}/tasks/{task_id}/complete", Value::Null),
        ("post", "/api/{user_id}/tasks/quick", json!({"text": "call mum"})),
        (
            "post",
            "/api/{user_id}/tasks/quick/preview",
            json!({"text": "call mum"}),
        ),
        (
            "post",
            "/api/{user_id}/recurrence/preview",
            json!({"recurrence": "daily"}),
        ),
        ("post", "/api/{user_id}/stream-tickets", Value::Null),
        ("post", "/api/{user_id}/chat", json!({"message": "hello"})),
        ("post", "/api/{user_id}/chat/stream", json!({"message": "hello"})),
        (
            "post",
            "/mcp",
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        ),
    ];
    for (method, template, body) in operations {
        // A user of their own per operation: each starts with a full bucket of one.
        let user = app.user().await;
        let path = template
            .replace("{user_id}", &user.id)
            .replace("{task_id}", &uuid::Uuid::new_v4().to_string());
        let send = || {
            let mut request = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&path))
                .bearer_auth(&user.token)
                .header("accept", "application/json, text/event-stream");
            if !body.is_null() {
                request = request.json(&body);
            }
            request.send()
        };
        let first = send().await.unwrap();
        assert_ne!(
            first.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{method} {template}"
        );
        drop(first);
        assert_throttled(send().await.unwrap()).await;
        let responses = &doc["paths"][template][method]["responses"];
        assert!(
            responses.get("429").is_some(),
            "{method} {template} does not document 429: {responses}"
        );
    }
}
