//! The iCalendar feed (issue 20): what it holds for a recurring task with reminders and a plain
//! task, who may read it (bearer token, or the feed token for this feed only), rotation and
//! disabling of the feed token, and ETag/304.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

fn feed_path(user: &TestUser) -> String {
    format!("/api/{}/calendar.ics", user.id)
}

async fn new_feed_token(app: &TestApp, user: &TestUser) -> String {
    let res = app
        .client
        .post(app.url(&format!("/api/{}/calendar/feed-token", user.id)))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = res.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tf_cal_"), "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(
        url.ends_with(&format!("{}?token={token}", feed_path(user))),
        "{url}"
    );
    token
}

/// GET of the feed with `?token=` (and `extra` query), no `Authorization`.
async fn with_token(app: &TestApp, user_id: &str, token: &str, extra: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/{user_id}/calendar.ics?token={token}{extra}")))
        .send()
        .await
        .unwrap()
}

/// The text of a 200 feed, unfolded, with its lines.
async fn text(res: reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("content-type").unwrap(),
        "text/calendar; charset=utf-8"
    );
    let body = res.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.ends_with("END:VCALENDAR\r\n"));
    assert!(body.split("\r\n").all(|l| l.len() <= 75), "{body}");
    body.replace("\r\n ", "")
}

#[tokio::test]
async fn the_feed_shows_a_recurring_task_with_alarms_and_a_plain_task() {
    let app = TestApp::spawn().await;
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
    let standup = app
        .create_task(
            &user,
            json!({"title": "Standup, daily; \\ notes", "priority": "high", "tags": ["team"],
                "description": "line one\nline two",
                "due_at": "2030-01-07T08:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=5",
                "reminders": [{"minutes_before_due": 15}, {"minutes_before_due": 60}]}),
        )
        .await;
    let plain = app
        .create_task(
            &user,
            json!({"title": "Pay rent", "priority": "low", "due_at": "2030-02-01T10:30:00Z"}),
        )
        .await;
    app.create_task(&user, json!({"title": "No date"})).await;

    let body = text(app.get(&feed_path(&user), &user.token).await).await;
    assert_eq!(body.matches("BEGIN:VEVENT").count(), 2, "{body}");
    assert!(body.contains(&format!("UID:{}@taskflow", standup["id"].as_str().unwrap())));
    assert!(body.contains(&format!("UID:{}@taskflow", plain["id"].as_str().unwrap())));
    assert!(
        body.contains("\r\nSUMMARY:Standup\\, daily\\; \\\\ notes\r\n"),
        "{body}"
    );
    assert!(body.contains("\r\nDESCRIPTION:line one\\nline two\r\n"), "{body}");
    assert!(
        body.contains("\r\nDTSTART;TZID=Europe/Berlin:20300107T090000\r\n"),
        "{body}"
    );
    assert!(
        body.contains("\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5\r\n"),
        "{body}"
    );
    assert!(
        body.contains("\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"),
        "{body}"
    );
    assert!(
        body.contains("\r\nTRIGGER:-PT15M\r\n") && body.contains("\r\nTRIGGER:-PT60M\r\n"),
        "{body}"
    );
    assert!(body.contains("\r\nDTSTART:20300201T103000Z\r\n"), "{body}");
    assert!(
        body.contains("\r\nPRIORITY:1\r\n") && body.contains("\r\nPRIORITY:9\r\n"),
        "{body}"
    );
    assert!(body.contains("\r\nCATEGORIES:team\r\n"), "{body}");
    assert!(!body.contains("No date"));

    // Completed tasks only when asked for; to-dos for task clients.
    let res = app
        .client
        .patch(app.url(&format!(
            "/api/{}/tasks/{}/complete",
            user.id,
            plain["id"].as_str().unwrap()
        )))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let body = text(app.get(&feed_path(&user), &user.token).await).await;
    assert!(!body.contains("Pay rent"), "{body}");
    let path = format!("{}?include=completed&component=vtodo", feed_path(&user));
    let body = text(app.get(&path, &user.token).await).await;
    assert_eq!(body.matches("BEGIN:VTODO").count(), 2, "{body}");
    assert!(
        body.contains("\r\nDUE:20300201T103000Z\r\nSTATUS:COMPLETED\r\nCOMPLETED:"),
        "{body}"
    );
    assert!(body.contains("\r\nSTATUS:NEEDS-ACTION\r\n"), "{body}");
    assert!(body.contains("\r\nTRIGGER;RELATED=END:-PT15M\r\n"), "{body}");
}

