//! `seed`: registers users and creates their tasks through the REST API, concurrently, and writes
//! the seed file the `wrk` scripts and `fanout` read.
//!
//! The tasks vary on every field the list filters use (priority, category, two of ten tags, due
//! dates over 60 days); every second task recurs (daily or weekly), so `complete` has a pool of
//! recurring tasks whose completion creates the next occurrence; every fifth has a reminder.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{Duration as Days, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::args::Args;
use crate::stats::{SeedUser, r2};

const PRIORITIES: [&str; 3] = ["low", "medium", "high"];
const CATEGORIES: [&str; 4] = ["work", "personal", "home", "other"];
const PASSWORD: &str = "bench password 123";

/// The body of the seed's task number `n`, the `k`-th of its user: the fields vary with `k`, so
/// every user has the same mix (half of them recurring).
pub fn task_body(n: usize, k: usize) -> Value {
    let due = Utc::now() + Days::days(1 + (k % 60) as i64) + Days::minutes((n % 1440) as i64);
    let mut body = json!({
        "title": format!("Seeded task {n}"),
        "priority": PRIORITIES[k % 3],
        "category": CATEGORIES[(k / 3) % 4],
        "tags": [format!("t{}", k % 10), format!("t{}", (k / 10 + 1) % 10)],
        "due_at": due.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    if recurring(k) {
        body["recurrence"] = json!(if k.is_multiple_of(4) { "daily" } else { "weekly" });
    }
    if k.is_multiple_of(5) {
        body["reminders"] = json!([{"minutes_before_due": 30}]);
        body["description"] = json!("Seeded by bench/run, with a reminder half an hour before it is due.");
    }
    body
}

fn recurring(k: usize) -> bool {
    k.is_multiple_of(2)
}

async fn sign_up(client: &reqwest::Client, base: &str, run: &str, i: usize) -> Result<SeedUser, String> {
    let email = format!("bench-{run}-{i}@example.com");
    let account = json!({"name": format!("Bench user {i}"), "email": email, "password": PASSWORD});
    let res = client
        .post(format!("{base}/api/auth/register"))
        .json(&account)
        .send()
        .await
        .map_err(|e| format!("register: {e}"))?;
    if res.status() != 201 {
        return Err(format!("register: HTTP {}", res.status()));
    }
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?
        .json()
        .await
        .map_err(|e| format!("login: {e}"))?;
    match (login["user"]["id"].as_str(), login["access_token"].as_str()) {
        (Some(id), Some(token)) => Ok(SeedUser {
            id: id.to_owned(),
            token: token.to_owned(),
        }),
        _ => Err(format!("login: unexpected answer {login}")),
    }
}

pub async fn run(args: &Args) -> Result<String, String> {
    let base = args.str("base")?.to_owned();
    let out = args.str("out")?;
    let n_users: usize = args.num("users", 100)?;
    let per_user: usize = args.num("tasks", 1000)?;
    let concurrency: usize = args.num("concurrency", 32)?;
    let run_id = format!("{}", Utc::now().timestamp_micros());
    let client = reqwest::Client::new();

    // Registration hashes a password (Argon2id): a few at a time is all two cores can use.
    let started = Instant::now();
    let mut users = Vec::with_capacity(n_users);
    for chunk in (0..n_users).collect::<Vec<_>>().chunks(4) {
        let signups = chunk.iter().map(|&i| sign_up(&client, &base, &run_id, i));
        for user in futures_util::future::join_all(signups).await {
            users.push(user?);
        }
    }
    let signup_secs = started.elapsed().as_secs_f64();
    eprintln!("seed: {n_users} users signed up in {signup_secs:.1} s");

    let users = Arc::new(users);
    let total = n_users * per_user;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, base, users, next) = (client.clone(), base.clone(), users.clone(), next.clone());
            tokio::spawn(async move {
                let (mut created, mut errors) = (Vec::new(), 0usize);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return (created, errors);
                    }
                    let (u, k) = (n % users.len(), n / users.len());
                    let res = client
                        .post(format!("{base}/api/{}/tasks", users[u].id))
                        .bearer_auth(&users[u].token)
                        .json(&task_body(n, k))
                        .send()
                        .await;
                    let id = match res {
                        Ok(r) if r.status() == 201 => r
                            .json::<Value>()
                            .await
                            .ok()
                            .and_then(|v| v["id"].as_str().map(str::to_owned)),
                        _ => None,
                    };
                    match id {
                        Some(id) => created.push((u, id, recurring(k))),
                        None => errors += 1,
                    }
                }
            })
        })
        .collect();
    let mut tasks = Vec::with_capacity(total);
    let mut errors = 0;
    for w in workers {
        let (c, e) = w.await.map_err(|e| e.to_string())?;
        tasks.extend(c);
        errors += e;
    }
    let create_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seed: {} tasks created in {create_secs:.1} s ({errors} errors)",
        tasks.len()
    );

    let mut file = String::with_capacity(tasks.len() * 48 + users.len() * 300);
    for (i, u) in users.iter().enumerate() {
        let _ = writeln!(file, "U {i} {} {}", u.id, u.token);
    }
    tasks.sort_unstable_by_key(|(u, ..)| *u);
    for (u, id, recurring) in &tasks {
        let _ = writeln!(file, "T {u} {id} {}", if *recurring { 'r' } else { 'p' });
    }
    std::fs::write(out, file).map_err(|e| format!("{out}: {e}"))?;
    Ok(json!({
        "users": n_users,
        "tasks": tasks.len(),
        "errors": errors,
        "signup_secs": r2(signup_secs),
        "create_secs": r2(create_secs),
        "creates_per_sec": r2(tasks.len() as f64 / create_secs),
    })
    .to_string())
}
