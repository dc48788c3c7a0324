//! Personal access tokens (issue 20): created with a session and shown once, listed without their
//! secret, revoked at once, refused when expired, and limited to their scopes on REST and MCP.

use chrono::{Duration, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use taskflow_auth::generate_pat;
use taskflow_store::{MAX_TOKENS_PER_USER, NewAccessToken};

use crate::helpers::{TestApp, TestUser, assert_error};
use crate::mcp::rpc;

async fn create_token(app: &TestApp, user: &TestUser, body: &Value) -> Response {
    app.post_json(&format!("/api/{}/tokens", user.id), Some(&user.token), body)
        .await
}

/// A token of `user`'s with `scopes`, as a user the helpers can send requests as.
pub(crate) async fn pat(app: &TestApp, user: &TestUser, scopes: &[&str]) -> TestUser {
    let res = create_token(app, user, &json!({"name": "script", "scopes": scopes})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    TestUser {
        id: user.id.clone(),
        token: body["token"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn a_token_is_shown_once_listed_without_its_secret_and_revoked_at_once() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let expires = (Utc::now() + Duration::days(30)).to_rfc3339();
    let res = create_token(
        &app,
        &alice,
        &json!({"name": "backup script", "scopes": ["tasks:read", "tasks:write", "tasks:read"], "expires_at": expires}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let created: Value = res.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("tf_pat_") && secret.len() >= 7 + 43,
        "{secret}"
    );
    assert_eq!(created["name"], "backup script");
    assert_eq!(created["scopes"], json!(["tasks:read", "tasks:write"]));
    assert!(created["expires_at"].is_string());
    let token = TestUser {
        id: alice.id.clone(),
        token: secret.clone(),
    };

    // It works, and its use is recorded.
    assert_eq!(app.list(&token, "").await["tasks"], json!([]));
    let res = app.get(&format!("/api/{}/tokens", alice.id), &alice.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&secret), "the secret is listed: {text}");
    assert!(!text.contains(&secret[7..]), "the secret is listed: {text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    let entry = tokens[0].as_object().unwrap();
    assert_eq!(entry["id"], created["id"]);
    assert_eq!(entry["scopes"], json!(["tasks:read", "tasks:write"]));
    assert!(entry["last_used_at"].is_string(), "{text}");
    let mut keys: Vec<&str> = entry.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["created_at", "expires_at", "id", "last_used_at", "name", "scopes"]
    );

    // Another user cannot see or revoke it.
    let bob = app.user().await;
    let path = format!("/api/{}/tokens/{}", alice.id, created["id"].as_str().unwrap());
    assert_error(
        app.delete(&path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let bob_path = format!("/api/{}/tokens/{}", bob.id, created["id"].as_str().unwrap());
    assert_error(
        app.delete(&bob_path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;

    // Revoked: refused on the very next request, and gone from the list.
    assert_eq!(
        app.delete(&path, &alice.token).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app.get(&format!("/api/{}/tasks", alice.id), &secret).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let listed: Value = app
        .get(&format!("/api/{}/tokens", alice.id), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["tokens"], json!([]));
    assert_error(
        app.delete(&path, &alice.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
}

#[tokio::test]
async fn expired_and_unknown_tokens_are_refused_like_a_bad_jwt() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let expired = generate_pat();
    let now = Utc::now();
    app.store
        .access_tokens()
        .create(
            NewAccessToken {
                user_id: alice.id.clone(),
                name: "old".into(),
                token_hash: expired.hash,
                scopes: "tasks:read".into(),
                expires_at: Some(now - Duration::minutes(1)),
            },
            now - Duration::days(1),
        )
        .await
        .unwrap();
    let path = format!("/api/{}/tasks", alice.id);
    let res = app.get(&path, &expired.token).await;
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        "Bearer",
        "a 401 names the scheme"
    );
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let unknown = generate_pat().token;
    assert_error(
        app.get(&path, &unknown).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
}

#[tokio::test]
async fn the_request_is_validated() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    for (body, field) in [
        (
            json!({"name": "x", "scopes": ["tasks:read", "tasks:delete"]}),
            "scopes",
        ),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": " ", "scopes": ["tasks:read"]}), "name"),
        (json!({"name": "x".repeat(101), "scopes": ["tasks:read"]}), "name"),
        (
            json!({"name": "x", "scopes": ["tasks:read"], "expires_at": (Utc::now() - Duration::hours(1)).to_rfc3339()}),
            "expires_at",
        ),
    ] {
        let res = create_token(&app, &alice, &body).await;
        let error = assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        )
        .await;
        if body["scopes"] == json!(["tasks:read", "tasks:delete"]) {
            assert!(
                error["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("tasks:delete"),
                "{error}"
            );
        }
    }
}

#[tokio::test]
async fn a_read_only_token_reads_tasks_and_is_refused_writes_naming_the_scope() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    app.create_task(&alice, json!({"title": "existing"})).await;
    let reader = pat(&app, &alice, &["tasks:read"]).await;
    assert_eq!(app.list(&reader, "").await["tasks"].as_array().unwrap().len(), 1);
    let stats = app.get(&format!("/api/{}/stats", alice.id), &reader.token).await;
    assert_eq!(stats.status(), StatusCode::OK);

    let res = app
        .post_json(
            &format!("/api/{}/tasks", alice.id),
            Some(&reader.token),
            &json!({"title": "new"}),
        )
        .await;
    assert_eq!(
        res.headers().get("www-authenticate").unwrap(),
        r#"Bearer error="insufficient_scope", scope="tasks:write""#
    );
    let error = assert_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tasks:write"),
        "{error}"
    );
    // Other areas need their own scopes.
    let res = app
        .get(&format!("/api/{}/notifications", alice.id), &reader.token)
        .await;
    let error = assert_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("notifications"),
        "{error}"
    );
    assert_eq!(app.list(&alice, "").await["tasks"].as_array().unwrap().len(), 1);

    // A write-only token cannot read.
    let writer = pat(&app, &alice, &["tasks:write"]).await;
    let res = app
        .post_json(
            &format!("/api/{}/tasks", alice.id),
            Some(&writer.token),
            &json!({"title": "new"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app.get(&format!("/api/{}/tasks", alice.id), &writer.token).await;
    assert_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
}

#[tokio::test]
async fn a_token_cannot_manage_tokens_or_the_profile() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let all = pat(
        &app,
        &alice,
        &[
            "tasks:read",
            "tasks:write",
            "notifications",
            "assistant",
            "webhooks",
        ],
    )
    .await;
    let res = create_token(&app, &all, &json!({"name": "child", "scopes": ["tasks:read"]})).await;
    assert_error(res, StatusCode::FORBIDDEN, "session_required", None).await;
    let res = app.get(&format!("/api/{}/tokens", alice.id), &all.token).await;
    assert_error(res, StatusCode::FORBIDDEN, "session_required", None).await;
    let listed: Value = app
        .get(&format!("/api/{}/tokens", alice.id), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    let id = listed["tokens"][0]["id"].as_str().unwrap();
    let res = app
        .delete(&format!("/api/{}/tokens/{id}", alice.id), &all.token)
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "session_required", None).await;
    let res = app
        .client
        .patch(app.url("/api/auth/me"))
        .bearer_auth(&all.token)
        .json(&json!({"name": "Mallory"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "session_required", None).await;
    // The token still works where its scopes reach.
    assert_eq!(app.list(&all, "").await["tasks"], json!([]));
}

#[tokio::test]
async fn mcp_needs_the_assistant_scope_and_each_tool_its_task_scope() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let reader = pat(&app, &alice, &["assistant", "tasks:read"]).await;
    let call = |name: &str| {
        let arguments = if name == "add_task" {
            json!({"title": "from mcp"})
        } else {
            json!({})
        };
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
    };
    let (status, body) = rpc(&app, &reader, call("list_tasks")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["isError"], false, "{body}");
    // The catalogue it is offered holds only what it may run; a session sees every tool.
    let listing = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"});
    let names = |body: &Value| -> Vec<String> {
        body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, offered) = rpc(&app, &reader, listing.clone()).await;
    let offered = names(&offered);
    assert!(offered.contains(&"list_tasks".to_owned()), "{offered:?}");
    assert!(
        !offered.contains(&"add_task".to_owned()),
        "a read-only token was offered add_task: {offered:?}"
    );
    let (_, everything) = rpc(&app, &alice, listing.clone()).await;
    assert!(names(&everything).len() > offered.len(), "{everything}");

    let (status, body) = rpc(&app, &reader, call("add_task")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["error"]["code"], -32003, "{body}");
    assert_eq!(body["error"]["data"]["scope"], "tasks:write", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("tasks:write"),
        "{body}"
    );
    assert_eq!(
        app.list(&alice, "").await["tasks"],
        json!([]),
        "nothing was written"
    );

    let no_assistant = pat(&app, &alice, &["tasks:read", "tasks:write"]).await;
    let (status, body) = rpc(&app, &no_assistant, call("list_tasks")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_scope", "{body}");

    let writer = pat(&app, &alice, &["assistant", "tasks:write"]).await;
    let (_, body) = rpc(&app, &writer, call("add_task")).await;
    assert_eq!(body["result"]["isError"], false, "{body}");
    assert_eq!(app.list(&alice, "").await["tasks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn live_tokens_per_user_are_capped() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let now = Utc::now();
    for i in 0..MAX_TOKENS_PER_USER {
        app.store
            .access_tokens()
            .create(
                NewAccessToken {
                    user_id: alice.id.clone(),
                    name: format!("t{i}"),
                    token_hash: generate_pat().hash,
                    scopes: "tasks:read".into(),
                    expires_at: None,
                },
                now,
            )
            .await
            .unwrap();
    }
    let res = create_token(
        &app,
        &alice,
        &json!({"name": "one more", "scopes": ["tasks:read"]}),
    )
    .await;
    assert_error(res, StatusCode::FORBIDDEN, "quota_exceeded", None).await;
}

#[tokio::test]
async fn creating_a_token_honours_idempotency_keys() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let send = || {
        app.client
            .post(app.url(&format!("/api/{}/tokens", alice.id)))
            .bearer_auth(&alice.token)
            .header("Idempotency-Key", "token-1")
            .json(&json!({"name": "ci", "scopes": ["tasks:read"]}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    // The stored answer never held the secret: the replay says it cannot be shown again.
    assert!(first["token"].as_str().unwrap().starts_with("tf_pat_"));
    assert_eq!(again["token"], Value::Null, "{again}");
    assert_eq!(again["scopes"], json!(["tasks:read"]));
    let listed: Value = app
        .get(&format!("/api/{}/tokens", alice.id), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_document_lists_the_token_routes_and_scheme() {
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    let tokens = &doc["paths"]["/api/{user_id}/tokens"];
    for status in ["201", "401", "403", "422", "429"] {
        assert!(tokens["post"]["responses"][status].is_object(), "POST {status}");
    }
    assert!(tokens["get"]["responses"]["403"].is_object());
    let revoke = &doc["paths"]["/api/{user_id}/tokens/{token_id}"]["delete"]["responses"];
    for status in ["204", "401", "403", "404"] {
        assert!(revoke[status].is_object(), "DELETE {status}");
    }
    assert!(
        doc["paths"]["/api/{user_id}/tasks"]["post"]["responses"]["403"]["description"]
            .as_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert!(doc["components"]["securitySchemes"]["personal_access_token"].is_object());
}
