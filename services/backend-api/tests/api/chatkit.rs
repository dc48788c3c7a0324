//! The ChatKit server (issue 21): the conversation a ChatKit web component holds, against the
//! scripted model — a thread created with a message, the tool the model runs announced in a
//! workflow, the answer streamed in pieces and stored, the items read back with the streamed ids —
//! and who may do what: client secrets, scopes, another user's threads, bad requests.
//! (`tests/chatkit/check_protocol.py` validates the same conversation with the official
//! `openai-chatkit` models in CI.)

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, titles};
use crate::model_server::{ModelServer, Reply};

fn input(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

async fn send(app: &TestApp, token: &str, request: &Value) -> reqwest::Response {
    app.post_json("/api/chatkit", Some(token), request).await
}

/// A streamed answer's events (`data:` frames).
async fn events(res: reqwest::Response) -> Vec<Value> {
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    let body = res.text().await.unwrap();
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|f| serde_json::from_str(f.strip_prefix("data: ").expect("a data frame")).unwrap())
        .collect()
}

async fn json_ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn secret(app: &TestApp, user: &TestUser) -> String {
    let res = app
        .post_json("/api/chatkit/session", Some(&user.token), &json!({}))
        .await;
    let body = json_ok(res).await;
    assert_eq!(body["expires_in"], 600);
    body["client_secret"].as_str().unwrap().to_owned()
}

