//! Webhook endpoints (issue 20): create with a secret shown once, list/get/patch/delete, rotation,
//! validation naming the field, the per-user cap, `Idempotency-Key` on create, another user's
//! endpoint 404, and every route in the OpenAPI document. Deliveries are tested with the whole
//! system (`services/taskflow/tests/system/webhooks.rs`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use taskflow_backend_api::config::Quotas;

use crate::helpers::{TestApp, TestUser, assert_error};

async fn create(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    app.post_json(&format!("/api/{}/webhooks", user.id), Some(&user.token), &body)
        .await
}

async fn created(app: &TestApp, user: &TestUser) -> Value {
    let res = create(
        app,
        user,
        json!({"url": "https://hooks.example.com/in", "events": ["task-created"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn patch(app: &TestApp, user: &TestUser, path: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(&user.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn decoded_secret(secret: &str) -> Vec<u8> {
    STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64")
}

#[tokio::test]
async fn an_endpoint_is_created_with_a_secret_shown_once_and_managed_after() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let res = create(
        &app,
        &alice,
        json!({"url": "https://hooks.example.com/in", "events": ["task-completed", "task-created", "task-created"],
               "description": "Zapier"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["events"], json!(["task-created", "task-completed"]));
    assert_eq!(body["enabled"], true);
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!((24..=64).contains(&decoded_secret(&secret).len()));

    let path = format!("/api/{}/webhooks/{id}", alice.id);
    let one: Value = app.get(&path, &alice.token).await.json().await.unwrap();
    assert_eq!(one["description"], "Zapier");
    assert!(
        one.get("secret").is_none(),
        "a read never shows the secret: {one}"
    );
    let list: Value = app
        .get(&format!("/api/{}/webhooks", alice.id), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert!(list["webhooks"][0].get("secret").is_none());

    let res = patch(
        &app,
        &alice,
        &path,
        json!({"events": ["reminder-due"], "enabled": false}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["events"], json!(["reminder-due"]));
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["url"], "https://hooks.example.com/in");

    let res = app
        .post_json(&format!("{path}/rotate-secret"), Some(&alice.token), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated: Value = res.json().await.unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(decoded_secret(new_secret).len(), 32);
    assert!(rotated["previous_secret_expires_at"].is_string(), "{rotated}");

    assert_eq!(
        app.delete(&path, &alice.token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get(&path, &alice.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
}

#[tokio::test]
async fn invalid_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let long = format!("https://example.com/{}", "a".repeat(2048));
    for (body, field) in [
        (
            json!({"url": "http://example.com/in", "events": ["task-created"]}),
            "url",
        ),
        (
            json!({"url": "ftp://example.com/in", "events": ["task-created"]}),
            "url",
        ),
        (
            json!({"url": "https://user:pw@example.com/", "events": ["task-created"]}),
            "url",
        ),
        (json!({"url": long, "events": ["task-created"]}), "url"),
        (json!({"url": "https://example.com/", "events": []}), "events"),
        (
            json!({"url": "https://example.com/", "events": ["task-exploded"]}),
            "events",
        ),
        (
            json!({"url": "https://example.com/", "events": ["task-created"], "description": " "}),
            "description",
        ),
    ] {
        let res = create(&app, &alice, body.clone()).await;
        let error = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", None).await;
        let named = error["error"]["field"].as_str().unwrap_or_default();
        assert!(named.starts_with(field), "{body}: {error}");
    }
    // Plain http is for local receivers only (refused again when connecting, unless private
    // networks are allowed).
    let res = create(
        &app,
        &alice,
        json!({"url": "http://127.0.0.1:9/in", "events": ["task-created"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let app = TestApp::spawn_configured(|c| c.webhook_allow_private_networks = true).await;
    let bob = app.user().await;
    let res = create(
        &app,
        &bob,
        json!({"url": "http://hooks.internal/in", "events": ["task-created"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_per_user_cap_is_403_quota_exceeded() {
    let app = TestApp::spawn_configured(|c| {
        c.quotas = Quotas {
            webhooks: 2,
            ..Quotas::default()
        }
    })
    .await;
    let (alice, bob) = (app.user().await, app.user().await);
    created(&app, &alice).await;
    created(&app, &alice).await;
    let res = create(
        &app,
        &alice,
        json!({"url": "https://example.com/3", "events": ["task-created"]}),
    )
    .await;
    let body = assert_error(res, StatusCode::FORBIDDEN, "quota_exceeded", None).await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("webhook"),
        "{body}"
    );
    created(&app, &bob).await;
}

#[tokio::test]
async fn another_users_endpoints_are_404() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.user().await, app.user().await);
    let hook = created(&app, &alice).await;
    let path = format!("/api/{}/webhooks/{}", alice.id, hook["id"].as_str().unwrap());
    assert_error(
        app.get(&path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let bobs_path = format!("/api/{}/webhooks/{}", bob.id, hook["id"].as_str().unwrap());
    for res in [
        app.get(&bobs_path, &bob.token).await,
        app.delete(&bobs_path, &bob.token).await,
        patch(&app, &bob, &bobs_path, json!({"enabled": false})).await,
        app.get(&format!("{bobs_path}/deliveries"), &bob.token).await,
        app.post_json(
            &format!("{bobs_path}/rotate-secret"),
            Some(&bob.token),
            &json!({}),
        )
        .await,
    ] {
        assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    }
    assert_eq!(app.get(&path, &alice.token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_creates_one_endpoint() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let send = || {
        app.client
            .post(app.url(&format!("/api/{}/webhooks", alice.id)))
            .bearer_auth(&alice.token)
            .header("Idempotency-Key", "hook-1")
            .json(&json!({"url": "https://example.com/in", "events": ["task-created"]}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let list: Value = app
        .get(&format!("/api/{}/webhooks", alice.id), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_delivery_log_starts_empty_and_an_unknown_delivery_is_404() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let hook = created(&app, &alice).await;
    let base = format!("/api/{}/webhooks/{}", alice.id, hook["id"].as_str().unwrap());
    let res = app
        .get(&format!("{base}/deliveries?limit=10"), &alice.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["deliveries"], json!([]));
    let res = app
        .post_json(
            &format!("{base}/deliveries/{}/retry", uuid::Uuid::now_v7()),
            Some(&alice.token),
            &json!({}),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
}

#[tokio::test]
async fn every_webhook_route_is_documented() {
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    for (path, method, statuses) in [
        (
            "/api/{user_id}/webhooks",
            "post",
            &["201", "401", "403", "404", "409", "422", "429"][..],
        ),
        ("/api/{user_id}/webhooks", "get", &["200", "401", "404"][..]),
        ("/api/{user_id}/webhooks/{webhook_id}", "get", &["200", "404"][..]),
        (
            "/api/{user_id}/webhooks/{webhook_id}",
            "patch",
            &["200", "404", "422"][..],
        ),
        (
            "/api/{user_id}/webhooks/{webhook_id}",
            "delete",
            &["204", "404"][..],
        ),
        (
            "/api/{user_id}/webhooks/{webhook_id}/rotate-secret",
            "post",
            &["200", "404"][..],
        ),
        (
            "/api/{user_id}/webhooks/{webhook_id}/deliveries",
            "get",
            &["200", "400", "404"][..],
        ),
        (
            "/api/{user_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            "post",
            &["202", "404"][..],
        ),
    ] {
        let responses = &doc["paths"][path][method]["responses"];
        for status in statuses {
            assert!(
                responses.get(*status).is_some(),
                "{method} {path} {status}: {responses}"
            );
        }
    }
    let create = &doc["components"]["schemas"]["CreateWebhook"]["properties"];
    assert_eq!(create["url"]["maxLength"], 2048);
    assert_eq!(create["events"]["minItems"], 1);
}

#[tokio::test]
async fn a_personal_access_token_manages_webhooks_only_with_the_webhooks_scope() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let endpoint = created(&app, &user).await;
    let id = endpoint["id"].as_str().unwrap();
    let reader = crate::tokens::pat(&app, &user, &["tasks:read", "tasks:write"]).await;
    let manager = crate::tokens::pat(&app, &user, &["webhooks"]).await;

    let list = format!("/api/{}/webhooks", user.id);
    let deliveries = format!("/api/{}/webhooks/{id}/deliveries", user.id);
    for path in [&list, &deliveries] {
        let res = app.get(path, &reader.token).await;
        let body = assert_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains("webhooks"),
            "{body}"
        );
    }
    let res = create(
        &app,
        &reader,
        json!({"url": "https://example.com/hook", "events": ["task-created"]}),
    )
    .await;
    assert_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    assert_eq!(app.get(&list, &manager.token).await.status(), StatusCode::OK);
    assert_eq!(
        app.get(&deliveries, &manager.token).await.status(),
        StatusCode::OK
    );
    let res = create(
        &app,
        &manager,
        json!({"url": "https://example.com/other", "events": ["task-created"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
