//! Reminders fire exactly once — with racing tickers, late, moved or cancelled — and e-mail goes to
//! a real local SMTP server (Python aiosmtpd; on CI the test fails if the server cannot start).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use chrono::TimeDelta;
use serde_json::json;
use taskflow_domain::{CreateTask, Task, TaskUpdate, time};
use taskflow_notification::{Mailer, ReminderTicker, TickerConfig};
use taskflow_store::{NotificationFilter, OutboxScope, ProfileChange, Store};
use taskflow_test_support::{TestDb, consumer};

async fn store() -> (Store, TestDb) {
    consumer::store_with_users([consumer::user("u1", "Una", Some("una@example.com"), "UTC")]).await
}

async fn task(store: &Store, body: serde_json::Value) -> Task {
    let task = serde_json::from_value::<CreateTask>(body)
        .unwrap()
        .validate()
        .unwrap()
        .into_task("u1", time::now());
    store.tasks().create(&task).await.unwrap();
    task
}

fn ticker(store: &Store, mailer: Option<Mailer>) -> ReminderTicker {
    ReminderTicker::new(store.clone(), mailer, TickerConfig::default())
}

async fn notifications(store: &Store) -> Vec<taskflow_store::Notification> {
    store
        .notifications()
        .list(
            "u1",
            &NotificationFilter {
                limit: 200,
                ..NotificationFilter::default()
            },
        )
        .await
        .unwrap()
        .notifications
}

fn ago(minutes: i64) -> String {
    (time::now() - TimeDelta::minutes(minutes)).to_rfc3339()
}

fn ahead(minutes: i64) -> String {
    (time::now() + TimeDelta::minutes(minutes)).to_rfc3339()
}

#[tokio::test]
async fn racing_tickers_fire_each_reminder_once() {
    let (store, _db) = store().await;
    for i in 0..20 {
        task(
            &store,
            json!({"title": format!("t{i}"), "reminders": [{"remind_at": ago(1)}]}),
        )
        .await;
    }
    let (a, b) = (ticker(&store, None), ticker(&store, None));
    let (ra, rb) = tokio::join!(a.run_once(), b.run_once());
    assert_eq!(ra.unwrap().fired + rb.unwrap().fired, 20);
    assert_eq!(notifications(&store).await.len(), 20);
    // Notification publishes its own events: they are in its scope of the outbox, not backend-api's.
    let notification = OutboxScope::Source("notification".into());
    let events = store.outbox().pending(&notification, 100).await.unwrap();
    assert_eq!(events.len(), 20, "one event per firing");
    assert!(
        events
            .iter()
            .all(|e| e.topic == "reminder-due" && e.source == "notification")
    );
    let backend_api = OutboxScope::Source("backend-api".into());
    let created = store.outbox().pending(&backend_api, 100).await.unwrap();
    assert!(created.iter().all(|e| e.topic == "task-created"));
    assert_eq!(a.run_once().await.unwrap().fired, 0, "nothing fires twice");
}

#[tokio::test]
async fn a_missed_reminder_fires_once_marked_late() {
    let (store, _db) = store().await;
    let t = task(&store, json!({"title": "Missed", "due_at": ahead(60), "reminders": [{"remind_at": ago(60)}, {"remind_at": ahead(30)}]})).await;
    let report = ticker(&store, None).run_once().await.unwrap();
    assert_eq!((report.fired, report.late), (1, 1));
    let n = notifications(&store).await;
    assert_eq!(n.len(), 1);
    assert!(n[0].late);
    assert_eq!(n[0].task_id, t.id);
    assert_eq!(n[0].kind, "reminder");
    assert!(n[0].message.contains("Missed"));
    let event = &store
        .outbox()
        .pending(&OutboxScope::Source("notification".into()), 10)
        .await
        .unwrap()[0];
    assert_eq!(event.payload["reminder"]["late"], true);
    assert_eq!(event.payload["reminder"]["notification_id"], n[0].id.to_string());
    assert_eq!(ticker(&store, None).run_once().await.unwrap().fired, 0);
}

#[tokio::test]
async fn moving_the_due_date_moves_relative_reminders_and_completion_cancels() {
    let (store, _db) = store().await;
    let t = task(
        &store,
        json!({"title": "Moving", "due_at": ahead(120), "reminders": [{"minutes_before_due": 30}]}),
    )
    .await;
    assert_eq!(
        ticker(&store, None).run_once().await.unwrap().fired,
        0,
        "not due yet"
    );
    // Due in 10 minutes now: the 30-minutes-before reminder is due.
    let update: TaskUpdate = serde_json::from_value(json!({"due_at": ahead(10)})).unwrap();
    store
        .tasks()
        .apply_update("u1", t.id, Some(t.version), &update)
        .await
        .unwrap();
    assert_eq!(ticker(&store, None).run_once().await.unwrap().fired, 1);

    let done = task(
        &store,
        json!({"title": "Done", "reminders": [{"remind_at": ago(1)}]}),
    )
    .await;
    store
        .tasks()
        .apply_update("u1", done.id, Some(done.version), &TaskUpdate::completion(true))
        .await
        .unwrap();
    let deleted = task(
        &store,
        json!({"title": "Gone", "reminders": [{"remind_at": ago(1)}]}),
    )
    .await;
    store.tasks().delete_by_id("u1", deleted.id).await.unwrap();
    assert_eq!(
        ticker(&store, None).run_once().await.unwrap().fired,
        0,
        "completed and deleted tasks fire nothing"
    );
}

