//! A recurrence rule costs bounded work (issue 22, item 1): the reviewer's crafted rule and rules
//! that never repeat are refused with 422 on create and update and as a tool error by the MCP `add_task`; an
//! accepted rule's occurrences are answered.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

/// `FREQ=YEARLY;BYSETPOS=366;BYDAY=53MO,53MO,…` up to `len` characters: it never matches, and
/// before the fix each copy multiplied the work of 2 000 empty years (3.9 s per preview).
fn crafted(len: usize) -> String {
    let mut s = "FREQ=YEARLY;BYSETPOS=366;BYDAY=53MO".to_owned();
    while s.len() + 5 <= len {
        s += ",53MO";
    }
    s
}

fn tasks(user: &TestUser) -> String {
    format!("/api/{}/tasks", user.id)
}

#[tokio::test]
async fn crafted_and_never_repeating_rules_are_refused_on_create_and_update() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for rule in [
        crafted(500),
        crafted(200),
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6".to_owned(),
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30".to_owned(),
    ] {
        let res = app
            .post_json(
                &tasks(&user),
                Some(&user.token),
                &json!({"title": "x", "due_at": "2026-01-05T09:00:00Z", "recurrence": rule}),
            )
            .await;
        assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("recurrence.rule"),
        )
        .await;
    }
    let task = app
        .create_task(&user, json!({"title": "x", "due_at": "2026-01-05T09:00:00Z"}))
        .await;
    let path = format!("{}/{}", tasks(&user), task["id"].as_str().unwrap());
    let res = app
        .put_json(&path, &user.token, &json!({"recurrence": crafted(500)}))
        .await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("recurrence.rule"),
    )
    .await;
    let res = app
        .put_json(
            &path,
            &user.token,
            &json!({"recurrence": {"rule": "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29"}}),
        )
        .await;
    // 2026, 2030, 2034…: never a leap year.
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("recurrence.rule"),
    )
    .await;
}

#[tokio::test]
async fn an_accepted_rule_previews_its_occurrences() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for (rule, first) in [
        // A year with 53 Mondays: 2029 starts on a Monday.
        ("FREQ=YEARLY;BYDAY=53MO", "2029-12-31T09:00:00Z"),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "2026-01-30T09:00:00Z",
        ),
    ] {
        let task = app
            .create_task(
                &user,
                json!({"title": rule, "due_at": "2026-01-05T09:00:00Z", "recurrence": rule}),
            )
            .await;
        let res = app
            .get(
                &format!(
                    "{}/{}/occurrences?limit=3",
                    tasks(&user),
                    task["id"].as_str().unwrap()
                ),
                &user.token,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        let dates = body["occurrences"].as_array().unwrap();
        assert_eq!(dates.len(), 3, "{rule}: {body}");
        assert_eq!(dates[0], first, "{rule}");
    }
}

#[tokio::test]
async fn mcp_add_task_refuses_the_crafted_rule() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let res = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&user.token)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add_task",
            "arguments": {"title": "Pay rent", "due": "tomorrow", "recurrence": crafted(200)}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(
        body["result"]["structuredContent"]["error"]["code"], "validation_failed",
        "{body}"
    );
    let listed = app.list(&user, "").await;
    assert_eq!(
        listed["tasks"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
}
