//! `POST /api/{user_id}/stream-tickets` (issue 22): a short-lived ticket for the caller's stream,
//! another user's path 404, rated with the writes bucket, and never usable as an access token.

use reqwest::StatusCode;
use serde_json::{Value, json};
use taskflow_auth::{Authenticator, LocalTokenConfig};
use taskflow_backend_api::rate_limit::Rate;

use crate::helpers::{SECRET, TestApp, TestUser, assert_error};

async fn ticket(app: &TestApp, user: &TestUser, path_user: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/{path_user}/stream-tickets")))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap()
}

fn authenticator() -> Authenticator {
    Authenticator::new(
        LocalTokenConfig {
            secret: SECRET.as_bytes().to_vec(),
            ttl_days: 7,
        },
        None,
    )
}

#[tokio::test]
async fn the_caller_gets_a_sixty_second_ticket_for_their_own_stream() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let res = ticket(&app, &alice, &alice.id).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let redeemed = authenticator()
        .verify_ticket(body["ticket"].as_str().unwrap())
        .unwrap();
    assert_eq!(redeemed.user_id, alice.id);
}

#[tokio::test]
async fn no_ticket_without_a_token_or_for_another_user() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.user().await, app.user().await);
    let anonymous = app
        .client
        .post(app.url(&format!("/api/{}/stream-tickets", alice.id)))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    assert_error(
        ticket(&app, &bob, &alice.id).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    )
    .await;
}

#[tokio::test]
async fn a_ticket_is_not_an_access_token() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let body: Value = ticket(&app, &alice, &alice.id).await.json().await.unwrap();
    let as_bearer = TestUser {
        id: alice.id.clone(),
        token: body["ticket"].as_str().unwrap().to_owned(),
    };
    let res = app
        .get(&format!("/api/{}/tasks", alice.id), &as_bearer.token)
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let res = app
        .post_json(
            &format!("/api/{}/tasks", alice.id),
            Some(&as_bearer.token),
            &json!({"title": "x"}),
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    // Nor can a ticket mint another ticket.
    assert_error(
        ticket(&app, &as_bearer, &alice.id).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
}

#[tokio::test]
async fn tickets_draw_from_the_writes_bucket() {
    let app = TestApp::spawn_configured(|c| {
        c.auth_limits.rates.writes = Rate::per(1, std::time::Duration::from_secs(60), 2);
    })
    .await;
    let alice = app.user().await;
    for _ in 0..2 {
        assert_eq!(
            ticket(&app, &alice, &alice.id).await.status(),
            StatusCode::CREATED
        );
    }
    let res = ticket(&app, &alice, &alice.id).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", None).await;
}

#[tokio::test]
async fn the_route_is_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    let op = &doc["paths"]["/api/{user_id}/stream-tickets"]["post"];
    for status in ["201", "401", "404", "429"] {
        assert!(op["responses"][status].is_object(), "{status} missing: {op}");
    }
}
