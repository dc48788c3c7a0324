//! The real `taskflow` binary stopped under load, gracefully (SIGTERM) and brutally (SIGKILL), then
//! restarted on the same database: no acknowledged write is lost, nothing is half-written, and every
//! task ends up with exactly one `task-created` audit entry — the outbox survives the stop and the
//! restarted relay drains it.
//!
//! Runs on a temporary SQLite file, or on a fresh PostgreSQL database with `TEST_DATABASE_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use taskflow_test_support::test_database;

use crate::binary::Binary;
use crate::support;

const SECRET: &str = "fault-test-secret-that-is-at-least-32-bytes";
/// Concurrent clients creating tasks.
const WRITERS: usize = 8;
/// Acknowledged creates before the process is stopped.
const BEFORE_STOP: usize = 60;

fn spawn(database_url: &str, data_dir: &std::path::Path) -> Binary {
    let data_dir = data_dir.to_str().unwrap();
    Binary::spawn(&[
        ("DATABASE_URL", database_url),
        ("TASKFLOW_DATA_DIR", data_dir),
        ("JWT_SECRET", SECRET),
        ("HOST", "127.0.0.1"),
        ("RUST_LOG", "warn"),
        ("SHUTDOWN_TIMEOUT_SECS", "30"),
        ("NOTIFICATION_TICK_SECS", "3600"),
    ])
}

async fn login(client: &reqwest::Client, base: &str, token: &str) -> bool {
    client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// What the writers saw: ids the server acknowledged with 201, and any other HTTP status.
#[derive(Default)]
struct Load {
    acknowledged: Mutex<Vec<String>>,
    unexpected: Mutex<Vec<(u16, String)>>,
    count: AtomicUsize,
    stop: AtomicBool,
}

/// Writers that create tasks until the server goes away (a connection error ends a writer).
fn start_load(base: &str, user: &str, token: &str) -> (Arc<Load>, Vec<tokio::task::JoinHandle<()>>) {
    let load = Arc::new(Load::default());
    let writers = (0..WRITERS)
        .map(|w| {
            let load = load.clone();
            let url = format!("{base}/api/{user}/tasks");
            let token = token.to_owned();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for n in 0.. {
                    if load.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let body = json!({"title": format!("writer {w} task {n}"), "tags": ["load"],
                        "due_at": "2030-01-01T09:00:00Z", "reminders": [{"minutes_before_due": 30}]});
                    let Ok(res) = client.post(&url).bearer_auth(&token).json(&body).send().await else {
                        return; // the server is gone
                    };
                    let status = res.status().as_u16();
                    let Ok(text) = res.text().await else { return };
                    if status == 201 {
                        let task: Value = serde_json::from_str(&text).unwrap();
                        load.acknowledged
                            .lock()
                            .unwrap()
                            .push(task["id"].as_str().unwrap().to_owned());
                        load.count.fetch_add(1, Ordering::SeqCst);
                    } else {
                        load.unexpected.lock().unwrap().push((status, text));
                        return;
                    }
                }
            })
        })
        .collect();
    (load, writers)
}

async fn wait_for_count(load: &Load, n: usize) {
    while load.count.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every task of the user, page by page.
async fn all_tasks(client: &reqwest::Client, base: &str, user: &str, token: &str) -> Vec<Value> {
    let mut tasks = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/{user}/tasks?limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tasks.extend(page["tasks"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return tasks,
        }
    }
}

/// `task-created` audit entries per task id.
async fn created_audit(
    client: &reqwest::Client,
    base: &str,
    user: &str,
    token: &str,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/{user}/audit?event_type=task-created&limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for entry in page["entries"].as_array().unwrap() {
            *counts
                .entry(entry["entity_id"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return counts,
        }
    }
}

/// Stops the binary under load with `stop`, restarts it, and checks what survived.
async fn stop_under_load_then_restart(signal: &str) {
    let (database_url, _db) = test_database().await;
    let data_dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let mut first = spawn(&database_url, data_dir.path());
    let (user, token) = support::sign_up(&client, &first.base, json!({})).await;
    let (load, writers) = start_load(&first.base, &user, &token);
    wait_for_count(&load, BEFORE_STOP).await;

    match signal {
        "-TERM" => first.terminate(),
        _ => first.kill(),
    }
    let status = first.exited().await;
    load.stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    if signal == "-TERM" {
        assert!(status.success(), "graceful stop exits 0, got {status:?}");
    } else {
        assert!(!status.success(), "SIGKILL cannot exit cleanly: {status:?}");
    }
    let unexpected = load.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "every answer before the stop is a 201, never a 5xx: {unexpected:?}"
    );
    let acknowledged: Vec<String> = load.acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= BEFORE_STOP);

    // The restarted process serves the same data.
    let mut second = spawn(&database_url, data_dir.path());
    assert!(
        login(&client, &second.base, &token).await,
        "tokens survive a restart"
    );
    let tasks = all_tasks(&client, &second.base, &user, &token).await;
    let stored: HashSet<String> = tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost after {signal}: {lost:?}");
    for task in &tasks {
        // Nothing half-written: each task has its reminder (same transaction).
        assert_eq!(task["reminders"].as_array().unwrap().len(), 1, "{task}");
    }

    // Every stored task — acknowledged or committed just before the stop — gets exactly one
    // task-created audit entry once the restarted relay has drained the outbox (the dead
    // process's relay lock ended with it: see takeover.rs).
    let mut audited = HashMap::new();
    for _ in 0..600 {
        audited = created_audit(&client, &second.base, &user, &token).await;
        if audited.len() >= stored.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<&String> = stored.iter().filter(|id| !audited.contains_key(*id)).collect();
    assert!(missing.is_empty(), "events lost after {signal}: {missing:?}");
    let duplicated: Vec<(&String, &usize)> = audited.iter().filter(|(_, n)| **n != 1).collect();
    assert!(duplicated.is_empty(), "audited more than once: {duplicated:?}");
    assert_eq!(
        audited.len(),
        stored.len(),
        "audit entries for tasks that do not exist"
    );

    second.terminate();
    assert!(second.exited().await.success());
}

#[tokio::test]
async fn sigterm_under_load_finishes_in_flight_requests_and_loses_nothing() {
    stop_under_load_then_restart("-TERM").await;
}

#[tokio::test]
async fn sigkill_under_load_then_restart_loses_no_acknowledged_write_or_event() {
    stop_under_load_then_restart("-KILL").await;
}