/// The ids of a thread's items, oldest first.
async fn item_ids(app: &TestApp, token: &str, thread_id: &str) -> Vec<String> {
    let request = json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}});
    let page = json_ok(send(app, token, &request).await).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e["type"].as_str().unwrap() {
            "thread.item.updated" => format!("updated:{}", e["update"]["type"].as_str().unwrap()),
            "thread.item.added" | "thread.item.done" => {
                format!(
                    "{}:{}",
                    e["type"].as_str().unwrap(),
                    e["item"]["type"].as_str().unwrap()
                )
            }
            other => other.to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn a_chatkit_conversation_streams_the_tool_and_the_answer_and_reads_back_the_same_items() {
    const ANSWER: &str = "Added “Buy oat milk” for tomorrow — anything else?";
    let model = ModelServer::start(vec![
        Reply::Tools(vec![("add_task", json!({"title": "Buy oat milk"}).to_string())]),
        Reply::Text(ANSWER),
    ])
    .await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let user = app.user().await;
    let secret = secret(&app, &user).await;

    let res = send(
        &app,
        &secret,
        &json!({"type": "threads.create", "metadata": {},
        "params": {"input": input("add buy oat milk tomorrow")}}),
    )
    .await;
    let events = events(res).await;
    assert_eq!(
        kinds(&events)[..5],
        [
            "thread.created",
            "thread.item.done:user_message",
            "stream_options",
            "thread.item.added:workflow",
            "updated:workflow.task.added"
        ],
        "{events:#?}"
    );
    let tail = kinds(&events);
    let tail = &tail[5..];
    assert_eq!(
        tail[..3],
        [
            "thread.item.done:workflow",
            "thread.item.added:assistant_message",
            "updated:assistant_message.content_part.added"
        ]
    );
    assert_eq!(
        tail[tail.len() - 2..],
        [
            "updated:assistant_message.content_part.done",
            "thread.item.done:assistant_message"
        ]
    );
    let deltas: Vec<&str> = events
        .iter()
        .filter(|e| e["update"]["type"] == "assistant_message.content_part.text_delta")
        .map(|e| e["update"]["delta"].as_str().unwrap())
        .collect();
    assert!(
        deltas.len() > 1,
        "the answer was not streamed in pieces: {deltas:?}"
    );
    assert_eq!(deltas.concat(), ANSWER);

    let thread = &events[0]["thread"];
    let thread_id = thread["id"].as_str().unwrap();
    assert_eq!(thread["title"], "add buy oat milk tomorrow");
    assert_eq!(thread["status"], json!({"type": "active"}));
    let user_item = &events[1]["item"];
    assert_eq!(
        user_item["content"],
        json!([{"type": "input_text", "text": "add buy oat milk tomorrow"}])
    );
    let workflow = &events[5];
    assert_eq!(workflow["type"], "thread.item.done");
    assert_eq!(
        workflow["item"]["workflow"]["tasks"][0]["status_indicator"],
        "complete"
    );
    let answer = &events.last().unwrap()["item"];
    assert_eq!(
        answer["content"][0],
        json!({"type": "output_text", "text": ANSWER, "annotations": []})
    );
    assert_eq!(titles(&app.list(&user, "").await), ["Buy oat milk"]);

    // Read back: the same three items, with the ids that were streamed.
    let page = json_ok(
        send(
            &app,
            &secret,
            &json!({"type": "items.list",
        "params": {"thread_id": thread_id, "order": "asc"}}),
        )
        .await,
    )
    .await;
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            user_item["id"].as_str().unwrap(),
            workflow["item"]["id"].as_str().unwrap(),
            answer["id"].as_str().unwrap()
        ]
    );
    assert_eq!(page["data"][2], *answer);
    assert_eq!(page["has_more"], false);
    // Newest first, one message a page: the answer and its workflow, then the question.
    let newest = json_ok(
        send(
            &app,
            &secret,
            &json!({"type": "items.list",
        "params": {"thread_id": thread_id, "limit": 1}}),
        )
        .await,
    )
    .await;
    assert_eq!(newest["data"][0]["id"], answer["id"]);
    assert_eq!(newest["has_more"], true);
    let older = json_ok(
        send(
            &app,
            &secret,
            &json!({"type": "items.list",
        "params": {"thread_id": thread_id, "limit": 1, "after": newest["after"]}}),
        )
        .await,
    )
    .await;
    assert_eq!(older["data"][0]["id"], user_item["id"]);
    assert_eq!(older["has_more"], false);

    let got = json_ok(
        send(
            &app,
            &secret,
            &json!({"type": "threads.get_by_id",
        "params": {"thread_id": thread_id}}),
        )
        .await,
    )
    .await;
    assert_eq!(got["items"]["data"].as_array().unwrap().len(), 3);
    let listed = json_ok(send(&app, &secret, &json!({"type": "threads.list", "params": {}})).await).await;
    assert_eq!(listed["data"][0]["id"], thread_id);
    assert_eq!(listed["data"][0]["items"], json!({"data": [], "has_more": false}));

    // One history: the REST conversation is the thread, with the rating on the answer.
    let rated = send(
        &app,
        &secret,
        &json!({"type": "items.feedback",
        "params": {"thread_id": thread_id, "item_ids": [answer["id"]], "kind": "negative"}}),
    )
    .await;
    assert_eq!(json_ok(rated).await, json!({}));
    let messages = json_ok(
        app.get(
            &format!("/api/{}/conversations/{thread_id}/messages", user.id),
            &user.token,
        )
        .await,
    )
    .await;
    assert_eq!(messages["messages"][1]["id"], answer["id"]);
    assert_eq!(messages["messages"][1]["feedback"], "negative");
    assert_eq!(messages["messages"][1]["tool_calls"][0]["name"], "add_task");
}

