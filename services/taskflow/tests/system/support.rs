//! The client side every system test shares: the whole system started on port 0 over a fresh
//! (migrated) database, an HTTP client, signed-up users with their tokens, and recording
//! subscribers — instead of each test module repeating them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use serde_json::{Value, json};
use taskflow::SystemOptions;
use taskflow_backend_api::{ApiConfig, ApiState};
use taskflow_bus::{Outcome, ReceivedEvent, Subscription, handler_fn};
use taskflow_test_support::{TestDb, test_database};

pub const SECRET: &[u8] = b"end-to-end-test-secret-at-least-32-bytes";

/// The system's configuration on a fresh database (SQLite, or PostgreSQL under `TEST_DATABASE_URL`).
pub async fn config() -> (ApiConfig, TestDb) {
    let (database_url, db) = test_database().await;
    let config = ApiConfig {
        host: "127.0.0.1".into(),
        port: 0,
        database_url,
        jwt_secret: SECRET.to_vec(),
        token_ttl_days: 1,
        jwks: None,
        db_max_connections: 5,
        // Load, not rates: the per-user and login rates have their own tests in backend-api.
        auth_limits: taskflow_backend_api::config::AuthLimitConfig {
            rates: taskflow_backend_api::rate_limit::RateConfig::off(),
            ..Default::default()
        },
        quotas: Default::default(),
        model: None,
        mcp_allowed_origins: Vec::new(),
        cors: taskflow_runtime::cors::CorsPolicy::default(),
        shutdown_timeout: taskflow_runtime::server::DEFAULT_SHUTDOWN_TIMEOUT,
        webhook_allow_private_networks: false,
    };
    (config, db)
}

/// Options for a system whose reminder timer does not run (most tests have no reminders).
pub fn no_reminder_ticks() -> SystemOptions {
    SystemOptions {
        reminder_tick: None,
        ..SystemOptions::default()
    }
}

/// The whole system, started on a free port over its own database.
pub struct System {
    pub base: String,
    pub state: ApiState,
    pub client: reqwest::Client,
    pub db: TestDb,
}

/// Starts the whole system with `extra` subscriptions on a fresh database.
pub async fn system(extra: Vec<Subscription>, options: SystemOptions) -> System {
    let (config, db) = config().await;
    system_with(&config, db, extra, options).await
}

/// [`system`] with a configuration of the test's own (from [`config`], then changed), on `db`.
pub async fn system_with(
    config: &ApiConfig,
    db: TestDb,
    extra: Vec<Subscription>,
    options: SystemOptions,
) -> System {
    let (base, state) = start(config, extra, options).await;
    System {
        base,
        state,
        client: reqwest::Client::new(),
        db,
    }
}

impl System {
    /// A new user (with any `extra` registration fields), logged in: (user id, token).
    pub async fn sign_up(&self, extra: Value) -> (String, String) {
        sign_up(&self.client, &self.base, extra).await
    }
}

/// Starts the whole system on a free port; returns its base URL and state.
pub async fn start(
    config: &ApiConfig,
    extra: Vec<Subscription>,
    options: SystemOptions,
) -> (String, ApiState) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let running = taskflow::start_with(config, listener, extra, options)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", running.port());
    let state = running.state.clone();
    tokio::spawn(running.run());
    (base, state)
}

/// Registers a new user (with any `extra` registration fields) and logs in: (user id, token).
pub async fn sign_up(client: &reqwest::Client, base: &str, extra: Value) -> (String, String) {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let mut body = json!({"name": "E2E", "email": email, "password": "end-to-end password"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let res = client
        .post(format!("{base}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": "end-to-end password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        login["user"]["id"].as_str().unwrap().to_owned(),
        login["access_token"].as_str().unwrap().to_owned(),
    )
}

/// A WebSocket handshake to `base`'s `/ws` carrying `token` in `Authorization` (clients that can set
/// headers; the long-lived token never goes into the URL).
pub fn ws_request(base: &str, token: &str) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("{}/ws", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// A single-use stream ticket for `user` (what a browser puts in `?ticket=`).
pub async fn stream_ticket(client: &reqwest::Client, base: &str, user: &str, token: &str) -> String {
    let res = client
        .post(format!("{base}/api/{user}/stream-tickets"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["ticket"].as_str().unwrap().to_owned()
}

/// One subscription per topic, recording every event it receives.
pub fn recorder(topics: &[&str]) -> (Vec<Subscription>, Arc<Mutex<Vec<ReceivedEvent>>>) {
    let seen: Arc<Mutex<Vec<ReceivedEvent>>> = Arc::default();
    let subs = topics
        .iter()
        .map(|topic| {
            let seen = seen.clone();
            Subscription::new(
                "recorder",
                topic,
                handler_fn(move |e: ReceivedEvent| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().push(e);
                        Outcome::Success
                    }
                }),
            )
        })
        .collect();
    (subs, seen)
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message as JSON, within 15 s (a liveness bound, generous for a loaded machine:
/// a message that comes returns at once).
pub async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), socket.next())
            .await
            .expect("a message within 15 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Reads SSE frames until `n` events (ignoring comments) have arrived, within 20 s in all (the
/// stream's keep-alive comments would otherwise keep a wait for a missing event going forever; the
/// bound is generous for a loaded machine).
pub async fn sse_events(res: &mut reqwest::Response, n: usize) -> Vec<(String, String, Value)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("{n} SSE events within 20 s; got {events:?}"))
            .unwrap()
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_owned)
            };
            if let (Some(event), Some(data)) = (field("event: "), field("data: ")) {
                events.push((
                    field("id: ").unwrap_or_default(),
                    event,
                    serde_json::from_str(&data).unwrap(),
                ));
            }
        }
    }
    events
}

/// Creates a task titled `title` for `user`; its id.
pub async fn create_task(
    client: &reqwest::Client,
    base: &str,
    user: &str,
    token: &str,
    title: &str,
) -> String {
    let res = client
        .post(format!("{base}/api/{user}/tasks"))
        .bearer_auth(token)
        .json(&json!({ "title": title }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let task: Value = res.json().await.unwrap();
    task["id"].as_str().unwrap().to_owned()
}

/// Waits until the task's `task-created` event was published (its audit entry exists); how long that
/// took.
pub async fn published(
    client: &reqwest::Client,
    base: &str,
    user: &str,
    token: &str,
    task: &str,
) -> Duration {
    let start = std::time::Instant::now();
    loop {
        let page: Value = client
            .get(format!(
                "{base}/api/{user}/audit?event_type=task-created&limit=200"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = page["entries"].as_array().unwrap();
        if entries.iter().any(|e| e["entity_id"] == task) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "task {task} was never published"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
