//! Per-user quotas (issue 22, item 4): one account cannot fill the database with tasks,
//! conversations or chat history. Over quota is a 403 `quota_exceeded` naming the limit, on every
//! way in (REST, quick-add, MCP, chat); a recurring series' next occurrence is never refused.

use reqwest::StatusCode;
use serde_json::{Value, json};
use taskflow_backend_api::config::Quotas;

use crate::helpers::{TestApp, TestUser, assert_error};

async fn spawn(quotas: Quotas) -> TestApp {
    TestApp::spawn_configured(|c| c.quotas = quotas).await
}

fn only_tasks(tasks: u64) -> Quotas {
    Quotas {
        tasks,
        ..Quotas::default()
    }
}

async fn create(app: &TestApp, user: &TestUser, title: impl AsRef<str>) -> reqwest::Response {
    app.post_json(
        &format!("/api/{}/tasks", user.id),
        Some(&user.token),
        &json!({ "title": title.as_ref() }),
    )
    .await
}

async fn assert_quota(res: reqwest::Response, limit: &str) {
    let body = assert_error(res, StatusCode::FORBIDDEN, "quota_exceeded", None).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(limit), "{message}");
}

async fn mcp_add(app: &TestApp, user: &TestUser, title: &str) -> Value {
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&user.token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "add_task", "arguments": {"title": title}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn chat(
    app: &TestApp,
    user: &TestUser,
    message: &str,
    conversation: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({ "message": message });
    if let Some(id) = conversation {
        body["conversation_id"] = json!(id);
    }
    app.post_json(&format!("/api/{}/chat", user.id), Some(&user.token), &body)
        .await
}

#[tokio::test]
async fn tasks_over_the_quota_are_refused_on_every_way_in() {
    let app = spawn(only_tasks(3)).await;
    let alice = app.user().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let res = create(&app, &alice, format!("task {i}")).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let task: Value = res.json().await.unwrap();
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    assert_quota(create(&app, &alice, "one too many").await, "at most 3 tasks").await;
    let quick = app
        .post_json(
            &format!("/api/{}/tasks/quick", alice.id),
            Some(&alice.token),
            &json!({"text": "call mum tomorrow"}),
        )
        .await;
    assert_quota(quick, "at most 3 tasks").await;
    let answer = mcp_add(&app, &alice, "via mcp").await;
    let result = answer["result"].to_string();
    assert!(result.contains("quota_exceeded"), "{answer}");
    assert!(result.contains("at most 3 tasks"), "{answer}");
    // The assistant's add_task says so too, and stores nothing.
    let res = chat(&app, &alice, "add buy milk", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let reply: Value = res.json().await.unwrap();
    assert!(reply.to_string().contains("quota exceeded"), "{reply}");
    assert_eq!(
        app.list(&alice, "limit=100").await["tasks"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Another user has a quota of their own.
    let bob = app.user().await;
    assert_eq!(create(&app, &bob, "bob's").await.status(), StatusCode::CREATED);
    // Deleting makes room.
    let res = app
        .delete(&format!("/api/{}/tasks/{}", alice.id, ids[0]), &alice.token)
        .await;
    assert!(res.status().is_success());
    assert_eq!(
        create(&app, &alice, "room again").await.status(),
        StatusCode::CREATED
    );
    assert_quota(create(&app, &alice, "full again").await, "at most 3 tasks").await;
}

#[tokio::test]
async fn parallel_creates_cannot_overshoot_the_task_quota() {
    let app = spawn(only_tasks(5)).await;
    let alice = app.user().await;
    let results =
        futures_util::future::join_all((0..20).map(|i| create(&app, &alice, format!("racer {i}")))).await;
    let created = results
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    assert!(
        results
            .iter()
            .all(|r| [StatusCode::CREATED, StatusCode::FORBIDDEN].contains(&r.status())),
        "{:?}",
        results.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    assert_eq!(created, 5);
    assert_eq!(
        app.list(&alice, "limit=100").await["tasks"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn a_recurring_series_next_occurrence_is_not_refused_by_the_quota() {
    let app = spawn(only_tasks(1)).await;
    let alice = app.user().await;
    let task = app.create_task(&alice, json!({"title": "water plants"})).await;
    assert_quota(create(&app, &alice, "second").await, "at most 1 tasks").await;
    let id = task["id"].as_str().unwrap().parse().unwrap();
    let mut next = app.store.tasks().get(&alice.id, id).await.unwrap().unwrap();
    next.id = uuid::Uuid::now_v7();
    let created = app
        .store
        .tasks()
        .create_occurrence(&next, &format!("{id}:next"))
        .await
        .unwrap();
    assert!(created);
}

#[tokio::test]
async fn conversations_over_the_quota_are_refused_and_existing_ones_continue() {
    let app = spawn(Quotas {
        conversations: 2,
        ..Quotas::default()
    })
    .await;
    let alice = app.user().await;
    let mut first = None;
    for i in 0..2 {
        let res = chat(&app, &alice, &format!("hello {i}"), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        first.get_or_insert(body["conversation_id"].as_str().unwrap().to_owned());
    }
    assert_quota(
        chat(&app, &alice, "a third", None).await,
        "at most 2 conversations",
    )
    .await;
    let stream = app
        .post_json(
            &format!("/api/{}/chat/stream", alice.id),
            Some(&alice.token),
            &json!({"message": "a third, streamed"}),
        )
        .await;
    assert_quota(stream, "at most 2 conversations").await;
    let res = chat(&app, &alice, "still here", first.as_deref()).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn chat_history_over_its_byte_quota_is_refused() {
    let app = spawn(Quotas {
        chat_bytes: 2_000,
        ..Quotas::default()
    })
    .await;
    let alice = app.user().await;
    let long = "x".repeat(1_500);
    let res = chat(&app, &alice, &long, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let conversation = body["conversation_id"].as_str().unwrap().to_owned();
    // The first turn may cross the limit (a turn is stored whole); the next one is refused.
    let res = chat(&app, &alice, &long, Some(&conversation)).await;
    if res.status() == StatusCode::OK {
        assert_quota(chat(&app, &alice, &long, Some(&conversation)).await, "2000 bytes").await;
    } else {
        assert_quota(res, "2000 bytes").await;
    }
    // Deleting the conversation frees the space.
    let res = app
        .delete(
            &format!("/api/{}/conversations/{conversation}", alice.id),
            &alice.token,
        )
        .await;
    assert!(res.status().is_success());
    assert_eq!(
        chat(&app, &alice, "hello again", None).await.status(),
        StatusCode::OK
    );
}
