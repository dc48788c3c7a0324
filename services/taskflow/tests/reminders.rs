//! Reminders end to end in the single binary: the timer plays the cron binding, a due reminder
//! becomes a notification in the user's inbox and a `reminder-due` event on the bus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use taskflow::SystemOptions;
use taskflow_backend_api::ApiConfig;
use taskflow_bus::{Outcome, ReceivedEvent, Subscription, handler_fn};
use taskflow_test_support::test_database;

#[tokio::test]
async fn a_reminder_one_tick_ahead_reaches_the_inbox_and_the_bus() {
    let (database_url, _db) = test_database().await;
    let config = ApiConfig {
        host: "127.0.0.1".into(),
        port: 0,
        database_url,
        jwt_secret: b"reminder-test-secret-at-least-32-bytes!".to_vec(),
        token_ttl_days: 1,
        jwks: None,
        db_max_connections: 5,
    };
    let seen: Arc<Mutex<Vec<ReceivedEvent>>> = Arc::default();
    let watcher = {
        let seen = seen.clone();
        Subscription::new(
            "watcher",
            "reminder-due",
            handler_fn(move |e: ReceivedEvent| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(e);
                    Outcome::Success
                }
            }),
        )
    };
    let options = SystemOptions {
        reminder_tick: Some(Duration::from_millis(100)),
        ..SystemOptions::default()
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let running = taskflow::start_with(&config, listener, vec![watcher], options)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", running.port());
    tokio::spawn(running.run());

    let client = reqwest::Client::new();
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    client
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"name": "N", "email": email, "password": "reminder password"}))
        .send()
        .await
        .unwrap();
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": "reminder password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (user, token) = (
        login["user"]["id"].as_str().unwrap().to_owned(),
        login["access_token"].as_str().unwrap().to_owned(),
    );

    let remind_at = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(300)).to_rfc3339();
    let task: Value = client
        .post(format!("{base}/api/{user}/tasks"))
        .bearer_auth(&token)
        .json(&json!({"title": "Stretch", "reminders": [{"remind_at": remind_at}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let mut inbox = Value::Null;
    for _ in 0..300 {
        inbox = client
            .get(format!("{base}/api/{user}/notifications"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !inbox["notifications"].as_array().unwrap().is_empty() && !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let notes = inbox["notifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{inbox}");
    assert_eq!(notes[0]["task_id"], task["id"]);
    assert_eq!(notes[0]["kind"], "reminder");
    assert_eq!(notes[0]["late"], false);
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "com.taskflow.reminder.due.v1");
    assert_eq!(events[0].data["reminder"]["notification_id"], notes[0]["id"]);

    // The inbox API: read one, read all, delete; another user sees none of it.
    let id = notes[0]["id"].as_str().unwrap();
    let read: Value = client
        .patch(format!("{base}/api/{user}/notifications/{id}/read"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(read["read_at"].is_string());
    let unread: Value = client
        .get(format!("{base}/api/{user}/notifications?unread_only=true"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unread["notifications"], json!([]));
    let all: Value = client
        .post(format!("{base}/api/{user}/notifications/read-all"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all, json!({"count": 0}));

    let other_email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    client
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"name": "O", "email": other_email, "password": "other password"}))
        .send()
        .await
        .unwrap();
    let other: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": other_email, "password": "other password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (other_id, other_token) = (
        other["user"]["id"].as_str().unwrap(),
        other["access_token"].as_str().unwrap(),
    );
    let res = client
        .delete(format!("{base}/api/{other_id}/notifications/{id}"))
        .bearer_auth(other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "another user's notification is 404");
    let res = client
        .get(format!("{base}/api/{user}/notifications"))
        .bearer_auth(other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let res = client
        .delete(format!("{base}/api/{user}/notifications/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = client
        .delete(format!("{base}/api/{user}/notifications/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
