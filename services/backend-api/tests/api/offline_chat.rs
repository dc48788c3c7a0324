//! The offline agent end to end: English sentences over `POST /chat` become real tasks, found,
//! completed and deleted by name — and an ambiguous name makes it ask instead of acting.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};

async fn say(app: &TestApp, user: &TestUser, message: &str) -> Value {
    let res = app
        .post_json(
            &format!("/api/{}/chat", user.id),
            Some(&user.token),
            &json!({"message": message}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{message}");
    res.json().await.unwrap()
}

async fn all_tasks(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let page: Value = app
        .get(&format!("/api/{}/tasks?limit=100", user.id), &user.token)
        .await
        .json()
        .await
        .unwrap();
    page["tasks"].as_array().cloned().unwrap_or_default()
}

fn by_title<'a>(tasks: &'a [Value], title: &str) -> &'a Value {
    tasks
        .iter()
        .find(|t| t["title"] == title)
        .unwrap_or_else(|| panic!("no task {title:?} in {tasks:?}"))
}

#[tokio::test]
async fn sentences_become_tasks_and_manage_them_by_name() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;

    let r = say(&app, &alice, "add high priority task fix bug due tomorrow #work").await;
    assert_eq!(r["tool_calls"][0]["name"], "add_task");
    assert!(r["response"].as_str().unwrap().starts_with("✅"), "{r}");
    say(&app, &alice, "remind me to pay rent every month on the 1st").await;
    say(&app, &alice, "add water plants every weekday at 8am").await;
    say(&app, &alice, "add low priority task read a book").await;

    let tasks = all_tasks(&app, &alice).await;
    assert_eq!(tasks.len(), 4, "{tasks:?}");
    let bug = by_title(&tasks, "fix bug");
    assert_eq!(bug["priority"], "high");
    assert_eq!(bug["tags"], json!(["work"]));
    assert!(bug["due_at"].is_string());
    let rent = by_title(&tasks, "pay rent");
    assert_eq!(rent["recurrence"]["rule"], "FREQ=MONTHLY;BYMONTHDAY=1");
    // A series without a stated date starts on its first date.
    assert!(rent["due_at"].as_str().unwrap().contains("-01T"), "{rent}");
    let plants = by_title(&tasks, "water plants");
    assert_eq!(plants["recurrence"]["rule"], "weekdays");
    assert!(
        plants["due_at"].as_str().unwrap().ends_with("T08:00:00Z"),
        "{plants}"
    );
    assert_eq!(by_title(&tasks, "read a book")["priority"], "low");

    let r = say(&app, &alice, "show my tasks").await;
    assert_eq!(r["tool_calls"][0]["result"]["count"], 4);

    let r = say(&app, &alice, "complete fix bug").await;
    assert_eq!(r["tool_calls"][0]["result"]["task"]["completed"], true, "{r}");
    let r = say(&app, &alice, "delete the read a book task").await;
    assert_eq!(r["tool_calls"][0]["name"], "delete_task", "{r}");
    // Deleting waits for the user's confirmation.
    let id = r["tool_calls"][0]["result"]["confirmation_required"]["id"]
        .as_str()
        .unwrap();
    assert_eq!(all_tasks(&app, &alice).await.len(), 4);
    let res = app
        .post_json(
            &format!("/api/{}/chat/confirm", alice.id),
            Some(&alice.token),
            &json!({"confirmation": id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let r = say(&app, &alice, "show my stats").await;
    assert_eq!(r["tool_calls"][0]["result"]["total"], 3);
    assert_eq!(r["tool_calls"][0]["result"]["completed"], 1);

    let tasks = all_tasks(&app, &alice).await;
    assert!(tasks.iter().all(|t| t["title"] != "read a book"));
}

#[tokio::test]
async fn an_ambiguous_name_is_asked_about_not_guessed() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    say(&app, &alice, "add call mom").await;
    say(&app, &alice, "add call dentist").await;
    let r = say(&app, &alice, "complete call").await;
    assert_eq!(r["tool_calls"][0]["result"]["error"]["code"], "ambiguous", "{r}");
    assert!(r["response"].as_str().unwrap().contains("Which one"), "{r}");
    assert!(
        all_tasks(&app, &alice)
            .await
            .iter()
            .all(|t| t["completed"] == false)
    );
}

#[tokio::test]
async fn what_it_cannot_understand_is_said_plainly_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let r = say(&app, &alice, "the mitochondria is the powerhouse of the cell").await;
    assert_eq!(r["tool_calls"], json!([]));
    assert!(!r["response"].as_str().unwrap().is_empty());
    assert!(all_tasks(&app, &alice).await.is_empty());
}

#[tokio::test]
async fn one_users_chat_never_touches_another_users_tasks() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bob = app.user().await;
    say(&app, &bob, "add submit taxes").await;
    let r = say(&app, &alice, "complete submit taxes").await;
    assert_eq!(r["tool_calls"][0]["result"]["error"]["code"], "not_found", "{r}");
    let r = say(&app, &alice, "delete the submit taxes task").await;
    assert_eq!(r["tool_calls"][0]["result"]["error"]["code"], "not_found", "{r}");
    let bobs = all_tasks(&app, &bob).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["completed"], false);
}

#[tokio::test]
async fn the_offline_stream_reports_the_tool_then_the_reply() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let res = app
        .post_json(
            &format!("/api/{}/chat/stream", alice.id),
            Some(&alice.token),
            &json!({"message": "add buy stamps"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let names: Vec<&str> = text
        .split("\n\n")
        .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("event: ")))
        .collect();
    assert_eq!(names, ["tool_call", "delta", "done"], "{text}");
    assert_eq!(all_tasks(&app, &alice).await.len(), 1);
}
