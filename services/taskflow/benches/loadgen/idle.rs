//! `idle`: opens `--connections` authenticated WebSockets to the `websocket` service and holds them,
//! then reads the server's resident memory from `/proc/{--pid}/status`.
//!
//! The service allows 20 connections per user, so the tokens (HS256, signed here with the service's
//! `JWT_SECRET`, as backend-api would sign them) are spread over enough made-up users. Each socket
//! is read by its own task, as a real client would, so pings are answered and closes noticed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::args::Args;
use crate::stats::{ms, pct, r2};

/// `VmRSS` and `VmHWM` of a process, in MiB.
pub fn memory(pid: u32) -> Result<(f64, f64), String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .ok_or_else(|| format!("{path}: no {name}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn token(secret: &[u8], user: usize) -> Result<String, String> {
    let now = chrono::Utc::now().timestamp();
    let claims =
        json!({"sub": format!("idle-user-{user}"), "iat": now, "exp": now + 3600, "iss": "taskflow"});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| e.to_string())
}

pub async fn run(args: &Args) -> Result<String, String> {
    let url = args.str("ws")?.to_owned();
    let secret = args.str("secret")?.as_bytes().to_vec();
    let total: usize = args.num("connections", 10_000)?;
    let per_user: usize = args.num("per-user", 20)?;
    let concurrency: usize = args.num("concurrency", 128)?;
    let hold = Duration::from_secs_f64(args.num("hold", 5.0)?);
    let pid: u32 = args.num("pid", 0)?;
    let (rss_before, _) = memory(pid)?;

    let tokens: Arc<Vec<String>> = Arc::new(
        (0..total.div_ceil(per_user.max(1)))
            .map(|u| token(&secret, u))
            .collect::<Result<_, _>>()?,
    );
    let open = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let attempts: Vec<_> = (0..total)
        .map(|i| {
            let (url, tokens, open, gate) = (url.clone(), tokens.clone(), open.clone(), gate.clone());
            tokio::spawn(async move {
                let permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                let mut request = url.into_client_request().map_err(|e| e.to_string())?;
                let bearer = HeaderValue::from_str(&format!("Bearer {}", tokens[i / per_user.max(1)]))
                    .map_err(|e| e.to_string())?;
                request.headers_mut().insert("authorization", bearer);
                let t = Instant::now();
                let (mut socket, _) = tokio_tungstenite::connect_async(request)
                    .await
                    .map_err(|e| e.to_string())?;
                let took = t.elapsed();
                drop(permit);
                open.fetch_add(1, Ordering::Relaxed);
                let reader = tokio::spawn({
                    let open = open.clone();
                    async move {
                        while let Some(Ok(_)) = socket.next().await {}
                        open.fetch_sub(1, Ordering::Relaxed);
                    }
                });
                Ok::<_, String>((took, reader))
            })
        })
        .collect();
    let (mut connect_ms, mut readers, mut failures, mut first_error) = (Vec::new(), Vec::new(), 0, None);
    for a in attempts {
        match a.await.map_err(|e| e.to_string())? {
            Ok((took, reader)) => {
                connect_ms.push(ms(took));
                readers.push(reader);
            }
            Err(e) => {
                failures += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let open_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "idle: {} sockets open after {open_secs:.1} s, {failures} failed",
        open.load(Ordering::Relaxed)
    );
    // Let the server settle (buffers allocated on the first poll), then hold.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_open, _) = memory(pid)?;
    tokio::time::sleep(hold).await;
    let (rss_held, hwm) = memory(pid)?;
    let still_open = open.load(Ordering::Relaxed);
    for r in &readers {
        r.abort();
    }
    connect_ms.sort_by(f64::total_cmp);
    let opened = connect_ms.len();
    Ok(json!({
        "connections": total,
        "opened": opened,
        "failed": failures,
        "first_error": first_error,
        "still_open": still_open,
        "open_secs": r2(open_secs),
        "connect_p50_ms": r2(pct(&connect_ms, 0.50)),
        "connect_p99_ms": r2(pct(&connect_ms, 0.99)),
        "rss_before_mib": r2(rss_before),
        "rss_open_mib": r2(rss_open),
        "rss_held_mib": r2(rss_held),
        "hwm_mib": r2(hwm),
        "kib_per_socket": r2((rss_held - rss_before) * 1024.0 / opened.max(1) as f64),
    })
    .to_string())
}
