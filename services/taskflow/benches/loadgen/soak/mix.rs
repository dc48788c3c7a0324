//! The soak's mixed workload: one request at a time, chosen by weight, on a task taken from its
//! user's pool, with every write's outcome logged for the integrity checks.

use std::time::Instant;

use chrono::{Duration as Span, SecondsFormat, Utc};
use rand::Rng;
use serde_json::{Value, json};

use super::pool::{Pool, Task};
use super::record::{Acks, Outcome, Stats};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    List,
    Create,
    Update,
    Complete,
    Delete,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::List => "list",
            Op::Create => "create",
            Op::Update => "update",
            Op::Complete => "complete",
            Op::Delete => "delete",
        }
    }
}

/// Weights (percent) of each operation. `full`: the soak; `writes`: the kill -9 phase.
pub fn weights(mix: &str) -> Result<Vec<(Op, u32)>, String> {
    match mix {
        "full" => Ok(vec![
            (Op::Get, 30),
            (Op::List, 20),
            (Op::Create, 18),
            (Op::Update, 17),
            (Op::Complete, 8),
            (Op::Delete, 7),
        ]),
        "writes" => Ok(vec![(Op::Create, 60), (Op::Update, 30), (Op::Delete, 10)]),
        other => Err(format!("--mix must be full or writes, not {other:?}")),
    }
}

pub fn pick(weights: &[(Op, u32)]) -> Op {
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut roll = rand::rng().random_range(0..total);
    for &(op, w) in weights {
        if roll < w {
            return op;
        }
        roll -= w;
    }
    weights[0].0
}

const LISTS: [&str; 6] = [
    "?limit=50",
    "?status=pending&limit=50",
    "?priority=high&category=work&limit=50",
    "?tag=t3&limit=50",
    "?status=pending&sort_by=due_at&sort_order=asc&limit=50",
    "?priority=low&tag=t7&sort_by=priority&limit=50",
];
const PRIORITIES: [&str; 3] = ["low", "medium", "high"];

pub struct Mix<'a> {
    pub client: &'a reqwest::Client,
    pub base: &'a str,
    pub pool: &'a Pool,
    pub acks: &'a Acks,
    pub stats: &'a Stats,
}

/// A write's answer: its outcome and the task's id and version when it was a 2xx.
struct Answer {
    outcome: Outcome,
    body: Option<Value>,
}

async fn send(request: reqwest::RequestBuilder, expect: u16) -> Answer {
    match request.send().await {
        Ok(r) if r.status().as_u16() == expect => {
            let body = if expect == 204 {
                Some(Value::Null)
            } else {
                r.json::<Value>().await.ok()
            };
            match body {
                Some(body) => Answer {
                    outcome: Outcome::Ok,
                    body: Some(body),
                },
                None => Answer {
                    outcome: Outcome::Transport,
                    body: None,
                },
            }
        }
        Ok(_) => Answer {
            outcome: Outcome::Status,
            body: None,
        },
        Err(_) => Answer {
            outcome: Outcome::Transport,
            body: None,
        },
    }
}

fn version(body: &Value) -> i64 {
    body["version"].as_i64().unwrap_or(0)
}

impl Mix<'_> {
    /// Runs `op` for user `u`: falls back to a create when the pool has no task to act on.
    pub async fn run(&self, op: Op, u: usize, n: usize) {
        let needs_task = matches!(op, Op::Get | Op::Update | Op::Complete | Op::Delete);
        let task = if needs_task {
            self.pool.take(u, op == Op::Complete)
        } else {
            None
        };
        match (op, task) {
            (Op::List, _) => self.list(u, n).await,
            (Op::Get, Some(t)) => self.get(u, t).await,
            (Op::Update, Some(t)) => self.update(u, t, n).await,
            (Op::Complete, Some(t)) => self.complete(u, t).await,
            (Op::Delete, Some(t)) => self.delete(u, t).await,
            _ => self.create(u, n).await,
        }
    }

    fn tasks_url(&self, u: usize) -> String {
        format!("{}/api/{}/tasks", self.base, self.pool.users[u].id)
    }

    fn authed(&self, u: usize, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        r.bearer_auth(&self.pool.users[u].token)
    }

    async fn timed(&self, op: Op, request: reqwest::RequestBuilder, expect: u16) -> Answer {
        let started = Instant::now();
        let answer = send(request, expect).await;
        self.stats.request(op.name(), started.elapsed(), &answer.outcome);
        answer
    }

    async fn list(&self, u: usize, n: usize) {
        let url = format!("{}{}", self.tasks_url(u), LISTS[n % LISTS.len()]);
        self.timed(Op::List, self.authed(u, self.client.get(url)), 200)
            .await;
    }

    async fn get(&self, u: usize, t: Task) {
        let url = format!("{}/{}", self.tasks_url(u), t.id);
        let a = self
            .timed(Op::Get, self.authed(u, self.client.get(url)), 200)
            .await;
        if matches!(a.outcome, Outcome::Ok) {
            self.pool.put(u, t);
        }
    }

    async fn create(&self, u: usize, n: usize) {
        // A third recur daily, so completes always find a recurring task.
        let recurring = n.is_multiple_of(3);
        let due = Utc::now() + Span::days(1 + (n % 30) as i64);
        let mut body = json!({
            "title": format!("Soak task {n}"),
            "priority": PRIORITIES[n % 3],
            "category": "work",
            "tags": ["soak", format!("t{}", n % 10)],
            "due_at": due.to_rfc3339_opts(SecondsFormat::Secs, true),
        });
        if recurring {
            body["recurrence"] = json!("daily");
        }
        let request = self.authed(u, self.client.post(self.tasks_url(u)).json(&body));
        let a = self.timed(Op::Create, request, 201).await;
        let user = &self.pool.users[u].id;
        match (
            a.outcome,
            a.body.as_ref().and_then(|b| b["id"].as_str().map(|id| (id, b))),
        ) {
            (Outcome::Ok, Some((id, b))) => {
                let op = if recurring { "create-recurring" } else { "create" };
                self.acks.record(op, true, user, id, version(b));
                self.pool.put(
                    u,
                    Task {
                        id: id.to_owned(),
                        recurring,
                    },
                );
            }
            // A create that failed has no id to check; the database may still hold it.
            _ => self.acks.record("create", false, user, "-", 0),
        }
    }

    async fn write(&self, op: Op, u: usize, t: &Task, request: reqwest::RequestBuilder, expect: u16) -> bool {
        let a = self.timed(op, self.authed(u, request), expect).await;
        let user = &self.pool.users[u].id;
        let ok = matches!(a.outcome, Outcome::Ok);
        let v = a.body.as_ref().map_or(0, version);
        self.acks.record(op.name(), ok, user, &t.id, v);
        ok
    }

    async fn update(&self, u: usize, t: Task, n: usize) {
        let url = format!("{}/{}", self.tasks_url(u), t.id);
        let body = json!({"title": format!("Soak update {n}"), "priority": PRIORITIES[(n / 3) % 3]});
        if self
            .write(Op::Update, u, &t, self.client.patch(url).json(&body), 200)
            .await
        {
            self.pool.put(u, t);
        }
    }

    async fn complete(&self, u: usize, t: Task) {
        let url = format!("{}/{}/complete", self.tasks_url(u), t.id);
        let body = json!({"completed": true});
        self.write(Op::Complete, u, &t, self.client.patch(url).json(&body), 200)
            .await;
    }

    async fn delete(&self, u: usize, t: Task) {
        let url = format!("{}/{}", self.tasks_url(u), t.id);
        self.write(Op::Delete, u, &t, self.client.delete(url), 204).await;
    }
}
