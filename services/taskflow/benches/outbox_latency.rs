//! Outbox-to-subscriber latency of the single binary under a steady create load.
//!
//! Why: a committed change should reach in-process subscribers within tens of milliseconds — the
//! store's commit signal wakes the outbox relay; its poll is only a fallback. This measures that.
//! The whole system runs in-process as `taskflow` runs it (the actix system runtime on its own
//! thread); a `task-created` subscriber records now − the event's `occurred_at` (stamped by the
//! handler just before its transaction) while HTTP clients create tasks at a fixed rate.
//!
//! ```text
//! cargo bench -p taskflow --bench outbox_latency          # a temporary SQLite file
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench -p taskflow --bench outbox_latency      # a fresh PostgreSQL database, dropped after
//! ```
//!
//! `BENCH_RATE` (creates/s, default 200) and `BENCH_SECONDS` (default 10) set the load. It prints
//! Markdown table rows for `BENCHMARKS.md`. A measurement, not a test: no timing is asserted, but it
//! exits non-zero when a request fails or the events received do not match the tasks created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use taskflow_backend_api::ApiConfig;
use taskflow_bus::inprocess::RetryPolicy;
use taskflow_bus::{Outcome, ReceivedEvent, Subscription, handler_fn};
use taskflow_test_support::fresh_database;

/// Concurrent HTTP requesters: enough that one slow response does not hold the rate back.
const REQUESTERS: usize = 16;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().map_or(default, |v| {
        v.parse().unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

/// Starts the system on its own thread, as `taskflow`'s `main` does, and returns its port.
fn serve(config: ApiConfig, subscriptions: Vec<Subscription>) -> u16 {
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let running = taskflow::start(&config, listener, subscriptions, RetryPolicy::default())
                .await
                .unwrap();
            port_tx.send(running.port()).unwrap();
            running.run().await.unwrap();
        });
    });
    port_rx.recv().expect("the system failed to start")
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[tokio::main]
async fn main() -> ExitCode {
    let rate = env_or("BENCH_RATE", 200);
    let seconds = env_or("BENCH_SECONDS", 10);
    let total = usize::try_from(rate * seconds).unwrap();
    // A fresh database (dropped with `db`): PostgreSQL under BENCH_DATABASE_URL, else SQLite.
    let (database_url, db) =
        fresh_database(std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty())).await;
    let backend = db.backend();

    // Commit-to-delivery latency of every task-created event, in ms.
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let recorder = latencies.clone();
    let subscription = Subscription::new(
        "latency-recorder",
        "task-created",
        handler_fn(move |e: ReceivedEvent| {
            let now = Utc::now();
            let occurred = DateTime::parse_from_rfc3339(e.data["occurred_at"].as_str().unwrap())
                .unwrap()
                .with_timezone(&Utc);
            recorder
                .lock()
                .unwrap()
                .push((now - occurred).num_microseconds().unwrap() as f64 / 1000.0);
            async { Outcome::Success }
        }),
    );
    let config = ApiConfig {
        host: "127.0.0.1".into(),
        port: 0,
        database_url,
        jwt_secret: b"outbox-latency-bench-secret-at-least-32-bytes".to_vec(),
        token_ttl_days: 1,
        jwks: None,
        db_max_connections: 16, // the binary's default
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
    let base = format!("http://127.0.0.1:{}", serve(config, vec![subscription]));

    let client = reqwest::Client::new();
    let credentials = json!({"email": "bench@example.com", "password": "bench password 123"});
    let mut account = credentials.clone();
    account["name"] = "Bench".into();
    let res = client
        .post(format!("{base}/api/auth/register"))
        .json(&account)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "register");
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tasks_url = Arc::new(format!(
        "{base}/api/{}/tasks",
        login["user"]["id"].as_str().unwrap()
    ));
    let token = Arc::new(login["access_token"].as_str().unwrap().to_owned());

    // Request i is due at start + i/rate; a pool of requesters takes them in turn.
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let workers: Vec<_> = (0..REQUESTERS)
        .map(|_| {
            let (client, next, url, token) = (client.clone(), next.clone(), tasks_url.clone(), token.clone());
            tokio::spawn(async move {
                let (mut http_ms, mut errors) = (Vec::new(), 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return (http_ms, errors);
                    }
                    tokio::time::sleep_until(start + interval * u32::try_from(i).unwrap()).await;
                    let sent = Instant::now();
                    let res = client
                        .post(url.as_str())
                        .bearer_auth(token.as_str())
                        .json(&json!({"title": format!("task {i}")}))
                        .send()
                        .await;
                    http_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
                    if !matches!(res, Ok(ref r) if r.status() == 201) {
                        errors += 1;
                    }
                }
            })
        })
        .collect();
    let (mut http_ms, mut errors) = (Vec::with_capacity(total), 0);
    for w in workers {
        let (ms, e) = w.await.unwrap();
        http_ms.extend(ms);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let created = total - errors;

    // Bounded wait for the relay to deliver every created task's event.
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.lock().unwrap().len() < created && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // let any duplicate show up
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    http_ms.sort_by(f64::total_cmp);

    println!();
    println!(
        "| Backend | Offered (creates/s) | Achieved (creates/s) | Requests | Errors | Events delivered \
         | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | HTTP p50 (ms) | HTTP p99 (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let cell = |v: &[f64], p: f64| {
        if v.is_empty() {
            "–".to_owned()
        } else {
            format!("{:.1}", pct(v, p))
        }
    };
    println!(
        "| {backend} | {rate} | {:.1} | {total} | {errors} | {} | {} | {} | {} | {} | {} | {} |",
        created as f64 / elapsed,
        lat.len(),
        cell(&lat, 0.50),
        cell(&lat, 0.90),
        cell(&lat, 0.99),
        cell(&lat, 1.0),
        cell(&http_ms, 0.50),
        cell(&http_ms, 0.99),
    );

    drop(db);
    if errors > 0 || lat.len() != created {
        eprintln!(
            "FAILED: {errors} request errors; {} of {created} events delivered",
            lat.len()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
