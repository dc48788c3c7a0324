//! The database goes away mid-load and comes back: requests fail cleanly (503 with the standard JSON
//! error and `Retry-After`, never a 500 or a hang), `/ready` names the database, and the service
//! recovers on its own — no restart.
//!
//! A small TCP proxy stands between the app and PostgreSQL, so the test can cut every connection and
//! refuse new ones, as a database restart or a network partition would. PostgreSQL only: runs with
//! `TEST_DATABASE_URL` (`taskflow_test_support::postgres_for_test`).

use std::time::Duration;

use crate::helpers::{TestApp, assert_error};
use crate::proxy::Proxy;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `host:port` of a `postgres://user@host:port/db` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    }
}

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    let res = app.client.get(app.url("/ready")).send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_database_outage_is_a_clean_503_and_the_service_recovers_by_itself() {
    let Some(admin) = taskflow_test_support::postgres_for_test("the database outage test") else {
        return;
    };
    let upstream = host_port(&admin);
    let proxy = Proxy::start(upstream.clone()).await;
    let proxied = format!("127.0.0.1:{}", proxy.port);
    let app = TestApp::spawn_configured(|c| {
        c.database_url = c.database_url.replacen(&upstream, &proxied, 1);
        assert!(c.database_url.contains(&proxied), "{}", c.database_url);
    })
    .await;
    let user = app.user().await;
    let tasks = format!("/api/{}/tasks", user.id);
    let before = app
        .create_task(&user, json!({"title": "before the outage"}))
        .await;
    assert_eq!(ready(&app).await.0, StatusCode::OK);

    proxy.cut();
    // Reads, writes and logins all fail the same clean way while the database is away.
    for _ in 0..3 {
        let res = app.get(&tasks, &user.token).await;
        assert_eq!(res.headers().get("retry-after").unwrap(), "1");
        assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;
        let res = app
            .post_json(&tasks, Some(&user.token), &json!({"title": "during the outage"}))
            .await;
        assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None).await;
    }
    assert_error(
        app.login("nobody@example.com", "whatever password").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        None,
    )
    .await;
    let (status, report) = ready(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{report}");
    assert_eq!(report["status"], "unavailable");
    assert_ne!(report["checks"]["database"], "ok", "{report}");

    proxy.restore();
    // No restart: the pool reconnects on its own.
    let mut recovered = false;
    for _ in 0..300 {
        if ready(&app).await.0 == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "/ready did not recover after the database came back");
    let after = app.create_task(&user, json!({"title": "after the outage"})).await;
    let titles: Vec<Value> = app.list(&user, "").await["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(
        titles,
        vec![after["title"].clone(), before["title"].clone()],
        "nothing half-written"
    );
}
