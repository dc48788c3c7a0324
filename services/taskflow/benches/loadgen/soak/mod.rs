//! `soak`: the mixed workload of `bench/run --soak` — creates, gets, lists, updates, completes of
//! recurring tasks and deletes over the seeded users, at a fixed rate (or as fast as `--concurrency`
//! requests allow, with `--rate 0`, to measure capacity), with WebSockets and SSE streams subscribed
//! and reminders falling due during the run.
//!
//! It only drives and records: each acknowledged or failed write goes to `--acks`, each received
//! event to `--received` (with the clients in `<received>.clients`), one latency and error sample
//! per `--sample-secs` to `--samples`. `bench/soak/check.py` then compares those files with the
//! database. Before it closes the streams it waits for the outbox to drain, so every event written
//! during the window it prints (`window_start_us`..`window_end_us`) was pushed while they were open.

mod mix;
mod pool;
mod record;
mod streams;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{Duration as Span, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::args::Args;
use crate::stats::r2;
use mix::Mix;
use pool::Pool;
use record::{Acks, Log, Stats, epoch_us};
use streams::{Client, Sink};

struct Setup {
    base: String,
    pool: Arc<Pool>,
    acks: Arc<Acks>,
    stats: Arc<Stats>,
    client: reqwest::Client,
}

/// Creates `n` tasks whose one reminder falls due between `from` and `to` from now, spread evenly.
async fn reminders(s: &Setup, n: usize, from: f64, to: f64) -> usize {
    let now = Utc::now();
    let mut created = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let posts = chunk.iter().map(|&i| {
            let u = i % s.pool.users.len();
            let offset = from + (to - from) * i as f64 / n.max(1) as f64;
            let at = now + Span::milliseconds((offset * 1000.0) as i64);
            let body = json!({
                "title": format!("Soak reminder {i}"),
                "due_at": (at + Span::hours(1)).to_rfc3339_opts(SecondsFormat::Millis, true),
                "reminders": [{"remind_at": at.to_rfc3339_opts(SecondsFormat::Millis, true)}],
            });
            s.client
                .post(format!("{}/api/{}/tasks", s.base, s.pool.users[u].id))
                .bearer_auth(&s.pool.users[u].token)
                .json(&body)
                .send()
        });
        for (k, res) in futures_util::future::join_all(posts)
            .await
            .into_iter()
            .enumerate()
        {
            let user = &s.pool.users[chunk[k] % s.pool.users.len()].id;
            let body = match res {
                Ok(r) if r.status() == 201 => r.json::<Value>().await.ok(),
                _ => None,
            };
            match body.as_ref().and_then(|b| b["id"].as_str()) {
                Some(id) => {
                    s.acks.record("reminder", true, user, id, 0);
                    created += 1;
                }
                None => s.acks.record("reminder", false, user, "-", 0),
            }
        }
    }
    created
}

/// Waits (at most two minutes) until `/ready` reports no pending outbox rows.
async fn drain(client: &reqwest::Client, base: &str) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/ready")).send().await
            && let Ok(body) = r.text().await
            && body.contains("\"ok: 0 pending")
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

