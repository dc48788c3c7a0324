//! Real-time clients resume across a restart of the real `taskflow` binary (issue 23): the restarted
//! process has nothing in its replay buffer, so an SSE client's `Last-Event-ID` and a WebSocket's
//! `?last_event_id=` are served from the durable history (the published outbox rows) — exactly the
//! events missed, in order, none twice, then the live stream; an id the history does not hold gets
//! `resync`. On SQLite by default, PostgreSQL with `TEST_DATABASE_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use taskflow_test_support::test_database;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::binary::Binary;
use crate::support::{self, Socket, next_json, sse_events};

struct Client {
    http: reqwest::Client,
    user: String,
    token: String,
}

impl Client {
    async fn create(&self, base: &str, title: &str) -> String {
        support::create_task(&self.http, base, &self.user, &self.token, title).await
    }

    async fn published(&self, base: &str, task: &str) {
        support::published(&self.http, base, &self.user, &self.token, task).await;
    }

    async fn sse(&self, base: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .get(format!("{base}/api/sse/{}", self.user))
            .bearer_auth(&self.token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        res
    }

    async fn socket(&self, base: &str, last_event_id: Option<&str>) -> Socket {
        let query = last_event_id
            .map(|id| format!("?last_event_id={id}"))
            .unwrap_or_default();
        let mut req = format!("{}/ws{query}", base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {}", self.token).parse().unwrap());
        tokio_tungstenite::connect_async(req).await.unwrap().0
    }
}

fn titles(events: &[(String, String, Value)]) -> Vec<String> {
    events
        .iter()
        .map(|(_, kind, data)| match data["data"]["task"]["title"].as_str() {
            Some(title) => title.to_owned(),
            None => kind.clone(),
        })
        .collect()
}

async fn socket_titles(socket: &mut Socket, n: usize) -> Vec<String> {
    let mut titles = Vec::new();
    for _ in 0..n {
        let message = next_json(socket).await;
        titles.push(match message["data"]["task"]["title"].as_str() {
            Some(title) => title.to_owned(),
            None => message["type"].as_str().unwrap_or_default().to_owned(),
        });
    }
    titles
}

#[tokio::test]
async fn sse_and_websocket_clients_resume_across_a_restart_with_exactly_what_they_missed() {
    let (database_url, _db) = test_database().await;
    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    let mut first = Binary::spawn_system(&database_url, data_dir.path());
    let (user, token) = support::sign_up(&http, &first.base, json!({})).await;
    let client = Client { http, user, token };
    let mut sse = client.sse(&first.base, None).await;
    let mut socket = client.socket(&first.base, None).await;
    client.create(&first.base, "one").await;
    let seen = sse_events(&mut sse, 1).await;
    let sse_last = seen[0].0.clone();
    let ws_last = next_json(&mut socket).await["id"].as_str().unwrap().to_owned();
    assert_eq!(sse_last, ws_last, "both transports name the event by its id");
    drop((sse, socket));

    // Missed before the restart, and after it (before the clients come back).
    let two = client.create(&first.base, "two").await;
    client.published(&first.base, &two).await;
    first.terminate();
    assert!(first.exited().await.success());
    let second = Binary::spawn_system(&database_url, data_dir.path());
    let three = client.create(&second.base, "three").await;
    client.published(&second.base, &three).await;

    let mut sse = client.sse(&second.base, Some(&sse_last)).await;
    let mut socket = client.socket(&second.base, Some(&ws_last)).await;
    client.create(&second.base, "four").await;
    assert_eq!(
        titles(&sse_events(&mut sse, 3).await),
        ["two", "three", "four"],
        "SSE: what was missed across the restart, then live, none twice"
    );
    assert_eq!(
        socket_titles(&mut socket, 3).await,
        ["two", "three", "four"],
        "WebSocket: the same"
    );

    // An id the history does not hold: told to reload, on both transports.
    let unknown = uuid::Uuid::new_v4().to_string();
    let mut sse = client.sse(&second.base, Some(&unknown)).await;
    assert_eq!(sse_events(&mut sse, 1).await[0].1, "resync");
    let mut socket = client.socket(&second.base, Some(&unknown)).await;
    assert_eq!(next_json(&mut socket).await["type"], "resync");
}

#[tokio::test]
async fn another_users_event_id_resumes_nothing() {
    let (database_url, _db) = test_database().await;
    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let server = Binary::spawn_system(&database_url, data_dir.path());
    let (alice, alice_token) = support::sign_up(&http, &server.base, json!({})).await;
    let (bob, bob_token) = support::sign_up(&http, &server.base, json!({})).await;
    let alice = Client {
        http: http.clone(),
        user: alice,
        token: alice_token,
    };
    let bob = Client {
        http,
        user: bob,
        token: bob_token,
    };
    let mut sse = alice.sse(&server.base, None).await;
    let task = alice.create(&server.base, "alice's").await;
    let alice_event = sse_events(&mut sse, 1).await[0].0.clone();
    alice.published(&server.base, &task).await;
    bob.create(&server.base, "bob's").await;
    // Bob naming Alice's event learns nothing of either stream's history: he is told to resync.
    let mut stream = bob.sse(&server.base, Some(&alice_event)).await;
    assert_eq!(sse_events(&mut stream, 1).await[0].1, "resync");
}