#[tokio::test]
async fn the_feed_token_opens_the_feed_and_nothing_else() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    app.create_task(
        &user,
        json!({"title": "Dentist", "due_at": "2030-03-01T09:00:00Z"}),
    )
    .await;
    let token = new_feed_token(&app, &user).await;
    let body = text(with_token(&app, &user.id, &token, "").await).await;
    assert!(body.contains("SUMMARY:Dentist"));

    // Not a bearer token, and not a ?token= anywhere else.
    assert_error(
        app.get(&format!("/api/{}/tasks", user.id), &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    let res = app
        .client
        .get(app.url(&format!("/api/{}/tasks?token={token}", user.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_error(
        app.get(&feed_path(&user), &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    // No token at all.
    let res = app.client.get(app.url(&feed_path(&user))).send().await.unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

#[tokio::test]
async fn rotating_or_disabling_the_feed_token_stops_the_old_one_at_once() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let first = new_feed_token(&app, &user).await;
    let second = new_feed_token(&app, &user).await;
    assert_ne!(first, second);
    assert_error(
        with_token(&app, &user.id, &first, "").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    text(with_token(&app, &user.id, &second, "").await).await;

    let res = app
        .delete(&format!("/api/{}/calendar/feed-token", user.id), &user.token)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        with_token(&app, &user.id, &second, "").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    // The bearer token still reads it.
    text(app.get(&feed_path(&user), &user.token).await).await;
}

#[tokio::test]
async fn one_users_tokens_never_read_another_users_feed() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bob = app.user().await;
    app.create_task(
        &alice,
        json!({"title": "Alice's secret", "due_at": "2030-03-01T09:00:00Z"}),
    )
    .await;
    new_feed_token(&app, &alice).await;
    let bobs = new_feed_token(&app, &bob).await;
    let res = with_token(&app, &alice.id, &bobs, "").await;
    let refused = assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    // An unknown user is refused alike: the answer does not tell who exists.
    let res = with_token(&app, "no-such-user", &bobs, "").await;
    let unknown = assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    assert_eq!(refused, unknown);
    // Bob's bearer token on Alice's path: 404, as everywhere.
    assert_error(
        app.get(&feed_path(&alice), &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let res = app
        .client
        .post(app.url(&format!("/api/{}/calendar/feed-token", alice.id)))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
}

#[tokio::test]
async fn an_unchanged_feed_is_304_and_a_change_gives_a_new_etag() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let task = app
        .create_task(
            &user,
            json!({"title": "Report", "due_at": "2030-03-01T09:00:00Z"}),
        )
        .await;
    let res = app.get(&feed_path(&user), &user.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let etag = res.headers().get("etag").unwrap().to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "strong: {etag}");
    let cache = res.headers().get("cache-control").unwrap().to_str().unwrap();
    assert!(cache.starts_with("private, max-age="), "{cache}");

    let res = app
        .client
        .get(app.url(&feed_path(&user)))
        .bearer_auth(&user.token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers().get("etag").unwrap(), etag.as_str());
    assert!(res.text().await.unwrap().is_empty());

    let res = app
        .put_json(
            &format!("/api/{}/tasks/{}", user.id, task["id"].as_str().unwrap()),
            &user.token,
            &json!({"title": "Quarterly report"}),
        )
        .await;
    assert!(res.status().is_success());
    let res = app
        .client
        .get(app.url(&feed_path(&user)))
        .bearer_auth(&user.token)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_ne!(res.headers().get("etag").unwrap(), etag.as_str());
    assert!(text(res).await.contains("SUMMARY:Quarterly report"));
}

#[tokio::test]
async fn bad_feed_parameters_are_400_naming_them() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for (query, field) in [
        ("include=everything", "include"),
        ("component=VJOURNAL", "component"),
    ] {
        let res = app
            .get(&format!("{}?{query}", feed_path(&user)), &user.token)
            .await;
        assert_error(res, StatusCode::BAD_REQUEST, "bad_request", Some(field)).await;
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_feed() {
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    let feed = &doc["paths"]["/api/{user_id}/calendar.ics"]["get"];
    for status in ["200", "304", "400", "401", "404"] {
        assert!(feed["responses"][status].is_object(), "{status}: {feed}");
    }
    assert!(
        feed["responses"]["200"]["content"]["text/calendar"].is_object(),
        "{feed}"
    );
    let token = &doc["paths"]["/api/{user_id}/calendar/feed-token"];
    assert!(token["post"]["responses"]["201"].is_object());
    assert!(token["delete"]["responses"]["204"].is_object());
}

#[tokio::test]
async fn a_personal_access_token_reads_the_feed_with_tasks_read_and_never_manages_its_token() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let reader = crate::tokens::pat(&app, &user, &["tasks:read"]).await;
    let notifier = crate::tokens::pat(&app, &user, &["notifications"]).await;

    let res = app.get(&feed_path(&user), &reader.token).await;
    text(res).await;
    let res = app.get(&feed_path(&user), &notifier.token).await;
    assert_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;

    // The feed token is a credential: only a session creates or disables it.
    let token_path = app.url(&format!("/api/{}/calendar/feed-token", user.id));
    let res = app
        .client
        .post(&token_path)
        .bearer_auth(&reader.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "session_required", None).await;
    let res = app
        .client
        .delete(&token_path)
        .bearer_auth(&reader.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "session_required", None).await;
    new_feed_token(&app, &user).await;
}
