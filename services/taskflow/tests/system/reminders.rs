//! Reminders end to end in the single binary: the timer plays the cron binding, a due reminder
//! becomes a notification in the user's inbox and a `reminder-due` event on the bus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use taskflow::SystemOptions;

use crate::support;

#[tokio::test]
async fn a_reminder_one_tick_ahead_reaches_the_inbox_and_the_bus() {
    let (watchers, seen) = support::recorder(&["reminder-due"]);
    let options = SystemOptions {
        reminder_tick: Some(Duration::from_millis(100)),
        ..SystemOptions::default()
    };
    let sys = support::system(watchers, options).await;
    let (base, client) = (sys.base.clone(), sys.client.clone());
    let (user, token) = sys.sign_up(json!({})).await;

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

    let (other_id, other_token) = sys.sign_up(json!({})).await;
    let other_token = other_token.as_str();
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