#[tokio::test]
async fn a_failed_answer_keeps_the_question_and_a_retry_answers_it_again() {
    let model = ModelServer::start(vec![
        Reply::Status(500),
        Reply::Text("Here you go."),
        Reply::Text("Again."),
    ])
    .await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let user = app.user().await;
    let res = send(
        &app,
        &user.token,
        &json!({"type": "threads.create", "params": {"input": input("hello")}}),
    )
    .await;
    let failed = events(res).await;
    let last = failed.last().unwrap();
    assert_eq!(last["type"], "error", "{failed:#?}");
    assert_eq!(last["allow_retry"], true);
    assert!(
        !last["message"].as_str().unwrap().contains("500"),
        "the cause is not shown: {last}"
    );
    let thread_id = failed[0]["thread"]["id"].as_str().unwrap().to_owned();
    let question = failed[1]["item"]["id"].as_str().unwrap().to_owned();

    let retry =
        json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": question}});
    let answered = events(send(&app, &user.token, &retry).await).await;
    assert_eq!(
        answered.last().unwrap()["item"]["content"][0]["text"],
        "Here you go."
    );
    // Retrying again replaces that answer rather than adding to it.
    let again = events(send(&app, &user.token, &retry).await).await;
    let newest = &again.last().unwrap()["item"];
    assert_eq!(newest["content"][0]["text"], "Again.");
    let ids = item_ids(&app, &user.token, &thread_id).await;
    assert_eq!(ids, [question.as_str(), newest["id"].as_str().unwrap()]);
    // The model saw the question once, as the message, not also as history.
    let requests = model.requests();
    let last_request = &requests.last().unwrap().1;
    let users: Vec<&Value> = last_request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .collect();
    assert_eq!(users.len(), 1, "{last_request}");
    // Only a user message can be retried.
    let res = send(
        &app,
        &user.token,
        &json!({"type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": newest["id"]}}),
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found", Some("params.item_id")).await;
}

#[tokio::test]
async fn client_secrets_open_the_assistant_only_and_renew_until_they_expire() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let secret = secret(&app, &user).await;
    // Not a bearer token anywhere else.
    let res = app.get(&format!("/api/{}/tasks", user.id), &secret).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let res = app
        .post_json("/api/chatkit/session", Some(&secret), &json!({}))
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    // Renewed with itself (body or bearer) or the session; a forged one is refused.
    let renewed = json_ok(
        app.post_json("/api/chatkit/refresh", None, &json!({"client_secret": secret}))
            .await,
    )
    .await;
    let renewed = renewed["client_secret"].as_str().unwrap();
    json_ok(send(&app, renewed, &json!({"type": "threads.list", "params": {}})).await).await;
    json_ok(
        app.post_json("/api/chatkit/refresh", Some(renewed), &json!({}))
            .await,
    )
    .await;
    json_ok(
        app.client
            .post(app.url("/api/chatkit/refresh"))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = app
        .post_json(
            "/api/chatkit/refresh",
            None,
            &json!({"client_secret": user.token}),
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let res = app.post_json("/api/chatkit/refresh", None, &json!({})).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let res = send(
        &app,
        "not-a-token",
        &json!({"type": "threads.list", "params": {}}),
    )
    .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    // A personal access token needs the assistant scope, for the endpoint and for a session.
    let reader = crate::tokens::pat(&app, &user, &["tasks:read"]).await;
    let res = send(
        &app,
        &reader.token,
        &json!({"type": "threads.list", "params": {}}),
    )
    .await;
    assert_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    let res = app
        .post_json("/api/chatkit/session", Some(&reader.token), &json!({}))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "insufficient_scope", None).await;
    let assistant = crate::tokens::pat(&app, &user, &["assistant"]).await;
    json_ok(
        send(
            &app,
            &assistant.token,
            &json!({"type": "threads.list", "params": {}}),
        )
        .await,
    )
    .await;
    let health = json_ok(
        app.client
            .get(app.url("/api/chatkit/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(health, json!({"status": "ok", "assistant": "offline"}));
}

#[tokio::test]
async fn another_users_thread_is_not_found_whatever_the_request() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.user().await, app.user().await);
    let res = send(
        &app,
        &alice.token,
        &json!({"type": "threads.create", "params": {"input": input("add call mum")}}),
    )
    .await;
    let created = events(res).await;
    let thread_id = created[0]["thread"]["id"].as_str().unwrap();
    let item_id = created[1]["item"]["id"].as_str().unwrap();
    let answer_id = created.last().unwrap()["item"]["id"].as_str().unwrap();
    for request in [
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        json!({"type": "items.list", "params": {"thread_id": thread_id}}),
        json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "mine"}}),
        json!({"type": "threads.delete", "params": {"thread_id": thread_id}}),
        json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [answer_id], "kind": "positive"}}),
        json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": input("hi")}}),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": item_id}}),
        json!({"type": "threads.get_by_id", "params": {"thread_id": "not-a-uuid"}}),
    ] {
        let res = send(&app, &bob.token, &request).await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    }
    let mine = json_ok(
        send(
            &app,
            &alice.token,
            &json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        )
        .await,
    )
    .await;
    assert_eq!(mine["title"], "add call mum");
    let theirs = json_ok(send(&app, &bob.token, &json!({"type": "threads.list", "params": {}})).await).await;
    assert_eq!(theirs["data"], json!([]));
}

