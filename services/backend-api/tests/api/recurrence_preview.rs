//! `POST /api/{user_id}/recurrence/preview`: an unsaved rule's next dates are the ones the saved task
//! would get (same time zone, same COUNT, same end date); a bad or too expensive rule is a 422 naming
//! its field; nothing is written; another user's path is a 404.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

fn preview_path(user: &TestUser) -> String {
    format!("/api/{}/recurrence/preview", user.id)
}

async fn berlin_user(app: &TestApp) -> TestUser {
    let user = app.user().await;
    let res = app
        .client
        .patch(app.url("/api/auth/me"))
        .bearer_auth(&user.token)
        .json(&json!({"timezone": "Europe/Berlin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    user
}

async fn preview(app: &TestApp, user: &TestUser, body: &Value) -> Value {
    let res = app.post_json(&preview_path(user), Some(&user.token), body).await;
    let status = res.status();
    let json: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}: {json}");
    json
}

#[tokio::test]
async fn an_unsaved_rule_gets_the_dates_the_saved_task_would() {
    let app = TestApp::spawn().await;
    let user = berlin_user(&app).await;
    // 09:00 in Berlin the day before summer time starts (31 March 2030): the wall clock is kept.
    let body = json!({"recurrence": "daily", "due_at": "2030-03-30T08:00:00Z", "limit": 3});
    let got = preview(&app, &user, &body).await;
    assert_eq!(got["timezone"], "Europe/Berlin", "{got}");
    assert_eq!(
        got["occurrences"],
        json!([
            "2030-03-31T07:00:00Z",
            "2030-04-01T07:00:00Z",
            "2030-04-02T07:00:00Z"
        ]),
        "{got}"
    );
    assert_eq!(
        app.list(&user, "status=all").await["tasks"],
        json!([]),
        "a preview writes nothing"
    );

    for recurrence in [
        json!("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"),
        json!({"rule": "FREQ=MONTHLY;BYMONTHDAY=31", "ends_at": "2030-12-31T00:00:00Z"}),
        json!({"rule": "weekdays", "anchor": "completion"}),
    ] {
        let due = "2030-01-07T09:00:00Z";
        let got = preview(&app, &user, &json!({"recurrence": recurrence, "due_at": due})).await;
        let task = app
            .create_task(
                &user,
                json!({"title": "saved", "due_at": due, "recurrence": recurrence}),
            )
            .await;
        let res = app
            .get(
                &format!(
                    "/api/{}/tasks/{}/occurrences?limit=10",
                    user.id,
                    task["id"].as_str().unwrap()
                ),
                &user.token,
            )
            .await;
        let saved: Value = res.json().await.unwrap();
        assert_eq!(got["occurrences"], saved["occurrences"], "{recurrence}");
        assert!(
            !got["occurrences"].as_array().unwrap().is_empty(),
            "{recurrence}: {got}"
        );
    }
    // COUNT=4 leaves three after the first; the limit defaults to 10.
    let got = preview(
        &app,
        &user,
        &json!({"recurrence": "FREQ=DAILY;COUNT=4", "due_at": "2030-01-07T09:00:00Z"}),
    )
    .await;
    assert_eq!(got["occurrences"].as_array().unwrap().len(), 3, "{got}");
    let got = preview(&app, &user, &json!({"recurrence": "daily"})).await;
    assert_eq!(got["occurrences"].as_array().unwrap().len(), 10, "{got}");
}

#[tokio::test]
async fn invalid_and_too_expensive_rules_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let mut crafted = "FREQ=YEARLY;BYSETPOS=366;BYDAY=53MO".to_owned();
    while crafted.len() + 5 <= 500 {
        crafted += ",53MO";
    }
    for (body, field) in [
        (json!({"recurrence": "FREQ=SOMETIMES"}), "recurrence.rule"),
        (json!({"recurrence": "every blue moon"}), "recurrence.rule"),
        (
            json!({"recurrence": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}),
            "recurrence.rule",
        ),
        (json!({"recurrence": crafted}), "recurrence.rule"),
        (json!({"recurrence": "daily", "limit": 11}), "limit"),
        (json!({"recurrence": "daily", "limit": 0}), "limit"),
    ] {
        let res = app
            .post_json(&preview_path(&user), Some(&user.token), &body)
            .await;
        assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        )
        .await;
    }
    let res = app
        .post_json(&preview_path(&user), Some(&user.token), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn it_needs_a_token_and_is_the_callers_only() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bob = app.user().await;
    let body = json!({"recurrence": "daily"});
    let res = app
        .post_json(&preview_path(&alice), Some(&bob.token), &body)
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    let res = app.post_json(&preview_path(&alice), None, &body).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .get(app.url(&preview_path(&alice)))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}
