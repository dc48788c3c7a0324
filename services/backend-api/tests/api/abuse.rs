//! Abuse: password guessing and spraying, mass registration, and the input limits — each answered
//! with the standard JSON error (429 with `Retry-After`, 400, 413, 422), never a 500.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use taskflow_backend_api::rate_limit::Rate;

use crate::helpers::{TestApp, assert_error};

const PASSWORD: &str = "correct horse battery";

async fn login_from(
    app: &TestApp,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

/// Asserts a 429 in the standard shape with a `Retry-After` of 1..=`max` seconds.
async fn assert_rate_limited(res: reqwest::Response, max: u64) {
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=max).contains(&retry_after), "Retry-After: {retry_after}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", None).await;
}

async fn register(app: &TestApp, email: &str) {
    assert_eq!(
        app.register("Victim", email, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn guessing_one_accounts_password_is_stopped_after_five_failures() {
    let app = TestApp::spawn().await;
    register(&app, "victim@example.com").await;
    register(&app, "bystander@example.com").await;
    for _ in 0..5 {
        assert_error(
            app.login("victim@example.com", "wrong guess").await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            None,
        )
        .await;
    }
    // Locked: even the right password is refused, in any spelling of the address.
    assert_rate_limited(app.login("victim@example.com", PASSWORD).await, 60).await;
    assert_rate_limited(app.login("  VICTIM@Example.com", PASSWORD).await, 60).await;
    // Other accounts from the same address are not affected.
    assert_eq!(
        app.login("bystander@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_successful_login_resets_the_accounts_count() {
    let app = TestApp::spawn().await;
    register(&app, "forgetful@example.com").await;
    for _ in 0..2 {
        for _ in 0..4 {
            assert_eq!(
                app.login("forgetful@example.com", "wrong guess").await.status(),
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            app.login("forgetful@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn spraying_many_accounts_from_one_address_is_stopped() {
    let app = TestApp::spawn_configured(|c| {
        c.auth_limits.account_failures = 100;
        c.auth_limits.ip_failures = 3;
    })
    .await;
    register(&app, "mine@example.com").await;
    for i in 0..3 {
        let res = login_from(&app, &format!("user{i}@example.com"), "Summer2026!", None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited(
        login_from(&app, "user9@example.com", "Summer2026!", None).await,
        60,
    )
    .await;
    // The address is what is limited, so a valid login from it waits too …
    assert_rate_limited(login_from(&app, "mine@example.com", PASSWORD, None).await, 60).await;
    // … and without trusted proxies a client cannot pick another address with X-Forwarded-For.
    assert_rate_limited(
        login_from(&app, "user9@example.com", "Summer2026!", Some("203.0.113.7")).await,
        60,
    )
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_limited() {
    let app = TestApp::spawn_configured(|c| {
        c.auth_limits.account_failures = 100;
        c.auth_limits.ip_failures = 2;
        c.auth_limits.trusted_proxy_hops = 1;
    })
    .await;
    for i in 0..2 {
        let res = login_from(&app, &format!("a{i}@example.com"), "guess", Some("198.51.100.1")).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_rate_limited(
        login_from(&app, "a3@example.com", "guess", Some("198.51.100.1")).await,
        60,
    )
    .await;
    // What the client itself put in front of the proxy's entry does not count.
    assert_rate_limited(
        login_from(
            &app,
            "a3@example.com",
            "guess",
            Some("198.51.100.2, 198.51.100.1"),
        )
        .await,
        60,
    )
    .await;
    // Another client behind the same proxy has its own budget.
    let res = login_from(&app, "a3@example.com", "guess", Some("198.51.100.2")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forwarded_entries_with_ports_are_limited_per_client_not_per_proxy() {
    let app = TestApp::spawn_configured(|c| {
        c.auth_limits.account_failures = 100;
        c.auth_limits.ip_failures = 2;
        c.auth_limits.trusted_proxy_hops = 1;
    })
    .await;
    for i in 0..2 {
        let res = login_from(
            &app,
            &format!("p{i}@example.com"),
            "guess",
            Some("203.0.113.7:51234"),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // The same client from another source port is the same client …
    assert_rate_limited(
        login_from(&app, "p3@example.com", "guess", Some("203.0.113.7:40000")).await,
        60,
    )
    .await;
    // … and other clients behind the proxy (IPv4 or IPv6, with ports) are not in its bucket.
    for xff in ["198.51.100.9:443", "[2001:db8::1]:443"] {
        let res = login_from(&app, "p3@example.com", "guess", Some(xff)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{xff}");
    }
}

#[tokio::test]
async fn every_login_attempt_counts_successful_ones_too() {
    let app = TestApp::spawn_configured(|c| {
        c.auth_limits.rates.account_logins = Rate::per(1, Duration::from_secs(60), 3);
        c.auth_limits.rates.address_logins = Rate::per(1, Duration::from_secs(60), 5);
    })
    .await;
    register(&app, "busy@example.com").await;
    register(&app, "other@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            app.login("busy@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    // The right password does not help: each attempt would cost an Argon2 hash.
    assert_rate_limited(app.login("busy@example.com", PASSWORD).await, 60).await;
    // Another account from the same address still can, until the address's bucket (5) is spent.
    for _ in 0..2 {
        assert_eq!(
            app.login("other@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    assert_rate_limited(app.login("other@example.com", PASSWORD).await, 60).await;
}

#[tokio::test]
async fn registrations_from_one_address_are_limited() {
    let app = TestApp::spawn_configured(|c| c.auth_limits.ip_registrations = 2).await;
    register(&app, "one@example.com").await;
    register(&app, "two@example.com").await;
    let res = app.register("Three", "three@example.com", PASSWORD).await;
    assert_rate_limited(res, 60).await;
    assert_eq!(
        app.login("three@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED,
        "the refused registration created nothing"
    );
}

#[tokio::test]
async fn deep_json_and_array_bodies_get_clean_4xx() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let url = app.url(&format!("/api/{}/tasks", user.id));
    let send = |body: String| {
        app.client
            .post(&url)
            .bearer_auth(&user.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // 100 000 levels: skimmed without recursion (well-formed, but not an object) or refused at
    // serde_json's recursion limit (128) when parsed into a value; never a stack overflow.
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let body = assert_error(
        send(deep).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        None,
    )
    .await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("JSON object"),
        "{body}"
    );
    assert_error(
        send("[".repeat(100_000)).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
        None,
    )
    .await;
    let deep_object = "{\"title\":".repeat(100_000) + "1" + &"}".repeat(100_000);
    assert_error(
        send(deep_object).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        Some("title"),
    )
    .await;
    // serde would read an array as the struct's fields in order; the API takes objects only.
    let body = assert_error(
        send(r#"["Buy milk"]"#.into()).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        None,
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON object"));
    assert_eq!(app.list(&user, "").await["tasks"], json!([]));
}

#[tokio::test]
async fn tags_reminders_and_page_size_have_limits() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let path = format!("/api/{}/tasks", user.id);
    let reminders: Vec<Value> = (0..11).map(|i| json!({"minutes_before_due": i})).collect();
    let cases = [
        (
            json!({"title": "x", "due_at": "2030-01-01T00:00:00Z", "reminders": reminders}),
            "reminders",
        ),
        // Counted as sent: 21 copies of one tag are still 21 tags.
        (json!({"title": "x", "tags": vec!["same"; 21]}), "tags"),
        (json!({"title": "x", "tags": ["x".repeat(51)]}), "tags"),
        (json!({"title": "\tx"}), "title"),
        (json!({"title": format!(" {}", "x".repeat(200))}), "title"),
    ];
    for (body, field) in cases {
        let res = app.post_json(&path, Some(&user.token), &body).await;
        assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        )
        .await;
    }
    let ten: Vec<Value> = (0..10).map(|i| json!({"minutes_before_due": i})).collect();
    app.create_task(
        &user,
        json!({"title": "x", "due_at": "2030-01-01T00:00:00Z", "reminders": ten, "tags": vec!["t"; 20]}),
    )
    .await;
    for query in ["limit=201", "limit=0", "limit=-1", "limit=1e9"] {
        assert_error(
            app.get(&format!("{path}?{query}"), &user.token).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("limit"),
        )
        .await;
    }
    assert_eq!(
        app.list(&user, "limit=200").await["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
