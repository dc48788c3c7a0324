//! The soak's real-time clients: WebSockets and SSE streams authenticated with the bearer token in
//! the `Authorization` header (what a non-browser client sends; see websocket's `admission.rs`),
//! each logging every event it receives as `socket user kind event_id`, so the checks can find a
//! missed or duplicated push per socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::record::{Log, Stats};
use crate::stats::SeedUser;

/// The topics pushed to clients; anything else (`resync`, comments) is not an event.
const TOPICS: [&str; 5] = [
    "task-created",
    "task-updated",
    "task-completed",
    "task-deleted",
    "reminder-due",
];

/// One client's identity in the logs.
#[derive(Clone)]
pub struct Client {
    pub index: usize,
    pub user: SeedUser,
    pub kind: &'static str,
}

/// What every listener shares: the event log, the counters, and how many streams ended early.
pub struct Sink {
    pub log: Log,
    pub stats: Arc<Stats>,
    pub dropped: AtomicU64,
}

impl Sink {
    fn received(&self, c: &Client, event_id: &str) {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        self.log
            .line(&[&c.index.to_string(), &c.user.id, c.kind, event_id]);
    }

    fn ended(&self, c: &Client, why: &str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        eprintln!("soak: {} {} (user {}) ended: {why}", c.kind, c.index, c.user.id);
    }
}

/// Opens a WebSocket and returns the task that reads it until it closes.
pub async fn websocket(
    base: &str,
    c: Client,
    sink: Arc<Sink>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let url = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", c.user.token)).map_err(|e| e.to_string())?;
    request.headers_mut().insert("authorization", bearer);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("WebSocket connect: {e}"))?;
    Ok(tokio::spawn(async move {
        while let Some(msg) = socket.next().await {
            match msg {
                Ok(Message::Text(text)) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&text)
                        && v["type"].as_str().is_some_and(|t| TOPICS.contains(&t))
                        && let Some(id) = v["id"].as_str()
                    {
                        sink.received(&c, id);
                    } else {
                        eprintln!("soak: websocket {} got a non-event: {text}", c.index);
                    }
                }
                Ok(Message::Close(frame)) => {
                    return sink.ended(&c, &format!("closed by the server: {frame:?}"));
                }
                Ok(_) => {}
                Err(e) => return sink.ended(&c, &e.to_string()),
            }
        }
        sink.ended(&c, "stream ended");
    }))
}

/// Opens an SSE stream and returns the task that reads it until it ends.
pub async fn sse(
    http: &reqwest::Client,
    base: &str,
    c: Client,
    sink: Arc<Sink>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let mut response = http
        .get(format!("{base}/api/sse/{}", c.user.id))
        .bearer_auth(&c.user.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(|e| format!("SSE connect: {e}"))?;
    if response.status() != 200 {
        return Err(format!("SSE connect: HTTP {}", response.status()));
    }
    Ok(tokio::spawn(async move {
        let mut buffer = String::new();
        loop {
            match response.chunk().await {
                Ok(Some(bytes)) => buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) => return sink.ended(&c, "stream ended"),
                Err(e) => return sink.ended(&c, &e.to_string()),
            }
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let (mut id, mut event) = (None, None);
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_owned());
                    }
                }
                match (id, event) {
                    (Some(id), Some(e)) if TOPICS.contains(&e.as_str()) => sink.received(&c, &id),
                    (_, Some(e)) => eprintln!("soak: sse {} got a non-event: {e}: {frame}", c.index),
                    _ => {}
                }
            }
        }
    }))
}
