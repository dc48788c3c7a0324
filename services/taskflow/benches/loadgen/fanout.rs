//! `fanout`: REST write → WebSocket receipt. Holds `--per-user` WebSockets for each of `--users`
//! seeded users, creates tasks at a fixed rate (round-robin over those users), and times each
//! `task-created` push on every one of the owner's sockets.
//!
//! The latency reported is receipt minus the moment the write's HTTP response was read (its
//! acknowledgement); a push that beats the response counts as 0 (the share of those is reported).
//! Receipt minus the moment the request was sent is reported beside it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::args::Args;
use crate::stats::{SeedUser, Socket, ms, pct, r2, read_users};

/// Concurrent writers: enough that one slow response does not hold the rate back.
const WRITERS: usize = 32;

/// (task id, socket index, when it arrived)
type Receipt = (String, usize, Instant);

struct Write {
    user: usize,
    task_id: String,
    sent: Instant,
    acked: Instant,
}

async fn open(ws_url: &str, user: &SeedUser) -> Result<Socket, String> {
    let mut request = ws_url.into_client_request().map_err(|e| e.to_string())?;
    let bearer = HeaderValue::from_str(&format!("Bearer {}", user.token)).map_err(|e| e.to_string())?;
    request.headers_mut().insert("authorization", bearer);
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("WebSocket connect: {e}"))?;
    Ok(socket)
}

/// Reads one socket until it closes, reporting every `task-created` push.
async fn listen(mut socket: Socket, index: usize, receipts: mpsc::UnboundedSender<Receipt>) {
    while let Some(Ok(msg)) = socket.next().await {
        let now = Instant::now();
        if let Message::Text(text) = msg
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && v["type"] == "task-created"
            && let Some(id) = v["task_id"].as_str()
        {
            let _ = receipts.send((id.to_owned(), index, now));
        }
    }
}

pub async fn run(args: &Args) -> Result<String, String> {
    let base = args.str("base")?.to_owned();
    let seed = read_users(args.str("seed")?)?;
    let n_users: usize = args.num("users", 50)?;
    let per_user: usize = args.num("per-user", 2)?;
    let rate: f64 = args.num("rate", 200.0)?;
    let seconds: f64 = args.num("seconds", 10.0)?;
    if seed.len() < n_users || n_users == 0 || rate <= 0.0 {
        return Err(format!(
            "need {n_users} seeded users (have {}) and a positive rate",
            seed.len()
        ));
    }
    let users: Arc<Vec<SeedUser>> = Arc::new(seed.into_iter().take(n_users).collect());
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut listeners = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for k in 0..per_user {
            let socket = open(&ws_url, user).await?;
            listeners.push(tokio::spawn(listen(socket, u * per_user + k, tx.clone())));
        }
    }
    drop(tx);
    // Let the server register every connection with its hub before the first write.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let total = (rate * seconds).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (client, base, users, next) = (client.clone(), base.clone(), users.clone(), next.clone());
            tokio::spawn(async move {
                let (mut writes, mut errors) = (Vec::new(), 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return (writes, errors);
                    }
                    tokio::time::sleep_until(start + interval.mul_f64(i as f64)).await;
                    let user = i % users.len();
                    let sent = Instant::now();
                    let res = client
                        .post(format!("{base}/api/{}/tasks", users[user].id))
                        .bearer_auth(&users[user].token)
                        .json(&json!({"title": format!("Fan-out {i}"), "tags": ["fanout"]}))
                        .send()
                        .await;
                    let body = match res {
                        Ok(r) if r.status() == 201 => r.json::<Value>().await.ok(),
                        _ => None,
                    };
                    let acked = Instant::now();
                    match body.as_ref().and_then(|b| b["id"].as_str()) {
                        Some(id) => writes.push(Write {
                            user,
                            task_id: id.to_owned(),
                            sent,
                            acked,
                        }),
                        None => errors += 1,
                    }
                }
            })
        })
        .collect();
    let mut writes = Vec::with_capacity(total);
    let mut http_errors = 0;
    for w in writers {
        let (ws, e) = w.await.map_err(|e| e.to_string())?;
        writes.extend(ws);
        http_errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();

    // Every write should reach each of its owner's sockets; wait (bounded) for the stragglers.
    let expected = writes.len() * per_user;
    let mut arrived: HashMap<String, Vec<(usize, Instant)>> = HashMap::with_capacity(writes.len());
    let mut count = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while count < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((id, socket, at))) => {
                arrived.entry(id).or_default().push((socket, at));
                count += 1;
            }
            _ => break,
        }
    }
    for l in &listeners {
        l.abort();
    }

    let (mut after_ack, mut after_send) = (Vec::with_capacity(expected), Vec::with_capacity(expected));
    let mut before_ack = 0usize;
    for w in &writes {
        let Some(receipts) = arrived.get(&w.task_id) else {
            continue;
        };
        for socket in w.user * per_user..(w.user + 1) * per_user {
            if let Some((_, at)) = receipts.iter().find(|(s, _)| *s == socket) {
                after_send.push(ms(at.saturating_duration_since(w.sent)));
                if *at < w.acked {
                    before_ack += 1;
                }
                after_ack.push(ms(at.saturating_duration_since(w.acked)));
            }
        }
    }
    after_ack.sort_by(f64::total_cmp);
    after_send.sort_by(f64::total_cmp);
    let delivered = after_ack.len();
    Ok(json!({
        "writes": writes.len(),
        "http_errors": http_errors,
        "offered_rate": rate,
        "achieved_rate": r2(writes.len() as f64 / elapsed),
        "sockets": n_users * per_user,
        "expected": expected,
        "delivered": delivered,
        "missing": expected - delivered,
        "p50_ms": r2(pct(&after_ack, 0.50)),
        "p99_ms": r2(pct(&after_ack, 0.99)),
        "max_ms": r2(pct(&after_ack, 1.0)),
        "send_p50_ms": r2(pct(&after_send, 0.50)),
        "send_p99_ms": r2(pct(&after_send, 0.99)),
        "before_ack_pct": r2(100.0 * before_ack as f64 / delivered.max(1) as f64),
    })
    .to_string())
}
