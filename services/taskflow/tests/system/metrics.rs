//! `/metrics` exposes the series operators graph, and each one moves when the matching thing
//! happens: requests, the database pool, the outbox, deliveries by outcome, dead letters, reminders,
//! real-time connections and pushes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use taskflow::SystemOptions;
use taskflow_bus::{Outcome, ReceivedEvent, Subscription, handler_fn};

use crate::support;

/// One sample of the Prometheus text format: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim_start_matches(',').trim().to_owned();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = 0;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => {
                    end = eq + 2 + i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        rest = &rest[end..];
    }
    labels
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            Some(match series.split_once('{') {
                Some((name, labels)) => (name.to_owned(), parse_labels(labels.strip_suffix('}')?), value),
                None => (series.to_owned(), BTreeMap::new(), value),
            })
        })
        .collect()
}

/// The sum of every sample of `name` whose labels include `labels`; `None` if there is none.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

async fn scrape(client: &reqwest::Client, base: &str) -> Vec<Sample> {
    let res = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "Prometheus text format"
    );
    parse(&res.text().await.unwrap())
}

/// A subscriber that asks for a retry the first time it sees an event, then succeeds.
fn flaky(topic: &str) -> Subscription {
    let failed_once = Arc::new(AtomicBool::new(false));
    Subscription::new(
        "flaky",
        topic,
        handler_fn(move |_: ReceivedEvent| {
            let failed_once = failed_once.clone();
            async move {
                if failed_once.swap(true, Ordering::SeqCst) {
                    Outcome::Success
                } else {
                    Outcome::Retry("first attempt fails".into())
                }
            }
        }),
    )
}

fn poison(topic: &str) -> Subscription {
    Subscription::new(
        "poison",
        topic,
        handler_fn(|_: ReceivedEvent| async { Outcome::Drop("cannot handle this".into()) }),
    )
}

#[tokio::test]
async fn metrics_expose_each_series_and_move_when_things_happen() {
    let options = SystemOptions {
        reminder_tick: Some(Duration::from_millis(100)),
        ..SystemOptions::default()
    };
    let extra = vec![flaky("task-updated"), poison("task-deleted")];
    let sys = support::system(extra, options).await;
    let (base, state, client) = (sys.base.clone(), sys.state.clone(), sys.client.clone());
    let before = scrape(&client, &base).await;

    let (user, token) = sys.sign_up(json!({})).await;
    let ticket = support::stream_ticket(&client, &base, &user, &token).await;
    let ws_url = format!("{}/ws?ticket={ticket}", base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let remind_at = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(300)).to_rfc3339();
    let task: Value = client
        .post(format!("{base}/api/{user}/tasks"))
        .bearer_auth(&token)
        .json(&json!({"title": "Measure", "reminders": [{"remind_at": remind_at}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = task["id"].as_str().unwrap();
    socket.next().await.unwrap().unwrap(); // the push of task-created
    let res = client
        .patch(format!("{base}/api/{user}/tasks/{id}"))
        .bearer_auth(&token)
        .json(&json!({"title": "Measure twice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Wait for the reminder to fire, then delete the task (its event is dead-lettered by `poison`).
    for _ in 0..500 {
        let inbox: Value = client
            .get(format!("{base}/api/{user}/notifications"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !inbox["notifications"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let res = client
        .delete(format!("{base}/api/{user}/tasks/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    for _ in 0..500 {
        if state.store.dead_letters().count().await.unwrap() > 0
            && state
                .store
                .outbox()
                .stats(&taskflow_host::relay::OutboxScope::All)
                .await
                .unwrap()
                .pending
                == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let after = scrape(&client, &base).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        let was = value(&before, name, labels).unwrap_or(0.0);
        let now = value(&after, name, labels).unwrap_or_else(|| panic!("{name}{labels:?} is not exposed"));
        assert!(now > was, "{name}{labels:?} did not move: {was} → {now}");
    };
    let exposed = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels).unwrap_or_else(|| panic!("{name}{labels:?} is not exposed"))
    };

    // HTTP: requests by route and status, latency histograms, requests in flight.
    let create = [("method", "POST"), ("route", "/api/{user_id}/tasks")];
    moved("http_requests_total", &[create[0], create[1], ("status", "201")]);
    moved("http_request_duration_seconds_count", &create);
    moved(
        "http_request_duration_seconds_bucket",
        &[create[0], create[1], ("le", "+Inf")],
    );
    assert!(
        exposed("http_requests_in_flight", &[]) >= 1.0,
        "the scrape itself is in flight"
    );
    // The database pool, sampled at scrape time.
    assert!(exposed("db_pool_max_connections", &[]) > 0.0);
    exposed("db_pool_connections", &[("state", "idle")]);
    exposed("db_pool_connections", &[("state", "in_use")]);
    // The outbox.
    moved("outbox_published_total", &[]);
    exposed("outbox_pending_rows", &[]);
    exposed("outbox_oldest_pending_age_seconds", &[]);
    // Deliveries by topic and reply status, and dead letters.
    moved(
        "bus_deliveries_total",
        &[
            ("topic", "task-created"),
            ("subscriber", "audit"),
            ("outcome", "success"),
        ],
    );
    moved(
        "bus_deliveries_total",
        &[
            ("topic", "task-updated"),
            ("subscriber", "flaky"),
            ("outcome", "retry"),
        ],
    );
    moved(
        "bus_deliveries_total",
        &[
            ("topic", "task-deleted"),
            ("subscriber", "poison"),
            ("outcome", "drop"),
        ],
    );
    moved(
        "bus_dead_letters_total",
        &[("topic", "task-deleted"), ("subscriber", "poison")],
    );
    // Reminders.
    moved("reminders_fired_total", &[("late", "false")]);
    // Real time: the open socket and the pushes.
    moved("realtime_connections", &[]);
    moved("realtime_connections_opened_total", &[("transport", "websocket")]);
    moved("realtime_pushes_total", &[]);
    // The replay buffers, set on every publish (other tests' hubs share the recorder: values vary).
    exposed("realtime_replay_bytes", &[]);
    exposed("realtime_replay_users", &[]);
}
