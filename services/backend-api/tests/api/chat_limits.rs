//! What one chat turn may cost in storage and on the wire: tool results are stored and returned as
//! bounded summaries, and a page of messages is capped in bytes as well as rows.

use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use taskflow_store::NewMessage;

use crate::helpers::TestApp;

/// The attack: tasks with 10 000-character descriptions, then a 13-byte "list my tasks" stored and
/// returned hundreds of kilobytes (the full tasks, twice per turn). Now the turn stays a few KB.
#[tokio::test]
async fn listing_big_tasks_stores_and_returns_a_small_summary() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let description = "d".repeat(10_000);
    for i in 0..30 {
        app.create_task(
            &alice,
            json!({"title": format!("task {i} {}", "t".repeat(150)), "description": description}),
        )
        .await;
    }
    let res = app
        .post_json(
            &format!("/api/{}/chat", alice.id),
            Some(&alice.token),
            &json!({"message": "list my tasks"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&answer).unwrap();
    let tool_calls = serde_json::to_string(&body["tool_calls"]).unwrap();
    assert!(
        tool_calls.len() <= 4_096,
        "tool calls of {} bytes",
        tool_calls.len()
    );
    assert!(answer.len() <= 16 * 1024, "an answer of {} bytes", answer.len());
    let listed = &body["tool_calls"][0]["result"];
    assert_eq!(listed["count"], 20, "{listed}");
    assert!(listed["tasks"][0]["id"].is_string());
    assert!(listed["tasks"][0].get("description").is_none());

    let conversation = body["conversation_id"].as_str().unwrap();
    let stored = app
        .get(
            &format!("/api/{}/conversations/{conversation}/messages", alice.id),
            &alice.token,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        stored.len() <= 16 * 1024,
        "a stored turn of {} bytes",
        stored.len()
    );
}

/// A conversation of 2.4 MB: `?limit=200` answers at most 1 MiB, with a cursor, and following the
/// cursors yields every message once.
#[tokio::test]
async fn a_page_of_messages_is_capped_in_bytes() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let conversations = app.store.conversations();
    let start = Utc::now() - TimeDelta::hours(1);
    let id = conversations.create(&alice.id, "big", start).await.unwrap().id;
    for i in 0..40 {
        let at = start + TimeDelta::seconds(i);
        let new = ["user", "assistant"].map(|role| NewMessage {
            id: NewMessage::id(),
            role,
            content: format!("{i} {}", "x".repeat(30_000)),
            tool_calls: None,
            created_at: at + TimeDelta::milliseconds(if role == "user" { 0 } else { 1 }),
        });
        assert!(conversations.append(&alice.id, id, &new).await.unwrap().is_some());
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let res = app
            .get(
                &format!("/api/{}/conversations/{id}/messages?limit=200{query}", alice.id),
                &alice.token,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let text = res.text().await.unwrap();
        assert!(text.len() <= 1024 * 1024 + 1024, "a page of {} bytes", text.len());
        let page: Value = serde_json::from_str(&text).unwrap();
        for m in page["messages"].as_array().unwrap() {
            assert!(
                seen.insert(m["id"].as_str().unwrap().to_owned()),
                "a message twice"
            );
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(seen.len(), 80);
    assert!(pages >= 3);
}

/// The chat stream's `error` event used to carry the database's own error text (table names,
/// SQL); now it carries the code and the safe message the JSON chat answers with.
#[tokio::test]
async fn a_stream_error_event_carries_no_database_text() {
    use sea_orm::ConnectionTrait;

    // Without the chat-bytes quota, whose check before the turn would read the dropped table.
    let app = TestApp::spawn_configured(|c| c.quotas.chat_bytes = 0).await;
    let alice = app.user().await;
    // The turn's tool runs, then storing it fails.
    app.store
        .connection()
        .execute_unprepared("DROP TABLE messages")
        .await
        .unwrap();
    let res = app
        .post_json(
            &format!("/api/{}/chat/stream", alice.id),
            Some(&alice.token),
            &json!({"message": "add buy stamps"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let error = text
        .split("\n\n")
        .find(|f| f.starts_with("event: error"))
        .and_then(|f| f.lines().find_map(|l| l.strip_prefix("data: ")))
        .unwrap_or_else(|| panic!("no error event in {text}"));
    let error: Value = serde_json::from_str(error).unwrap();
    assert_eq!(error["error"]["code"], "internal", "{error}");
    assert_eq!(error["error"]["status"], 500);
    assert_eq!(error["error"]["message"], "internal server error", "{error}");
    let lower = text.to_lowercase();
    assert!(
        !lower.contains("messages\"") && !lower.contains("no such table") && !lower.contains("relation"),
        "{text}"
    );
}