pub async fn run(args: &Args) -> Result<String, String> {
    let base = args.str("base")?.to_owned();
    let n_users: usize = args.num("users", 50)?;
    let weights = mix::weights(args.str("mix").unwrap_or("full"))?;
    let with_tasks = args.num::<u8>("pool-tasks", 1)? == 1;
    let rate: f64 = args.num("rate", 0.0)?;
    let seconds: f64 = args.num("seconds", 60.0)?;
    let concurrency: usize = args.num("concurrency", 64)?;
    let (n_ws, n_sse): (usize, usize) = (args.num("ws", 0)?, args.num("sse", 0)?);
    let n_reminders: usize = args.num("reminders", 0)?;
    let sample_secs: f64 = args.num("sample-secs", 10.0)?;
    let setup = Arc::new(Setup {
        base: base.clone(),
        pool: Arc::new(Pool::read(args.str("seed")?, n_users, with_tasks)?),
        acks: Arc::new(Acks::create(args.str("acks")?)?),
        stats: Arc::new(Stats::default()),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(concurrency)
            .build()
            .map_err(|e| e.to_string())?,
    });
    let streaming = n_ws + n_sse > 0;

    // The streams, before anything they should receive is written.
    let mut listeners = Vec::new();
    let sink = if streaming {
        let received = args.str("received")?;
        let clients = Log::create(&format!("{received}.clients"))?;
        let sink = Arc::new(Sink {
            log: Log::create(received)?,
            stats: setup.stats.clone(),
            dropped: AtomicU64::new(0),
        });
        let stream_http = reqwest::Client::new();
        for index in 0..n_ws + n_sse {
            let kind = if index < n_ws { "ws" } else { "sse" };
            let user = setup.pool.users[index % n_users].clone();
            clients.line(&[&index.to_string(), &user.id, kind]);
            let c = Client { index, user, kind };
            let handle = if index < n_ws {
                streams::websocket(&base, c, sink.clone()).await?
            } else {
                streams::sse(&stream_http, &base, c, sink.clone()).await?
            };
            listeners.push(handle);
        }
        clients.flush();
        // Let the server register every connection before the window opens.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Some(sink)
    } else {
        None
    };
    let window_start_us = epoch_us();

    let reminders_created = if n_reminders > 0 {
        let from = (seconds * 0.1).max(5.0);
        reminders(&setup, n_reminders, from, seconds * 0.8).await
    } else {
        0
    };

    let samples = match args.str("samples") {
        Ok(path) => Some(Arc::new(Log::create(path)?)),
        Err(_) => None,
    };
    let start = tokio::time::Instant::now();
    let sampler = samples.clone().map(|log| {
        let stats = setup.stats.clone();
        tokio::spawn(async move {
            let every = Duration::from_secs_f64(sample_secs);
            let mut tick = tokio::time::interval_at(start + every, every);
            loop {
                tick.tick().await;
                let sample = stats.sample(start.elapsed().as_secs_f64(), sample_secs);
                log.line(&[&sample.to_string()]);
                log.flush();
            }
        })
    });

    let deadline = start + Duration::from_secs_f64(seconds);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (setup, next, weights) = (setup.clone(), next.clone(), weights.clone());
            tokio::spawn(async move {
                let mix = Mix {
                    client: &setup.client,
                    base: &setup.base,
                    pool: &setup.pool,
                    acks: &setup.acks,
                    stats: &setup.stats,
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if rate > 0.0 {
                        let slot = start + Duration::from_secs_f64(i as f64 / rate);
                        if slot >= deadline {
                            return;
                        }
                        tokio::time::sleep_until(slot).await;
                    } else if tokio::time::Instant::now() >= deadline {
                        return;
                    }
                    mix.run(mix::pick(&weights), i % n_users, i).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.map_err(|e| e.to_string())?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(s) = sampler {
        s.abort();
    }
    if let Some(log) = &samples {
        let tail = elapsed % sample_secs;
        if tail > 0.5 {
            log.line(&[&setup.stats.sample(elapsed, tail).to_string()]);
        }
        log.flush();
    }
    setup.acks.flush();

    // Every event of the window published (and so pushed) before the streams close.
    let mut drained = None;
    if streaming || args.num::<u8>("drain", 0)? == 1 {
        let t = std::time::Instant::now();
        let ok = drain(&setup.client, &base).await;
        drained = Some((ok, t.elapsed().as_secs_f64()));
    }
    let window_end_us = epoch_us();
    if streaming {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    for l in &listeners {
        l.abort();
    }
    let dropped = sink.as_ref().map_or(0, |s| {
        s.log.flush();
        s.dropped.load(Ordering::Relaxed)
    });
    if let Ok(path) = args.str("pool-out") {
        setup.pool.write(path)?;
    }
    let (ops, requests, non_2xx, transport) = setup.stats.summary();
    Ok(json!({
        "mix": args.str("mix").unwrap_or("full"),
        "users": n_users,
        "concurrency": concurrency,
        "offered_rate": rate,
        "seconds": r2(elapsed),
        "requests": requests,
        "achieved_rate": r2(requests as f64 / elapsed),
        "non_2xx": non_2xx,
        "transport_errors": transport,
        "ops": ops,
        "websockets": n_ws,
        "sse": n_sse,
        "streams_ended_early": dropped,
        "events_received": setup.stats.events.load(Ordering::Relaxed),
        "reminders": reminders_created,
        "drained": drained.map(|(ok, _)| ok),
        "drain_secs": drained.map(|(_, s)| r2(s)),
        "window_start_us": window_start_us,
        "window_end_us": window_end_us,
    })
    .to_string())
}