#[tokio::test]
async fn bad_chatkit_requests_are_refused_with_the_field_and_unsupported_ones_say_so() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let res = send(
        &app,
        &user.token,
        &json!({"type": "threads.create", "params": {"input": input("   ")}}),
    )
    .await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("params.input.content"),
    )
    .await;
    let with_file = json!({"content": [{"type": "input_text", "text": "see file"}], "attachments": ["att_1"], "inference_options": {}});
    let res = send(
        &app,
        &user.token,
        &json!({"type": "threads.create", "params": {"input": with_file}}),
    )
    .await;
    let body = assert_error(res, StatusCode::BAD_REQUEST, "bad_request", None).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not supported"),
        "{body}"
    );
    let res = send(&app, &user.token, &json!({"type": "attachments.create", "params": {"name": "a.png", "size": 1, "mime_type": "image/png"}})).await;
    assert_error(res, StatusCode::BAD_REQUEST, "bad_request", None).await;
    let res = send(
        &app,
        &user.token,
        &json!({"type": "threads.list", "params": {"limit": -1}}),
    )
    .await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("params.limit"),
    )
    .await;
    // A history pane asking for everything gets a page of at most 200, as ChatKit's own server would.
    let all = json!({"type": "threads.list", "params": {"limit": 9999}});
    assert_eq!(send(&app, &user.token, &all).await.status(), StatusCode::OK);
    let res = send(
        &app,
        &user.token,
        &json!({"type": "threads.explode", "params": {}}),
    )
    .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_eq!(
        app.store
            .conversations()
            .list(&user.id, 10, None)
            .await
            .unwrap()
            .conversations
            .len(),
        0
    );

    let created = events(
        send(
            &app,
            &user.token,
            &json!({"type": "threads.create", "params": {"input": input("hello")}}),
        )
        .await,
    )
    .await;
    let thread_id = created[0]["thread"]["id"].as_str().unwrap();
    let res = send(
        &app,
        &user.token,
        &json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "x".repeat(81)}}),
    )
    .await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("params.title"),
    )
    .await;
    let renamed = json_ok(
        send(
            &app,
            &user.token,
            &json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": " Plans "}}),
        )
        .await,
    )
    .await;
    assert_eq!(renamed["title"], "Plans");
    // Client tools are refused inside the stream ChatKit expects; an action TaskFlow's cards never
    // send is a 400 naming it.
    let refused = events(
        send(
            &app,
            &user.token,
            &json!({"type": "threads.add_client_tool_output",
            "params": {"thread_id": thread_id, "result": {}}}),
        )
        .await,
    )
    .await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["type"], "error");
    assert_eq!(refused[0]["allow_retry"], false);
    let res = send(
        &app,
        &user.token,
        &json!({"type": "threads.custom_action",
        "params": {"thread_id": thread_id, "action": {"type": "x", "payload": {}}}}),
    )
    .await;
    assert_error(
        res,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("params.action.type"),
    )
    .await;
}

#[tokio::test]
async fn chatkit_turns_draw_from_the_users_chat_rate_and_reads_do_not() {
    let app = TestApp::spawn_configured(|c| {
        c.auth_limits.rates.chat =
            taskflow_backend_api::rate_limit::Rate::per(1, std::time::Duration::from_secs(60), 1);
    })
    .await;
    let user = app.user().await;
    let create = json!({"type": "threads.create", "params": {"input": input("hello")}});
    events(send(&app, &user.token, &create).await).await;
    let res = send(&app, &user.token, &create).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    json_ok(send(&app, &user.token, &json!({"type": "threads.list", "params": {}})).await).await;
    let listed = app.store.conversations().list(&user.id, 10, None).await.unwrap();
    assert_eq!(listed.conversations.len(), 1, "a refused turn created no thread");
}

