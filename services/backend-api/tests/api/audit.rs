//! The audit API: the caller's trail only, filtered, newest first, paged by cursor.

use reqwest::StatusCode;
use serde_json::{Value, json};
use taskflow_store::AuditEntry;

use crate::helpers::{TestApp, assert_error};

fn entry(user: &str, kind: &str, entity: &str, minute: u32) -> AuditEntry {
    let at = format!("2027-01-01T10:{minute:02}:00Z").parse().unwrap();
    AuditEntry {
        event_id: uuid::Uuid::now_v7(),
        event_type: kind.into(),
        entity_type: "task".into(),
        entity_id: entity.into(),
        user_id: user.into(),
        data: json!({"minute": minute}),
        occurred_at: at,
        recorded_at: at,
        trace_id: None,
    }
}

#[tokio::test]
async fn the_trail_is_filtered_paged_and_private() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bob = app.user().await;
    for minute in 0..7 {
        let kind = if minute % 2 == 0 {
            "task-created"
        } else {
            "task-updated"
        };
        let e = entry(&alice.id, kind, if minute < 4 { "t1" } else { "t2" }, minute);
        assert!(app.store.audit().append(&e).await.unwrap());
        assert!(
            !app.store.audit().append(&e).await.unwrap(),
            "a duplicate is a no-op"
        );
    }
    app.store
        .audit()
        .append(&entry(&bob.id, "task-created", "t9", 30))
        .await
        .unwrap();

    let path = format!("/api/{}/audit", alice.id);
    let all: Value = app
        .get(&format!("{path}?limit=200"), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    let minutes: Vec<i64> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["minute"].as_i64().unwrap())
        .collect();
    assert_eq!(minutes, [6, 5, 4, 3, 2, 1, 0]);

    let mut seen = Vec::new();
    let mut query = format!("{path}?limit=3");
    loop {
        let page: Value = app.get(&query, &alice.token).await.json().await.unwrap();
        seen.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["data"]["minute"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("{path}?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, minutes, "pages walk the trail once, in order");

    let filtered: Value = app
        .get(
            &format!("{path}?event_type=task-updated&entity_id=t1"),
            &alice.token,
        )
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<i64> = filtered["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["minute"].as_i64().unwrap())
        .collect();
    assert_eq!(got, [3, 1]);
    let window: Value = app
        .get(
            &format!("{path}?since=2027-01-01T10:02:00Z&until=2027-01-01T10:04:00Z"),
            &alice.token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(window["entries"].as_array().unwrap().len(), 2);

    assert_error(
        app.get(&path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
    for (q, field) in [
        ("event_type=task-exploded", Some("event_type")),
        ("limit=0", Some("limit")),
        ("cursor=nonsense", Some("cursor")),
        ("since=yesterday", None),
        ("colour=red", None),
    ] {
        assert_error(
            app.get(&format!("{path}?{q}"), &alice.token).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
            field,
        )
        .await;
    }
}
