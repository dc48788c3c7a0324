//! Requests shaped for the predecessors (the FastAPI "Phase 5" backends): their field and parameter
//! names are taken where the meaning is unambiguous, answers keep TaskFlow's names, and both names
//! of one field at once are refused.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, titles};

#[tokio::test]
async fn a_seed_shaped_task_is_created_with_its_meaning() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let task = app
        .create_task(
            &user,
            json!({
                "title": "Team sync", "description": null, "priority": "high", "category": "work",
                "tags": ["team"], "due_date": "2030-01-07T09:00:00Z", "recurring_rule": "weekly",
                "recurring_end_date": "2030-03-01T00:00:00Z", "reminder_at": "2030-01-07T08:45:00Z"
            }),
        )
        .await;
    assert_eq!(task["due_at"], "2030-01-07T09:00:00Z");
    assert_eq!(task["recurrence"]["rule"], "weekly");
    assert_eq!(task["recurrence"]["ends_at"], "2030-03-01T00:00:00Z");
    let reminders = task["reminders"].as_array().unwrap();
    assert_eq!(reminders.len(), 1, "{task}");
    assert_eq!(reminders[0]["remind_at"], "2030-01-07T08:45:00Z");
    assert_eq!(reminders[0]["minutes_before_due"], Value::Null);
    for old in ["due_date", "recurring_rule", "recurring_end_date", "reminder_at"] {
        assert!(
            task.get(old).is_none(),
            "answers keep TaskFlow's names: {old} in {task}"
        );
    }

    // The predecessor frontends send every field, unset ones as null.
    let plain = app
        .create_task(
            &user,
            json!({"title": "Plain", "due_date": null, "recurring_rule": null,
                   "recurring_end_date": null, "reminder_at": null}),
        )
        .await;
    assert_eq!(plain["due_at"], Value::Null);
    assert_eq!(plain["recurrence"], Value::Null);
    assert_eq!(plain["reminders"], json!([]));
}

#[tokio::test]
async fn seed_shaped_updates_set_and_clear_with_the_old_names() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let task = app
        .create_task(
            &user,
            json!({"title": "Water plants", "due_at": "2030-01-07T09:00:00Z"}),
        )
        .await;
    let path = format!("/api/{}/tasks/{}", user.id, task["id"].as_str().unwrap());
    let put = |body: Value| {
        let (app, path, token) = (&app, &path, &user.token);
        async move {
            let res = app.put_json(path, token, &body).await;
            let status = res.status();
            let json: Value = res.json().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}: {json}");
            json
        }
    };
    let set = put(
        json!({"due_date": "2030-01-08T10:00:00Z", "recurring_rule": "daily",
                         "reminder_at": "2030-01-08T09:00:00Z"}),
    )
    .await;
    assert_eq!(set["due_at"], "2030-01-08T10:00:00Z");
    assert_eq!(set["recurrence"]["rule"], "daily");
    assert_eq!(set["reminders"][0]["remind_at"], "2030-01-08T09:00:00Z");

    let cleared = put(json!({"recurring_rule": null, "reminder_at": null, "due_date": null})).await;
    assert_eq!(cleared["recurrence"], Value::Null);
    assert_eq!(cleared["reminders"], json!([]));
    assert_eq!(cleared["due_at"], Value::Null);
}

#[tokio::test]
async fn both_names_of_one_field_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let tasks = format!("/api/{}/tasks", user.id);
    for (body, field) in [
        (
            json!({"title": "x", "recurrence": "daily", "recurring_rule": "daily"}),
            Some("recurring_rule"),
        ),
        (
            json!({"title": "x", "due_at": "2030-01-01T00:00:00Z", "reminders": [{"minutes_before_due": 5}],
                   "reminder_at": "2030-01-01T00:00:00Z"}),
            Some("reminder_at"),
        ),
        (
            json!({"title": "x", "recurring_end_date": "2030-01-01T00:00:00Z"}),
            Some("recurring_end_date"),
        ),
        (
            json!({"title": "x", "recurring_rule": "every blue moon"}),
            Some("recurrence.rule"),
        ),
        // One field under two names: serde's duplicate-field refusal, no field to name.
        (
            json!({"title": "x", "due_at": "2030-01-01T00:00:00Z", "due_date": "2030-01-02T00:00:00Z"}),
            None,
        ),
    ] {
        let res = app.post_json(&tasks, Some(&user.token), &body).await;
        let error = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", field).await;
        if field.is_none() {
            assert!(
                error["error"]["message"].as_str().unwrap().contains("due_at"),
                "{error}"
            );
        }
    }
    assert!(
        titles(&app.list(&user, "").await).is_empty(),
        "nothing was created"
    );
    // An update's fields are checked before its task is looked up: the same 422, not a 404.
    let missing = format!("{tasks}/{}", uuid::Uuid::now_v7());
    let body = json!({"recurring_end_date": "2030-01-01T00:00:00Z"});
    let res = app.put_json(&missing, &user.token, &body).await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("recurring_end_date"),
    )
    .await;
}