/// A deletion the assistant proposes is a card; "Delete" deletes (once), "Keep it" keeps, and the
/// thread read back shows each card decided.
#[tokio::test]
async fn a_deletion_card_deletes_on_confirm_keeps_on_cancel_and_reads_back_decided() {
    let app = TestApp::spawn().await;
    let (user, other) = (app.user().await, app.user().await);
    app.create_task(&user, json!({"title": "read a book"})).await;
    app.create_task(&user, json!({"title": "submit taxes"})).await;
    let proposed = events(
        send(
            &app,
            &user.token,
            &json!({"type": "threads.create",
        "params": {"input": input("delete the read a book task")}}),
        )
        .await,
    )
    .await;
    let thread_id = proposed[0]["thread"]["id"].as_str().unwrap().to_owned();
    let card = proposed
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "widget")
        .unwrap_or_else(|| panic!("no card: {proposed:#?}"))["item"]
        .clone();
    assert_eq!(card["widget"]["type"], "Card");
    let confirm = card["widget"]["confirm"]["action"].clone();
    assert_eq!(confirm["type"], "task.delete.confirm");
    assert_eq!(
        titles(&app.list(&user, "").await).len(),
        2,
        "nothing is deleted before the click"
    );
    let click = |action: &Value| {
        json!({"type": "threads.custom_action",
        "params": {"thread_id": thread_id, "item_id": card["id"], "action": action}})
    };

    // Not another user's card, nor a forged confirmation.
    let res = send(&app, &other.token, &click(&confirm)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    let forged = json!({"type": "task.delete.confirm", "payload": {"confirmation": "x.1.00"}});
    let res = send(&app, &user.token, &click(&forged)).await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;

    let done = events(send(&app, &user.token, &click(&confirm)).await).await;
    let replaced = done.iter().find(|e| e["type"] == "thread.item.replaced").unwrap();
    assert_eq!(replaced["item"]["id"], card["id"]);
    assert!(replaced["item"]["widget"].get("confirm").is_none(), "{replaced}");
    let said = &done.last().unwrap()["item"];
    assert_eq!(said["type"], "assistant_message");
    assert_eq!(titles(&app.list(&user, "").await), ["submit taxes"]);
    let res = send(&app, &user.token, &click(&confirm)).await;
    assert_error(res, StatusCode::CONFLICT, "conflict", None).await;

    // Read back: the card decided, then what was said.
    let page = json_ok(
        send(
            &app,
            &user.token,
            &json!({"type": "items.list",
        "params": {"thread_id": thread_id, "order": "asc"}}),
        )
        .await,
    )
    .await;
    let items = page["data"].as_array().unwrap();
    let read_card = items.iter().find(|i| i["id"] == card["id"]).unwrap();
    assert_eq!(read_card["widget"], replaced["item"]["widget"]);
    assert_eq!(items.last().unwrap(), said);

    // Keeping: the task stays, the card says so.
    let kept = events(
        send(
            &app,
            &user.token,
            &json!({"type": "threads.add_user_message",
        "params": {"thread_id": thread_id, "input": input("delete the submit taxes task")}}),
        )
        .await,
    )
    .await;
    let card = kept.iter().find(|e| e["item"]["type"] == "widget").unwrap()["item"].clone();
    let cancel = card["widget"]["cancel"]["action"].clone();
    let done = events(
        send(
            &app,
            &user.token,
            &json!({"type": "threads.custom_action",
        "params": {"thread_id": thread_id, "item_id": card["id"], "action": cancel}}),
        )
        .await,
    )
    .await;
    assert_eq!(
        done.iter()
            .filter(|e| e["type"] == "thread.item.replaced")
            .count(),
        1
    );
    assert!(
        done.iter().all(|e| e["type"] != "thread.item.done"),
        "keeping says nothing more: {done:#?}"
    );
    assert_eq!(titles(&app.list(&user, "").await), ["submit taxes"]);
}
