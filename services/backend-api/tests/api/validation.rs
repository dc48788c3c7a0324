//! Bad input: every case a clear 4xx in the JSON error shape, never a 500, and nothing written.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn invalid_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let path = format!("/api/{}/tasks", user.id);
    let cases = [
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "bell\u{7}"}), "title"),
        (json!({"title": "nul\u{0}byte"}), "title"),
        (
            json!({"title": "ok", "description": "d".repeat(10_001)}),
            "description",
        ),
        (json!({"title": "ok", "priority": "urgent"}), "priority"),
        (json!({"title": "ok", "category": "hobby"}), "category"),
        (json!({"title": "ok", "tags": ["fine", "not fine!"]}), "tags"),
        (
            json!({"title": "ok", "tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "tags",
        ),
        (json!({"title": "ok", "due_at": "next tuesday"}), "due_at"),
        (
            json!({"title": "ok", "recurrence": "fortnightly"}),
            "recurrence.rule",
        ),
        (
            json!({"title": "ok", "recurrence": "FREQ=MONTHLY;BYMONTHDAY=32"}),
            "recurrence.rule",
        ),
        (
            json!({"title": "ok", "recurrence": "FREQ=DAILY;COUNT=2;UNTIL=20270101"}),
            "recurrence.rule",
        ),
        (
            json!({"title": "ok", "reminders": [{"minutes_before_due": 10}]}),
            "reminders[0].minutes_before_due",
        ),
        (
            json!({"title": "ok", "reminders": [{"remind_at": "2026-01-01T00:00:00Z", "minutes_before_due": 5}]}),
            "reminders[0]",
        ),
        (
            json!({"title": "ok", "reminders": [{"minutes_before_due": -5}]}),
            "reminders[0].minutes_before_due",
        ),
        (json!({"title": 42}), "title"),
        (
            json!({"title": "ok", "recurrence": {"rule": "daily", "occurrence": 5}}),
            "recurrence",
        ),
        (json!({"title": "ok", "colour": "red"}), ""),
    ];
    for (body, field) in cases {
        let res = app.post_json(&path, Some(&user.token), &body).await;
        let err = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", None).await;
        if !field.is_empty() {
            assert_eq!(err["error"]["field"], field, "{body}: {err}");
        }
    }
    assert_eq!(
        app.list(&user, "").await["tasks"],
        json!([]),
        "nothing half-written"
    );
}

#[tokio::test]
async fn malformed_bodies_get_400_413_415() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let url = app.url(&format!("/api/{}/tasks", user.id));
    let send = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&user.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_error(
        send(b"{\"title\": ".to_vec(), "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
        None,
    )
    .await;
    assert_error(
        send(b"{\"title\": \"\xff\xfe\"}".to_vec(), "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
        None,
    )
    .await;
    assert_error(
        send(Vec::new(), "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
        None,
    )
    .await;
    assert_error(
        send(b"[1,2]".to_vec(), "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        None,
    )
    .await;
    let deep = format!(
        "{{\"title\":\"x\",\"tags\":{}{}}}",
        "[".repeat(500),
        "]".repeat(500)
    );
    // Typed bodies stop at the first value of the wrong shape, so depth never becomes a problem.
    assert_error(
        send(deep.into_bytes(), "application/json").await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("tags[0]"),
    )
    .await;
    assert_error(
        send(b"title=x".to_vec(), "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    )
    .await;
    assert_error(
        send(b"{\"title\":\"x\"}".to_vec(), "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    )
    .await;
    let huge = format!(
        "{{\"title\":\"x\",\"description\":\"{}\"}}",
        "a".repeat(1024 * 1024 + 10)
    );
    assert_error(
        send(huge.into_bytes(), "application/json").await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        None,
    )
    .await;
    assert_eq!(app.list(&user, "").await["tasks"], json!([]));
}

#[tokio::test]
async fn malformed_ids_and_unknown_routes_are_json_404s() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    assert_error(
        app.get(&format!("/api/{}/tasks/not-a-uuid", user.id), &user.token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_error(
        app.get(
            &format!("/api/{}/tasks/{}", user.id, uuid::Uuid::now_v7()),
            &user.token,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_error(
        app.get("/api/nothing/here/at/all", &user.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let res = app
        .client
        .delete(app.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    let status = res.status();
    assert_error(
        res,
        status,
        if status == StatusCode::NOT_FOUND {
            "not_found"
        } else {
            "method_not_allowed"
        },
        None,
    )
    .await;
    let res = app
        .client
        .post(app.url(&format!("/api/{}/tasks/{}", user.id, uuid::Uuid::now_v7())))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None).await;
}