#[tokio::test]
async fn the_default_due_soon_reminder_is_opt_in_and_fires_once() {
    let (store, _db) = store().await;
    task(&store, json!({"title": "Soon", "due_at": ahead(10)})).await;
    task(
        &store,
        json!({"title": "Has its own", "due_at": ahead(10), "reminders": [{"remind_at": ahead(5)}]}),
    )
    .await;
    assert_eq!(
        ticker(&store, None).run_once().await.unwrap().fired,
        0,
        "off by default"
    );
    store
        .users()
        .update_profile(
            "u1",
            ProfileChange {
                default_reminder_minutes: Some(Some(30)),
                ..ProfileChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ticker(&store, None).run_once().await.unwrap().fired, 1);
    assert_eq!(ticker(&store, None).run_once().await.unwrap().fired, 0);
    let n = notifications(&store).await;
    assert_eq!((n[0].kind.as_str(), n[0].title.as_str()), ("due_soon", "Soon"));
}

/// A real SMTP server: Python's aiosmtpd, appending each message to a file as JSON.
struct SmtpServer {
    child: Child,
    port: u16,
    inbox: tempfile::NamedTempFile,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// aiosmtpd's protocol on an asyncio server that binds port 0 itself and prints the port it got.
/// (aiosmtpd 1.4's `Controller(port=0)` cannot be used: `start()` then probes port 0 and fails.)
const SMTP_SERVER: &str = r#"
import asyncio, json, sys
from aiosmtpd.smtp import SMTP
class Inbox:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[1], "a") as f:
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos, "data": envelope.content.decode("utf-8", "replace")}) + "\n")
        return "250 OK"
async def main():
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(Inbox()), host="127.0.0.1", port=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(120)
asyncio.run(main())
"#;

/// Starts the server, or says why it could not (with the server's own error output).
fn smtp_server() -> Result<SmtpServer, String> {
    let inbox = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("python3")
        .args(["-c", SMTP_SERVER, inbox.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let mut line = String::new();
    let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    match (read, line.trim().parse()) {
        (Ok(_), Ok(port)) => Ok(SmtpServer { child, port, inbox }),
        _ => {
            let _ = child.kill();
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
            }
            let _ = child.wait();
            Err(format!(
                "the aiosmtpd server did not start (pip install aiosmtpd==1.4.6): {}",
                stderr.trim()
            ))
        }
    }
}

#[tokio::test]
async fn reminder_email_reaches_a_real_smtp_server() {
    let server = match smtp_server() {
        Ok(server) => server,
        Err(why) => return taskflow_test_support::unavailable("the SMTP e-mail test", &why),
    };
    let (store, _db) = store().await;
    task(
        &store,
        json!({"title": "Call the bank", "due_at": ahead(15), "reminders": [{"remind_at": ago(1)}]}),
    )
    .await;
    let mailer = Mailer::new(
        &format!("smtp://127.0.0.1:{}", server.port),
        "TaskFlow <noreply@taskflow.test>",
    )
    .unwrap();
    let report = ticker(&store, Some(mailer)).run_once().await.unwrap();
    assert_eq!(
        (report.fired, report.emails_sent, report.emails_failed),
        (1, 1, 0)
    );
    let received = std::fs::read_to_string(server.inbox.path()).unwrap();
    let message: serde_json::Value = serde_json::from_str(received.lines().next().unwrap()).unwrap();
    assert_eq!(message["to"], json!(["una@example.com"]));
    assert_eq!(message["from"], "noreply@taskflow.test");
    let data = message["data"].as_str().unwrap();
    assert!(data.contains("Subject: TaskFlow: Call the bank"), "{data}");
    assert!(data.contains("Reminder:"), "{data}");
}

#[tokio::test]
async fn a_failing_mail_server_delays_email_without_blocking_reminders() {
    let (store, _db) = store().await;
    for i in 0..3 {
        task(
            &store,
            json!({"title": format!("r{i}"), "reminders": [{"remind_at": ago(1)}]}),
        )
        .await;
    }
    // Nothing listens on port 9: every attempt fails at once.
    let mailer = Mailer::new("smtp://127.0.0.1:9", "TaskFlow <noreply@taskflow.test>").unwrap();
    let report = ticker(&store, Some(mailer.clone())).run_once().await.unwrap();
    assert_eq!(
        (report.fired, report.emails_sent, report.emails_failed),
        (3, 0, 3)
    );
    assert_eq!(
        notifications(&store).await.len(),
        3,
        "the notifications exist regardless"
    );
    let later = ticker(&store, Some(mailer)).run_once().await.unwrap();
    assert_eq!(later.emails_failed, 0, "retries wait for their backoff");
}

#[tokio::test]
async fn the_cron_binding_route_fires_reminders() {
    let (store, _db) = store().await;
    task(
        &store,
        json!({"title": "Via Dapr", "reminders": [{"remind_at": ago(1)}]}),
    )
    .await;
    let app = taskflow_bus::dapr::DaprApp::new("pubsub", Vec::new(), Some("app-token".into())).with_cron(
        taskflow_notification::CRON_BINDING,
        std::sync::Arc::new(ticker(&store, None)),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let served = taskflow_runtime::server::serve(
        listener,
        taskflow_runtime::health::Readiness::default(),
        app.configure(),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{}/reminder-cron", served.port);
    tokio::spawn(served.server);
    let client = reqwest::Client::new();
    // daprd probes the binding route at start-up, then POSTs an empty body per tick, with the app token.
    let probe = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("dapr-api-token", "app-token")
        .send()
        .await
        .unwrap();
    assert!(probe.status().is_success());
    assert_eq!(
        client.post(&url).send().await.unwrap().status(),
        401,
        "only the sidecar may tick"
    );
    for _ in 0..2 {
        let tick = client
            .post(&url)
            .header("dapr-api-token", "app-token")
            .send()
            .await
            .unwrap();
        assert_eq!(tick.status(), 200);
    }
    assert_eq!(
        notifications(&store).await.len(),
        1,
        "overlapping ticks fire it once"
    );
}
