//! Task lifecycle, isolation between users, completion, optimistic concurrency and stats.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn a_task_can_be_created_read_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let created = app
        .create_task(
            &user,
            json!({
                "title": "  Write report ",
                "description": "Q4 numbers",
                "priority": "high",
                "category": "work",
                "tags": ["#Reports", "q4", "REPORTS"],
                "due_at": "2026-12-01T17:00:00+02:00",
                "recurrence": {"rule": "FREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1", "anchor": "completion"},
                "reminders": [{"minutes_before_due": 60}, {"remind_at": "2026-11-30T09:00:00Z"}]
            }),
        )
        .await;
    assert_eq!(created["title"], "Write report");
    assert_eq!(created["tags"], json!(["reports", "q4"]));
    assert_eq!(created["due_at"], "2026-12-01T15:00:00Z");
    assert_eq!(created["recurrence"]["anchor"], "completion");
    assert_eq!(created["version"], 1);
    assert_eq!(created["completed"], false);
    let reminders = created["reminders"].as_array().unwrap();
    assert_eq!(reminders.len(), 2);
    assert_eq!(reminders[0]["remind_at"], "2026-11-30T09:00:00Z");
    assert_eq!(reminders[1]["remind_at"], "2026-12-01T14:00:00Z");
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/{}/tasks/{id}", user.id);

    let res = app.get(&path, &user.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let fetched: Value = res.json().await.unwrap();
    assert_eq!(fetched, created);

    // Moving the due date moves the relative reminder; null clears the description.
    let updated: Value = app
        .put_json(
            &path,
            &user.token,
            &json!({"due_at": "2026-12-02T15:00:00Z", "description": null, "priority": "low"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["priority"], "low");
    assert_eq!(updated["title"], "Write report");
    let times: Vec<&str> = updated["reminders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["remind_at"].as_str().unwrap())
        .collect();
    assert_eq!(times, vec!["2026-11-30T09:00:00Z", "2026-12-02T14:00:00Z"]);

    assert_eq!(
        app.delete(&path, &user.token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get(&path, &user.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_error(
        app.delete(&path, &user.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
}

#[tokio::test]
async fn another_users_task_is_404_on_every_route_and_stays_untouched() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bob = app.user().await;
    let task = app.create_task(&alice, json!({"title": "Alice's secret"})).await;
    let id = task["id"].as_str().unwrap();

    // Bob using Alice's path.
    let alice_path = format!("/api/{}/tasks/{id}", alice.id);
    assert_error(
        app.get(&alice_path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_error(
        app.put_json(&alice_path, &bob.token, &json!({"title": "pwned"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let res = app
        .client
        .patch(app.url(&format!("{alice_path}/complete")))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    assert_error(
        app.delete(&alice_path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_error(
        app.get(&format!("/api/{}/tasks", alice.id), &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_error(
        app.get(&format!("/api/{}/stats", alice.id), &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;

    // Bob using his own path with Alice's task id.
    let bob_path = format!("/api/{}/tasks/{id}", bob.id);
    assert_error(
        app.get(&bob_path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_error(
        app.put_json(&bob_path, &bob.token, &json!({"title": "pwned"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    let res = app
        .client
        .patch(app.url(&format!("{bob_path}/complete")))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    assert_error(
        app.delete(&bob_path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_eq!(app.list(&bob, "").await["tasks"], json!([]));

    let still: Value = app.get(&alice_path, &alice.token).await.json().await.unwrap();
    assert_eq!(still, task);
}

#[tokio::test]
async fn complete_toggles_or_sets_explicitly() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let task = app.create_task(&user, json!({"title": "Toggle me"})).await;
    let url = app.url(&format!(
        "/api/{}/tasks/{}/complete",
        user.id,
        task["id"].as_str().unwrap()
    ));

    let done: Value = app
        .client
        .patch(&url)
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["completed"], true);
    assert!(done["completed_at"].is_string());
    let undone: Value = app
        .client
        .patch(&url)
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(undone["completed"], false);
    assert_eq!(undone["completed_at"], Value::Null);

    for _ in 0..2 {
        let res = app
            .client
            .patch(&url)
            .bearer_auth(&user.token)
            .json(&json!({"completed": true}))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["completed"], true);
    }
    let final_state: Value = app
        .client
        .patch(&url)
        .bearer_auth(&user.token)
        .json(&json!({"completed": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        final_state["version"], 4,
        "setting an already-completed task changes nothing"
    );

    // A JSON `null` body is no body: it toggles.
    let toggled: Value = app
        .client
        .patch(&url)
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(toggled["completed"], false);
    let res = app
        .client
        .patch(&url)
        .bearer_auth(&user.token)
        .json(&json!({"completed": "yes"}))
        .send()
        .await
        .unwrap();
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("completed"),
    )
    .await;
    let res = app
        .client
        .patch(&url)
        .bearer_auth(&user.token)
        .header("content-type", "text/plain")
        .body("true")
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
}

#[tokio::test]
async fn if_match_guards_against_lost_updates() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let task = app.create_task(&user, json!({"title": "v1"})).await;
    let url = app.url(&format!(
        "/api/{}/tasks/{}",
        user.id,
        task["id"].as_str().unwrap()
    ));

    let res = app
        .client
        .put(&url)
        .bearer_auth(&user.token)
        .header("if-match", "\"1\"")
        .json(&json!({"title": "v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["etag"], "\"2\"");

    // A client still holding version 1 must not overwrite version 2.
    let res = app
        .client
        .put(&url)
        .bearer_auth(&user.token)
        .header("if-match", "\"1\"")
        .json(&json!({"title": "stale"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::PRECONDITION_FAILED, "precondition_failed", None).await;
    let res = app
        .client
        .put(&url)
        .bearer_auth(&user.token)
        .header("if-match", "W/\"2\"")
        .json(&json!({"title": "v3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .put(&url)
        .bearer_auth(&user.token)
        .header("if-match", "banana")
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request", Some("If-Match")).await;
    let now: Value = app
        .get(
            &format!("/api/{}/tasks/{}", user.id, task["id"].as_str().unwrap()),
            &user.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["title"], "v3");
    assert_eq!(now["version"], 3);
}

#[tokio::test]
async fn concurrent_updates_without_if_match_end_consistent() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let task = app.create_task(&user, json!({"title": "counter"})).await;
    let path = format!("/api/{}/tasks/{}", user.id, task["id"].as_str().unwrap());
    let tags = ["a", "b", "c", "d"];
    let mut handles = Vec::new();
    for tag in tags {
        let (client, url, token) = (app.client.clone(), app.url(&path), user.token.clone());
        handles.push(tokio::spawn(async move {
            client
                .put(url)
                .bearer_auth(token)
                .json(&json!({"priority": "high", "tags": [tag]}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for h in handles {
        let status = h.await.unwrap();
        assert!(
            status == StatusCode::OK || status == StatusCode::CONFLICT,
            "{status}"
        );
    }
    let now: Value = app.get(&path, &user.token).await.json().await.unwrap();
    assert_eq!(now["priority"], "high");
    assert!(now["version"].as_i64().unwrap() >= 2);
}

#[tokio::test]
async fn stats_count_by_status_priority_category_and_overdue() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let other = app.user().await;
    app.create_task(&other, json!({"title": "not mine"})).await;
    app.create_task(
        &user,
        json!({"title": "overdue", "priority": "high", "category": "work", "due_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    app.create_task(
        &user,
        json!({"title": "future", "category": "home", "due_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let done = app
        .create_task(
            &user,
            json!({"title": "done", "priority": "low", "due_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    app.client
        .patch(app.url(&format!(
            "/api/{}/tasks/{}/complete",
            user.id,
            done["id"].as_str().unwrap()
        )))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    let stats: Value = app
        .get(&format!("/api/{}/stats", user.id), &user.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats,
        json!({
            "total": 3, "pending": 2, "completed": 1, "overdue": 1,
            "by_priority": {"low": 1, "medium": 1, "high": 1},
            "by_category": {"work": 1, "personal": 0, "home": 1, "other": 1}
        })
    );
    let empty: Value = app
        .get(&format!("/api/{}/stats", other.id), &other.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["total"], 1);
}
