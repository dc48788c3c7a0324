//! Real-time updates end to end in the single binary: REST writes reach the user's WebSocket and SSE
//! clients, in order, and nobody else's; tokens and single-use stream tickets are checked before
//! anything is streamed, and the long-lived token is refused in the URL unless `STREAM_TOKEN_IN_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use taskflow_test_support::TestDb;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::support::{self, Socket, next_json, sse_events};

struct System {
    base: String,
    ws: String,
    client: reqwest::Client,
    _db: TestDb,
}

struct User {
    id: String,
    token: String,
}

async fn start() -> System {
    start_with(support::no_reminder_ticks()).await
}

async fn start_with(options: taskflow::SystemOptions) -> System {
    let support::System { base, client, db, .. } = support::system(Vec::new(), options).await;
    let ws = format!("{}/ws", base.replace("http://", "ws://"));
    System {
        base,
        ws,
        client,
        _db: db,
    }
}

impl System {
    async fn user(&self) -> User {
        let (id, token) = support::sign_up(&self.client, &self.base, json!({})).await;
        User { id, token }
    }

    async fn ticket(&self, user: &User) -> String {
        support::stream_ticket(&self.client, &self.base, &user.id, &user.token).await
    }

    async fn create(&self, user: &User, title: &str) -> Value {
        self.client
            .post(format!("{}/api/{}/tasks", self.base, user.id))
            .bearer_auth(&user.token)
            .json(&json!({ "title": title }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

async fn silent(socket: &mut Socket) -> bool {
    loop {
        match tokio::time::timeout(Duration::from_millis(300), socket.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Text(_)))) => return false,
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn each_of_a_users_sockets_gets_their_events_in_order_and_nobody_elses() {
    let sys = start().await;
    let (alice, bob) = (sys.user().await, sys.user().await);
    // Three ways in: the token in a header, a stream ticket in the query string, the token as a
    // WebSocket sub-protocol.
    let mut with_header = sys.ws.as_str().into_client_request().unwrap();
    with_header.headers_mut().insert(
        "authorization",
        format!("Bearer {}", alice.token).parse().unwrap(),
    );
    let (mut a1, _) = tokio_tungstenite::connect_async(with_header).await.unwrap();
    let (mut a2, _) =
        tokio_tungstenite::connect_async(format!("{}?ticket={}", sys.ws, sys.ticket(&alice).await))
            .await
            .unwrap();
    let mut with_protocol = sys.ws.as_str().into_client_request().unwrap();
    with_protocol.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer, {}", bob.token).parse().unwrap(),
    );
    let (mut b, response) = tokio_tungstenite::connect_async(with_protocol).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "bearer");

    let task = sys.create(&alice, "Live").await;
    let url = format!(
        "{}/api/{}/tasks/{}",
        sys.base,
        alice.id,
        task["id"].as_str().unwrap()
    );
    sys.client
        .put(&url)
        .bearer_auth(&alice.token)
        .json(&json!({"priority": "high"}))
        .send()
        .await
        .unwrap();
    sys.client
        .patch(format!("{url}/complete"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    sys.client
        .delete(&url)
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();

    for socket in [&mut a1, &mut a2] {
        let mut kinds = Vec::new();
        for _ in 0..4 {
            let m = next_json(socket).await;
            assert_eq!(m["task_id"], task["id"]);
            assert!(m["id"].is_string() && m["occurred_at"].is_string());
            assert_eq!(m["data"]["user_id"], alice.id.as_str());
            kinds.push(m["type"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            kinds,
            ["task-created", "task-updated", "task-completed", "task-deleted"]
        );
    }
    assert!(silent(&mut b).await, "bob's socket receives nothing of alice's");
    a1.send(Message::Close(None)).await.unwrap();
}

#[tokio::test]
async fn sockets_without_a_valid_token_are_refused_before_the_upgrade() {
    let sys = start().await;
    let user = sys.user().await;
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": user.id, "iss": "taskflow", "exp": chrono::Utc::now().timestamp() - 3600}),
        &jsonwebtoken::EncodingKey::from_secret(support::SECRET),
    )
    .unwrap();
    for url in [
        sys.ws.clone(),
        format!("{}?ticket=garbage", sys.ws),
        format!("{}?ticket={expired}", sys.ws),
        // A valid access token, but in the URL.
        format!("{}?token={}", sys.ws, user.token),
    ] {
        match tokio_tungstenite::connect_async(url.clone()).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 401, "{url}"),
            other => panic!("{url}: expected 401, got {:?}", other.map(|_| ())),
        }
    }
    let sse = |user_path: &str, token: Option<&str>| {
        let mut req = sys.client.get(format!("{}/api/sse/{user_path}", sys.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(sse(&user.id, None).await.unwrap().status(), 401);
    assert_eq!(sse(&user.id, Some(&expired)).await.unwrap().status(), 401);
    assert_eq!(
        sse("someone-else", Some(&user.token)).await.unwrap().status(),
        401,
        "another user's stream"
    );
}

#[tokio::test]
async fn sse_streams_events_and_replays_what_a_reconnecting_client_missed() {
    let sys = start().await;
    let user = sys.user().await;
    let url = format!("{}/api/sse/{}", sys.base, user.id);
    let mut first = sys
        .client
        .get(&url)
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(first.headers()["content-type"], "text/event-stream");
    sys.create(&user, "one").await;
    let seen = sse_events(&mut first, 1).await;
    assert_eq!(seen[0].1, "task-created");
    assert_eq!(seen[0].2["data"]["task"]["title"], "one");
    let last_id = seen[0].0.clone();
    drop(first);

    sys.create(&user, "two").await;
    sys.create(&user, "three").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A browser reopening EventSource with a fresh ticket resumes with `?last_event_id=`.
    let mut again = sys
        .client
        .get(format!(
            "{url}?ticket={}&last_event_id={last_id}",
            sys.ticket(&user).await
        ))
        .send()
        .await
        .unwrap();
    let replayed = sse_events(&mut again, 2).await;
    let titles: Vec<&str> = replayed
        .iter()
        .map(|(_, _, d)| d["data"]["task"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["two", "three"], "exactly what was missed, in order");

    let mut unknown = sys
        .client
        .get(&url)
        .bearer_auth(&user.token)
        .header("last-event-id", "no-such-event")
        .send()
        .await
        .unwrap();
    let resync = sse_events(&mut unknown, 1).await;
    assert_eq!(
        resync[0].1, "resync",
        "a too-old id is told to resync, not silently skipped"
    );
}

#[tokio::test]
async fn a_ticket_opens_one_socket_or_stream_once() {
    let sys = start().await;
    let (alice, bob) = (sys.user().await, sys.user().await);
    let refused = |url: String| async move {
        match tokio_tungstenite::connect_async(url.clone()).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 401, "{url}");
                let body: Value =
                    serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
                assert_eq!(body["error"]["code"], "unauthorized", "{url}");
            }
            other => panic!("{url}: expected 401, got {:?}", other.map(|_| ())),
        }
    };
    let ticket = sys.ticket(&alice).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}?ticket={ticket}", sys.ws))
        .await
        .unwrap();
    refused(format!("{}?ticket={ticket}", sys.ws)).await;
    sys.create(&alice, "Seen").await;
    assert_eq!(next_json(&mut socket).await["type"], "task-created");

    let sse = |user_path: &str, ticket: &str| {
        sys.client
            .get(format!("{}/api/sse/{user_path}?ticket={ticket}", sys.base))
            .send()
    };
    let ticket = sys.ticket(&alice).await;
    assert_eq!(sse(&alice.id, &ticket).await.unwrap().status(), 200);
    let again = sse(&alice.id, &ticket).await.unwrap();
    assert_eq!(again.status(), 401);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    // Bob's ticket does not open Alice's stream.
    let bobs = sys.ticket(&bob).await;
    assert_eq!(sse(&alice.id, &bobs).await.unwrap().status(), 401);
    // A ticket is not an access token.
    let ticket = sys.ticket(&alice).await;
    let api = sys
        .client
        .get(format!("{}/api/{}/tasks", sys.base, alice.id))
        .bearer_auth(&ticket)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}

#[tokio::test]
async fn stream_token_in_url_lets_old_clients_put_the_token_in_the_url() {
    let sys = start_with(taskflow::SystemOptions {
        stream: taskflow_websocket::StreamConfig { token_in_url: true },
        ..support::no_reminder_ticks()
    })
    .await;
    let user = sys.user().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}?token={}", sys.ws, user.token))
        .await
        .unwrap();
    sys.create(&user, "Legacy").await;
    assert_eq!(next_json(&mut socket).await["type"], "task-created");
    let sse = sys
        .client
        .get(format!("{}/api/sse/{}?token={}", sys.base, user.id, user.token))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
}

#[test]
fn the_binary_names_stream_token_in_url_when_it_is_not_a_boolean() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskflow"))
        .env("TASKFLOW_DATA_DIR", data.path())
        .env("PORT", "0")
        .env("STREAM_TOKEN_IN_URL", "maybe")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("STREAM_TOKEN_IN_URL"), "{said}");
}

#[test]
fn the_binary_refuses_replay_caps_that_make_no_sense_naming_the_variable() {
    for (env, named) in [
        (
            [
                ("REALTIME_REPLAY_USER_BYTES", "2000000"),
                ("REALTIME_REPLAY_TOTAL_BYTES", "1000000"),
            ],
            "REALTIME_REPLAY_USER_BYTES",
        ),
        (
            [("REALTIME_REPLAY_SECS", "0"), ("REALTIME_REPLAY_EVENTS", "10")],
            "REALTIME_REPLAY_SECS",
        ),
        (
            [("REALTIME_REPLAY_EVENTS", "many"), ("REALTIME_REPLAY_SECS", "60")],
            "REALTIME_REPLAY_EVENTS",
        ),
    ] {
        let data = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskflow"))
            .env("TASKFLOW_DATA_DIR", data.path())
            .env("PORT", "0")
            .envs(env)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{env:?} was accepted");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains(named), "{env:?}: {said}");
    }
}
