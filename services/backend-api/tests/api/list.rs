//! Listing: filters, search, sorting and cursor pagination.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_error, titles};

async fn seed(app: &TestApp, user: &TestUser) {
    let tasks = [
        json!({"title": "Fix login bug", "priority": "high", "category": "work", "tags": ["bug", "auth"], "due_at": "2026-12-03T09:00:00Z"}),
        json!({"title": "Buy milk", "priority": "low", "category": "home", "tags": ["shopping"], "due_at": "2026-12-01T09:00:00Z"}),
        json!({"title": "Call mum", "category": "personal"}),
        json!({"title": "Write docs", "description": "Explain the BUG tracker", "priority": "medium", "category": "work", "tags": ["docs"], "due_at": "2026-12-02T09:00:00Z"}),
        json!({"title": "50% off sale", "priority": "low", "tags": ["shopping", "bug"]}),
    ];
    for t in tasks {
        app.create_task(user, t).await;
    }
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    seed(&app, &user).await;
    let sorted = |page: Value| {
        let mut t = titles(&page);
        t.sort();
        t
    };
    assert_eq!(
        sorted(app.list(&user, "priority=low").await),
        ["50% off sale", "Buy milk"]
    );
    assert_eq!(
        sorted(app.list(&user, "category=work").await),
        ["Fix login bug", "Write docs"]
    );
    assert_eq!(
        sorted(app.list(&user, "tag=bug").await),
        ["50% off sale", "Fix login bug"]
    );
    assert_eq!(
        sorted(app.list(&user, "tag=bug&tag=%23Auth").await),
        ["Fix login bug"]
    );
    assert_eq!(
        sorted(app.list(&user, "search=BUG").await),
        ["Fix login bug", "Write docs"]
    );
    assert_eq!(sorted(app.list(&user, "search=50%25").await), ["50% off sale"]);
    assert_eq!(
        sorted(app.list(&user, "search=_").await),
        Vec::<String>::new(),
        "LIKE wildcards are literal"
    );
    assert_eq!(
        sorted(app.list(&user, "due_before=2026-12-02T12:00:00Z").await),
        ["Buy milk", "Write docs"]
    );
    assert_eq!(
        sorted(app.list(&user, "due_after=2026-12-02T12:00:00Z").await),
        ["Fix login bug"]
    );

    let first = app.list(&user, "search=milk").await;
    let id = first["tasks"][0]["id"].as_str().unwrap();
    app.client
        .patch(app.url(&format!("/api/{}/tasks/{id}/complete", user.id)))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(titles(&app.list(&user, "status=completed").await), ["Buy milk"]);
    assert_eq!(
        app.list(&user, "status=pending").await["tasks"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn sorting_orders_as_asked_with_undated_tasks_last() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    seed(&app, &user).await;
    assert_eq!(
        titles(&app.list(&user, "sort_by=due_at&sort_order=asc").await)[..3],
        ["Buy milk", "Write docs", "Fix login bug"]
    );
    let desc = titles(&app.list(&user, "sort_by=due_at&sort_order=desc").await);
    assert_eq!(desc[..3], ["Fix login bug", "Write docs", "Buy milk"]);
    let undated: HashSet<&str> = desc[3..].iter().map(String::as_str).collect();
    assert_eq!(undated, HashSet::from(["Call mum", "50% off sale"]));
    assert_eq!(
        titles(&app.list(&user, "sort_by=priority&sort_order=desc").await)[0],
        "Fix login bug"
    );
    assert_eq!(
        titles(&app.list(&user, "sort_by=title&sort_order=asc").await),
        [
            "50% off sale",
            "Buy milk",
            "Call mum",
            "Fix login bug",
            "Write docs"
        ]
    );
    assert_eq!(
        titles(&app.list(&user, "").await)[0],
        "50% off sale",
        "newest first by default"
    );
}

async fn all_pages(app: &TestApp, user: &TestUser, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_owned(),
        };
        let page = app.list(user, &q).await;
        assert!(page["tasks"].as_array().unwrap().len() <= 3);
        seen.extend(
            page["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return seen,
        }
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn cursors_walk_every_task_exactly_once_in_every_sort() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for i in 0..8 {
        let priority = ["low", "medium", "high"][i % 3];
        let mut body = json!({"title": format!("Task {}", i % 3), "priority": priority});
        if i % 2 == 0 {
            body["due_at"] = json!(format!("2026-12-0{}T09:00:00Z", 1 + i % 3));
        }
        app.create_task(&user, body).await;
    }
    let everything: HashSet<String> = app.list(&user, "limit=200").await["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(everything.len(), 8);
    for sort in ["created_at", "due_at", "priority", "title"] {
        for order in ["asc", "desc"] {
            let query = format!("limit=3&sort_by={sort}&sort_order={order}");
            let ids = all_pages(&app, &user, &query).await;
            let unique: HashSet<String> = ids.iter().cloned().collect();
            assert_eq!(ids.len(), 8, "{query}: duplicates or gaps");
            assert_eq!(unique, everything, "{query}");
            let single: Vec<String> = app
                .list(&user, &format!("limit=200&sort_by={sort}&sort_order={order}"))
                .await["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(ids, single, "{query}: paging changes the order");
        }
    }
}

#[tokio::test]
async fn bad_list_parameters_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    app.create_task(&user, json!({"title": "one"})).await;
    app.create_task(&user, json!({"title": "two"})).await;
    let page = app.list(&user, "limit=1&sort_by=title").await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let path = format!("/api/{}/tasks", user.id);
    for (query, field) in [
        ("sort_by=colour", "sort_by"),
        ("sort_order=sideways", "sort_order"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("status=maybe", "status"),
        ("priority=urgent", "priority"),
        ("due_before=yesterday", "due_before"),
        ("cursor=garbage", "cursor"),
        (&format!("cursor={cursor}&sort_by=created_at") as &str, "cursor"),
        ("unknown=1", "unknown"),
    ] {
        let res = app.get(&format!("{path}?{query}"), &user.token).await;
        assert_error(res, StatusCode::BAD_REQUEST, "bad_request", Some(field)).await;
    }
}
