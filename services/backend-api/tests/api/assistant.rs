//! The chat API with the online agent against a scripted local model, and conversation history.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::model_server::{ModelServer, Reply};

async fn chat(app: &TestApp, user: &crate::helpers::TestUser, body: Value) -> (StatusCode, Value) {
    let res = app
        .post_json(&format!("/api/{}/chat", user.id), Some(&user.token), &body)
        .await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn tasks(app: &TestApp, user: &crate::helpers::TestUser) -> Vec<Value> {
    let page: Value = app
        .get(&format!("/api/{}/tasks", user.id), &user.token)
        .await
        .json()
        .await
        .unwrap();
    page["tasks"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_tool_call_runs_for_the_caller_and_its_result_goes_back_to_the_model() {
    let model = ModelServer::start(vec![
        Reply::Tools(vec![(
            "add_task",
            json!({"title": "Buy milk", "priority": "high", "tags": ["home"], "due": "2030-01-15T17:00:00Z"})
                .to_string(),
        )]),
        Reply::Text("✅ Added \"Buy milk\" 🔴"),
    ])
    .await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;

    let (status, body) = chat(
        &app,
        &alice,
        json!({"message": "add buy milk, high priority, due jan 15 2030 5pm #home"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"], "✅ Added \"Buy milk\" 🔴");
    assert_eq!(body["tool_calls"][0]["name"], "add_task");
    assert_eq!(body["tool_calls"][0]["arguments"]["title"], "Buy milk");
    assert_eq!(body["tool_calls"][0]["result"]["task"]["priority"], "high");

    let stored = tasks(&app, &alice).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["title"], "Buy milk");
    assert_eq!(stored[0]["due_at"], "2030-01-15T17:00:00Z");
    assert_eq!(stored[0]["tags"], json!(["home"]));

    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].0.as_deref(), Some("Bearer test-key"));
    let first = &requests[0].1;
    assert_eq!(first["model"], "scripted");
    assert_eq!(first["messages"][0]["role"], "system");
    assert!(
        first["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("medium")
    );
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "add_task",
            "list_tasks",
            "complete_task",
            "delete_task",
            "update_task",
            "get_stats",
            "set_reminder"
        ]
    );
    // The second request carries the assistant's tool call and the tool's result for that call id.
    let second = requests[1].1["messages"].as_array().unwrap().clone();
    let tool_msg = second
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("tool result sent back");
    assert_eq!(tool_msg["tool_call_id"], "call_0");
    // Fenced as data: the JSON between the markers.
    let fenced = tool_msg["content"].as_str().unwrap();
    assert!(
        fenced.starts_with("<<tool_output>>\n") && fenced.ends_with("\n<<end_tool_output>>"),
        "{fenced}"
    );
    let content: Value = serde_json::from_str(fenced.lines().nth(1).unwrap()).unwrap();
    assert_eq!(content["result"]["task"]["title"], "Buy milk");
}

#[tokio::test]
async fn malformed_tool_arguments_go_back_as_an_error_and_change_nothing() {
    let model = ModelServer::start(vec![
        Reply::Tools(vec![("add_task", "{\"title\": \"Broken".to_owned())]),
        Reply::Tools(vec![(
            "add_task",
            json!({"title": "x", "colour": "red"}).to_string(),
        )]),
        Reply::Text("Sorry, I could not add that."),
    ])
    .await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;
    let (status, body) = chat(&app, &alice, json!({"message": "add something"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["tool_calls"][0]["result"]["error"]["code"],
        "invalid_arguments"
    );
    assert_eq!(
        body["tool_calls"][1]["result"]["error"]["code"],
        "invalid_arguments"
    );
    assert!(
        body["tool_calls"][1]["result"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    assert_eq!(body["response"], "Sorry, I could not add that.");
    assert!(tasks(&app, &alice).await.is_empty());
    // The model was told what was wrong.
    let second = &model.requests()[1].1["messages"];
    let tool_msg = second
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap();
    assert!(tool_msg["content"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn a_model_timeout_is_a_504_and_stores_nothing() {
    let model = ModelServer::start(vec![Reply::Slow(Duration::from_secs(3))]).await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;
    let (status, body) = chat(&app, &alice, json!({"message": "list my tasks"})).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "model_timeout");
    let list: Value = app
        .get(&format!("/api/{}/conversations", alice.id), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["conversations"], json!([]));
}

#[tokio::test]
async fn a_failing_model_is_a_502() {
    let model = ModelServer::start(vec![Reply::Status(500)]).await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;
    let (status, body) = chat(&app, &alice, json!({"message": "hi"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"]["code"], "model_unavailable");
}

#[tokio::test]
async fn the_model_cannot_reach_another_users_task_even_by_id() {
    let model = ModelServer::start(vec![]).await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;
    let bob = app.user().await;
    let res = app
        .post_json(
            &format!("/api/{}/tasks", bob.id),
            Some(&bob.token),
            &json!({"title": "Bob's secret"}),
        )
        .await;
    let bob_task: Value = res.json().await.unwrap();
    let id = bob_task["id"].as_str().unwrap().to_owned();
    for (tool, args) in [
        ("complete_task", json!({"task": id})),
        ("delete_task", json!({"task": id})),
        ("update_task", json!({"task": id, "title": "pwned"})),
        ("complete_task", json!({"task": "Bob's secret"})),
    ] {
        model
            .script_push(vec![
                Reply::Tools(vec![(tool, args.to_string())]),
                Reply::Text("done"),
            ])
            .await;
        let (status, body) = chat(&app, &alice, json!({"message": "do it"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["tool_calls"][0]["result"]["error"]["code"], "not_found",
            "{tool}: {body}"
        );
    }
    model
        .script_push(vec![
            Reply::Tools(vec![("list_tasks", json!({"status": "all"}).to_string())]),
            Reply::Text("none"),
        ])
        .await;
    let (_, body) = chat(&app, &alice, json!({"message": "list"})).await;
    assert_eq!(body["tool_calls"][0]["result"]["tasks"], json!([]));
    let bobs = tasks(&app, &bob).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["title"], "Bob's secret");
    assert_eq!(bobs[0]["completed"], false);
}

#[tokio::test]
async fn conversations_keep_history_for_the_model_and_are_private() {
    let model = ModelServer::start(vec![Reply::Text("Hello!"), Reply::Text("Still here.")]).await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;
    let bob = app.user().await;

    let (_, first) = chat(&app, &alice, json!({"message": "hello"})).await;
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();
    let (status, second) = chat(
        &app,
        &alice,
        json!({"message": "again", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["conversation_id"], conversation.as_str());
    // The second model request saw the first exchange.
    let sent = &model.requests()[1].1["messages"];
    let roles: Vec<(&str, &str)> = sent
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [("user", "hello"), ("assistant", "Hello!"), ("user", "again")]
    );

    let list: Value = app
        .get(&format!("/api/{}/conversations", alice.id), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["conversations"][0]["id"], conversation.as_str());
    assert_eq!(list["conversations"][0]["title"], "hello");
    let messages: Value = app
        .get(
            &format!("/api/{}/conversations/{conversation}/messages", alice.id),
            &alice.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let contents: Vec<&str> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["hello", "Hello!", "again", "Still here."]);

    // Bob can neither read, continue nor delete it.
    let res = app
        .get(
            &format!("/api/{}/conversations/{conversation}/messages", bob.id),
            &bob.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (status, _) = chat(
        &app,
        &bob,
        json!({"message": "hi", "conversation_id": conversation}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let res = app
        .delete(
            &format!("/api/{}/conversations/{conversation}", bob.id),
            &bob.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .get(&format!("/api/{}/conversations", alice.id), &bob.token)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Clearing removes them all.
    let res = app
        .delete(&format!("/api/{}/conversations/clear", alice.id), &alice.token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["count"], 1);
    let res = app
        .get(
            &format!("/api/{}/conversations/{conversation}/messages", alice.id),
            &alice.token,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_chat_input_is_a_clear_error() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    for (body, status, field) in [
        (
            json!({"message": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "message",
        ),
        (
            json!({"message": "   "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "message",
        ),
        (
            json!({"message": "x".repeat(4001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "message",
        ),
        (
            json!({"message": "hi", "conversation_id": "not-a-uuid"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "conversation_id",
        ),
        (
            json!({"message": "hi", "conversation_id": uuid::Uuid::new_v4()}),
            StatusCode::NOT_FOUND,
            "conversation_id",
        ),
        (json!({"text": "hi"}), StatusCode::UNPROCESSABLE_ENTITY, "text"),
    ] {
        let (got, body) = chat(&app, &alice, body.clone()).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let res = app
        .post_json(
            &format!("/api/{}/chat", alice.id),
            None,
            &json!({"message": "hi"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_stream_sends_tool_calls_then_the_reply_then_done() {
    let model = ModelServer::start(vec![
        Reply::Tools(vec![("add_task", json!({"title": "Stream me"}).to_string())]),
        Reply::Text("✅ Created \"Stream me\" — a reply long enough to arrive in several pieces."),
    ])
    .await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;
    let res = app
        .post_json(
            &format!("/api/{}/chat/stream", alice.id),
            Some(&alice.token),
            &json!({"message": "add stream me"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = res.text().await.unwrap();
    let events: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            let name = f.lines().find_map(|l| l.strip_prefix("event: ")).unwrap();
            let data = f.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            (name, serde_json::from_str(data).unwrap())
        })
        .collect();
    assert_eq!(events[0].0, "tool_call");
    assert_eq!(events[0].1["result"]["task"]["title"], "Stream me");
    let deltas: Vec<&str> = events
        .iter()
        .filter(|(n, _)| *n == "delta")
        .map(|(_, d)| d["text"].as_str().unwrap())
        .collect();
    // The model's pieces arrive as they were streamed, and add up to the stored reply.
    assert_eq!(deltas.len(), 3, "{events:?}");
    let (last, done) = events.last().unwrap();
    assert_eq!(*last, "done");
    assert_eq!(deltas.concat(), done["response"].as_str().unwrap());
    // The model was asked to stream, and the tool call's arguments were reassembled from pieces.
    assert!(model.requests().iter().all(|(_, body)| body["stream"] == true));
    assert!(done["conversation_id"].is_string());
}

#[tokio::test]
async fn a_failed_model_request_is_retried_within_the_budget() {
    let model = ModelServer::start(vec![
        Reply::Status(503),
        Reply::Status(429),
        Reply::Text("Third time lucky."),
    ])
    .await;
    let mut config = model.config();
    config.retries = 2;
    let app = TestApp::spawn_with_model(config).await;
    let alice = app.user().await;
    let (status, body) = chat(&app, &alice, json!({"message": "hi"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"], "Third time lucky.");
    assert_eq!(model.requests().len(), 3);
}
