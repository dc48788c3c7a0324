//! Quick-add: one typed line becomes a task, read in the caller's time zone; the preview writes
//! nothing; bad lines are 4xx with the standard error JSON.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;

/// A user whose profile is in Berlin.
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

/// Tomorrow at 09:00 in Berlin, as of `now`.
fn tomorrow_9am(now: DateTime<Utc>) -> String {
    let tomorrow = now
        .with_timezone(&BERLIN)
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap();
    let nine = tomorrow.and_time(NaiveTime::from_hms_opt(9, 0, 0).unwrap());
    let at = BERLIN
        .from_local_datetime(&nine)
        .earliest()
        .unwrap()
        .with_timezone(&Utc);
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn quick(user: &TestUser) -> String {
    format!("/api/{}/tasks/quick", user.id)
}

#[tokio::test]
async fn a_line_becomes_a_task_in_the_callers_time_zone() {
    let app = TestApp::spawn().await;
    let user = berlin_user(&app).await;
    let before = Utc::now();
    let res = app
        .post_json(
            &quick(&user),
            Some(&user.token),
            &json!({"text": "Call the plumber tomorrow at 9am #home !high"}),
        )
        .await;
    let after = Utc::now();
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["etag"], "\"1\"");
    let body: Value = res.json().await.unwrap();
    let task = &body["task"];
    assert_eq!(task["title"], "Call the plumber");
    assert_eq!(task["priority"], "high");
    assert_eq!(task["tags"], json!(["home"]));
    let due = task["due_at"].as_str().unwrap();
    assert!(due == tomorrow_9am(before) || due == tomorrow_9am(after), "{due}");
    assert_eq!(
        location,
        format!("/api/{}/tasks/{}", user.id, task["id"].as_str().unwrap())
    );

    let understood = &body["understood"];
    assert_eq!(understood["title"], "Call the plumber");
    assert_eq!(understood["due"], "tomorrow at 9am");
    assert_eq!(understood["due_at"], task["due_at"]);
    assert_eq!(understood["priority"], "high");
    assert_eq!(understood["timezone"], "Europe/Berlin");

    // The same task the REST API serves.
    let res = app.get(&location, &user.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let stored: Value = res.json().await.unwrap();
    assert_eq!(&stored, task);
}

#[tokio::test]
async fn repetitions_and_reminders_are_understood() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let res = app
        .post_json(
            &quick(&user),
            Some(&user.token),
            &json!({"text": "Standup every weekday at 9:30am remind me 10 minutes before #team"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["task"]["title"], "Standup");
    assert_eq!(body["task"]["recurrence"]["rule"], "weekdays");
    assert_eq!(body["task"]["reminders"][0]["minutes_before_due"], 10);
    assert_eq!(body["understood"]["recurrence"], "every weekday");
    assert_eq!(body["understood"]["due"], "at 9:30am");
    assert_eq!(body["understood"]["recurrence_rule"], "weekdays");
    assert_eq!(body["understood"]["remind"], "10 minutes before");
    assert!(body["task"]["due_at"].as_str().unwrap().ends_with(":30:00Z"));
}

#[tokio::test]
async fn the_preview_reads_the_line_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let user = berlin_user(&app).await;
    let before = Utc::now();
    let res = app
        .post_json(
            &format!("{}/preview", quick(&user)),
            Some(&user.token),
            &json!({"text": "Call the plumber tomorrow at 9am #Home !low"}),
        )
        .await;
    let after = Utc::now();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let understood = &body["understood"];
    assert_eq!(understood["title"], "Call the plumber");
    assert_eq!(understood["priority"], "low");
    assert_eq!(understood["category"], "other");
    assert_eq!(understood["tags"], json!(["home"]));
    let due = understood["due_at"].as_str().unwrap();
    assert!(due == tomorrow_9am(before) || due == tomorrow_9am(after), "{due}");
    assert_eq!(app.list(&user, "").await["tasks"], json!([]));
}

#[tokio::test]
async fn bad_lines_are_refused_with_the_standard_error() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let path = quick(&user);
    for body in [
        json!({"text": ""}),
        json!({"text": "   "}),
        json!({"text": "tomorrow at 9am #home"}),
        json!({"text": "bell\u{7} ringing"}),
        json!({"text": "x".repeat(501)}),
        json!({"text": format!("{} tomorrow", "x".repeat(300))}),
        json!({"text": 5}),
        json!({}),
        json!({"text": "ok", "priority": "high"}),
    ] {
        for p in [path.clone(), format!("{path}/preview")] {
            let res = app.post_json(&p, Some(&user.token), &body).await;
            let field = if body.get("priority").is_some() {
                Some("priority")
            } else {
                body.get("text").filter(|t| t.is_string()).map(|_| "text")
            };
            assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", field).await;
        }
    }
    assert_eq!(app.list(&user, "").await["tasks"], json!([]));

    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body("{\"text\":")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request", None).await;
    let res = app
        .client
        .post(app.url(&path))
        .bearer_auth(&user.token)
        .header("content-type", "text/plain")
        .body("Call mom")
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    )
    .await;
    let res = app.post_json(&path, None, &json!({"text": "Call mom"})).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let other = app.user().await;
    let res = app
        .post_json(&quick(&other), Some(&user.token), &json!({"text": "Call mom"}))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    let res = app.get(&path, &user.token).await;
    assert_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None).await;
}