#[tokio::test]
async fn the_list_takes_the_old_filter_and_sort_names() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for (title, due) in [
        ("Later", "2030-02-01T00:00:00Z"),
        ("Sooner", "2030-01-01T00:00:00Z"),
    ] {
        app.create_task(&user, json!({"title": title, "due_date": due}))
            .await;
    }
    let done = app.create_task(&user, json!({"title": "Done"})).await;
    let complete = format!("/api/{}/tasks/{}/complete", user.id, done["id"].as_str().unwrap());
    let res = app
        .client
        .patch(app.url(&complete))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    assert_eq!(
        titles(
            &app.list(&user, "status_filter=pending&sort_by=due_date&sort_order=asc")
                .await
        ),
        ["Sooner", "Later"]
    );
    assert_eq!(
        titles(&app.list(&user, "status_filter=completed").await),
        ["Done"]
    );
    let res = app
        .get(
            &format!("/api/{}/tasks?status=all&status_filter=pending", user.id),
            &user.token,
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request", Some("status_filter")).await;
}

#[tokio::test]
async fn the_old_chat_and_history_paths_run_the_assistant_for_the_caller() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let history = format!("/api/{}/conversations/history", user.id);

    let res = app.get(&history, &user.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let empty: Value = res.json().await.unwrap();
    assert_eq!(
        empty,
        json!({"conversation_id": null, "messages": [], "next_cursor": null})
    );

    let res = app
        .post_json(
            "/api/chat",
            Some(&user.token),
            &json!({"message": "add buy stamps"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    let conversation = answer["conversation_id"].as_str().unwrap().to_owned();
    assert!(!answer["response"].as_str().unwrap().is_empty(), "{answer}");
    assert_eq!(answer["tool_calls"][0]["name"], "add_task", "{answer}");
    assert_eq!(titles(&app.list(&user, "").await), ["buy stamps"]);

    // A second turn in the same conversation, then the history shows both turns, oldest first.
    let res = app
        .post_json(
            "/api/chat",
            Some(&user.token),
            &json!({"message": "list my tasks", "conversation_id": conversation}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get(&history, &user.token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["conversation_id"], conversation.as_str());
    let roles: Vec<&str> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(shown["messages"][0]["content"], "add buy stamps");

    // Paged like the messages route.
    let res = app.get(&format!("{history}?limit=2"), &user.token).await;
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["messages"][0]["content"], "list my tasks");
    assert!(page["next_cursor"].is_string(), "{page}");

    // Never without a token, never another user's.
    let res = app.post_json("/api/chat", None, &json!({"message": "hi"})).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let other = app.user().await;
    let res = app.get(&history, &other.token).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
}

/// The predecessors' second agent answered in Urdu. With a model configured, TaskFlow asks it to
/// answer in the user's language, passes the user's words through as sent, stores and streams the
/// answer whole, and the task the model creates keeps its Urdu title.
#[tokio::test]
async fn an_urdu_turn_goes_to_the_model_as_sent_and_its_answer_comes_back_whole() {
    use crate::model_server::{ModelServer, Reply};

    const ASKED: &str = "کل صبح دودھ خریدنے کا کام شامل کریں";
    const TITLE: &str = "دودھ خریدیں";
    const ANSWER: &str = "✅ کام شامل کر دیا گیا: «دودھ خریدیں» 📅 کل صبح";
    let model = ModelServer::start(vec![
        Reply::Tools(vec![("add_task", json!({"title": TITLE}).to_string())]),
        Reply::Text(ANSWER),
        Reply::Text(ANSWER),
    ])
    .await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let user = app.user().await;

    let res = app
        .post_json("/api/chat", Some(&user.token), &json!({"message": ASKED}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["response"], ANSWER);
    assert_eq!(titles(&app.list(&user, "").await), [TITLE]);

    let first = &model.requests()[0].1;
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("in the user's language"), "{system}");
    let user_turn = first["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap();
    assert_eq!(user_turn["content"], ASKED);

    // Streamed, the pieces (cut between characters, not bytes) add up to the same Urdu answer.
    let res = app
        .post_json(
            &format!("/api/{}/chat/stream", user.id),
            Some(&user.token),
            &json!({"message": ASKED, "conversation_id": answer["conversation_id"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let deltas: String = text
        .split("\n\n")
        .filter(|frame| frame.lines().any(|l| l == "event: delta"))
        .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|data| {
            serde_json::from_str::<Value>(data).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(deltas, ANSWER);
    let res = app
        .get(&format!("/api/{}/conversations/history", user.id), &user.token)
        .await;
    let history: Value = res.json().await.unwrap();
    let contents: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, [ASKED, ANSWER, ASKED, ANSWER]);
}
