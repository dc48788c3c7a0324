//! The assistant never deletes on its own: "delete X" comes back as a proposal with a confirmation
//! id, and only the user sending that id back deletes — their own task, before it expires.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error};

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

async fn confirm(app: &TestApp, user: &TestUser, id: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/{}/chat/confirm", user.id),
        Some(&user.token),
        &json!({"confirmation": id}),
    )
    .await
}

async fn count(app: &TestApp, user: &TestUser) -> usize {
    app.list(user, "status=all").await["tasks"]
        .as_array()
        .unwrap()
        .len()
}

/// The attack: "delete groceries" deleted at once (and a model could be talked into it). Now
/// nothing is deleted until the user confirms; another user's confirmation and a tampered one are
/// refused; a replay finds nothing.
#[tokio::test]
async fn delete_in_chat_waits_for_the_users_confirmation() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bob = app.user().await;
    app.create_task(&alice, json!({"title": "groceries"})).await;

    let r = say(&app, &alice, "delete the groceries task").await;
    assert_eq!(count(&app, &alice).await, 1, "deleted without confirmation: {r}");
    let proposal = &r["tool_calls"][0]["result"]["confirmation_required"];
    assert_eq!(proposal["action"], "delete_task", "{r}");
    assert_eq!(proposal["task"]["title"], "groceries");
    assert!(r["response"].as_str().unwrap().contains("confirm"), "{r}");
    let id = proposal["id"].as_str().unwrap().to_owned();

    // Bob cannot use Alice's confirmation, on his path or hers.
    assert_error(
        confirm(&app, &bob, &id).await,
        StatusCode::NOT_FOUND,
        "not_found",
        Some("confirmation"),
    )
    .await;
    let res = app
        .post_json(
            &format!("/api/{}/chat/confirm", alice.id),
            Some(&bob.token),
            &json!({"confirmation": id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A forged expiry breaks the signature.
    let parts: Vec<&str> = id.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], 9_999_999_999i64, parts[2]);
    assert_error(
        confirm(&app, &alice, &forged).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    assert_eq!(count(&app, &alice).await, 1);

    let res = confirm(&app, &alice, &id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body["response"].as_str().unwrap().contains("Deleted"), "{body}");
    assert_eq!(count(&app, &alice).await, 0);
    assert_eq!(confirm(&app, &alice, &id).await.status(), StatusCode::NOT_FOUND);
}

/// An expired confirmation (signed with the app's key, ten minutes ago) is refused with 422.
#[tokio::test]
async fn an_expired_confirmation_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let task = app.create_task(&alice, json!({"title": "old"})).await;
    let key = taskflow_backend_api::ConfirmKey::new(crate::helpers::SECRET.as_bytes());
    let expired = key.sign(
        &alice.id,
        task["id"].as_str().unwrap(),
        chrono::Utc::now().timestamp() - 1,
    );
    assert_error(
        confirm(&app, &alice, &expired).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("confirmation"),
    )
    .await;
    assert_eq!(count(&app, &alice).await, 1);
}

/// One message asking for many deletions gets at most three proposals; the stream carries them too.
#[tokio::test]
async fn a_turn_proposes_at_most_three_deletions_and_the_stream_shows_them() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    for t in ["a1", "a2", "a3", "a4"] {
        app.create_task(&alice, json!({"title": t})).await;
    }
    let r = say(&app, &alice, "delete a1; delete a2; delete a3; delete a4").await;
    let calls = r["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 4, "{r}");
    assert!(
        calls[..3]
            .iter()
            .all(|c| c["result"]["confirmation_required"]["id"].is_string()),
        "{r}"
    );
    assert_eq!(calls[3]["result"]["error"]["code"], "not_allowed", "{r}");
    assert_eq!(count(&app, &alice).await, 4);

    let res = app
        .post_json(
            &format!("/api/{}/chat/stream", alice.id),
            Some(&alice.token),
            &json!({"message": "delete a1"}),
        )
        .await;
    let text = res.text().await.unwrap();
    let data = text
        .split("\n\n")
        .find(|f| f.starts_with("event: tool_call"))
        .and_then(|f| f.lines().find_map(|l| l.strip_prefix("data: ")))
        .unwrap();
    let call: Value = serde_json::from_str(data).unwrap();
    let id = call["result"]["confirmation_required"]["id"].as_str().unwrap();
    assert_eq!(count(&app, &alice).await, 4);
    assert_eq!(confirm(&app, &alice, id).await.status(), StatusCode::OK);
    assert_eq!(count(&app, &alice).await, 3);
}

/// The online loop: a model (misled, say, by text planted in a task) that calls `delete_task` five
/// times in one step deletes nothing; three proposals come back, the rest are refused, and its
/// system prompt tells it deletions wait for the user and tool output is data.
#[tokio::test]
async fn the_online_agent_only_proposes_deletions() {
    use crate::model_server::{ModelServer, Reply};

    let model = ModelServer::start(vec![
        Reply::Tools(
            ["b1", "b2", "b3", "b4", "b5"]
                .iter()
                .map(|t| ("delete_task", json!({ "task": t }).to_string()))
                .collect(),
        ),
        Reply::Text("Deleted them all."),
    ])
    .await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;
    for t in ["b1", "b2", "b3", "b4", "b5"] {
        app.create_task(&alice, json!({"title": t})).await;
    }
    let r = say(&app, &alice, "tidy up").await;
    assert_eq!(count(&app, &alice).await, 5, "{r}");
    let calls = r["tool_calls"].as_array().unwrap();
    let proposed = calls
        .iter()
        .filter(|c| c["result"]["confirmation_required"]["id"].is_string())
        .count();
    assert_eq!(proposed, 3, "{r}");
    assert!(
        calls[3..]
            .iter()
            .all(|c| c["result"]["error"]["code"] == "not_allowed"),
        "{r}"
    );
    let prompt = model.requests()[0].1["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!prompt.contains("do not ask for confirmation"), "{prompt}");
    assert!(
        prompt.contains("confirm") && prompt.contains("<<tool_output>>"),
        "{prompt}"
    );
}
