//! Registration, login and local token checks.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SECRET, TestApp, assert_error};

#[tokio::test]
async fn register_then_login_returns_a_bearer_token_that_works() {
    let app = TestApp::spawn().await;
    let res = app
        .register("  Ada Lovelace ", "Ada@Example.COM", "analytical engine")
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["name"], "Ada Lovelace");
    assert_eq!(body["email"], "ada@example.com");
    assert!(body["message"].is_string());
    let id = body["id"].as_str().unwrap();

    let res = app.login("ADA@example.com", "analytical engine").await;
    assert_eq!(res.status(), StatusCode::OK);
    let login: Value = res.json().await.unwrap();
    assert_eq!(login["token_type"], "bearer");
    assert_eq!(login["expires_in"], 7 * 24 * 3600);
    assert_eq!(login["user"]["id"], id);
    assert_eq!(login["user"]["email"], "ada@example.com");

    let token = login["access_token"].as_str().unwrap();
    let me: Value = app.get("/api/auth/me", token).await.json().await.unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["timezone"], "UTC");
}

#[tokio::test]
async fn registering_an_email_that_has_an_account_reveals_nothing_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let first = app.register("A", "dup@example.com", "password one").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();

    // Any spelling of a taken address gets the answer a free one gets, field for field but the id.
    let again = app.register("B", " DUP@Example.com", "password two").await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    let fresh = app.register("B", "free@example.com", "password two").await;
    assert_eq!(fresh.status(), StatusCode::CREATED);
    let fresh: Value = fresh.json().await.unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&again), keys(&fresh));
    assert_eq!(again["message"], fresh["message"]);
    assert_eq!(again["email"], "dup@example.com");
    assert_ne!(
        again["id"], first["id"],
        "the answer must not carry the existing account's id"
    );

    // The existing account is untouched: its password still works, the second one does not.
    let login = app.login("dup@example.com", "password one").await;
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.unwrap();
    assert_eq!(login["user"]["id"], first["id"]);
    assert_eq!(login["user"]["name"], "A");
    let res = app.login("dup@example.com", "password two").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn registration_names_the_invalid_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "A", "email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"name": "A", "email": "not-an-email", "password": "long enough"}),
            "email",
        ),
        (
            json!({"name": "   ", "email": "a@example.com", "password": "long enough"}),
            "name",
        ),
        (
            json!({"name": "A", "email": "a@example.com", "password": "long enough", "timezone": "Mars/Base"}),
            "timezone",
        ),
        (
            json!({"name": "A", "email": "a@example.com", "password": 12345678}),
            "password",
        ),
    ];
    for (body, field) in cases {
        let res = app.post_json("/api/auth/register", None, &body).await;
        assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some(field),
        )
        .await;
    }
    let res = app
        .post_json(
            "/api/auth/register",
            None,
            &json!({"email": "a@example.com", "password": "long enough"}),
        )
        .await;
    let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", None).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("name"));
    let res = app
        .post_json(
            "/api/auth/register",
            None,
            &json!({"name": "A", "email": "a@example.com", "password": "long enough", "admin": true}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", None).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = TestApp::spawn().await;
    app.register("A", "known@example.com", "right password").await;
    let wrong = assert_error(
        app.login("known@example.com", "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    let unknown = assert_error(
        app.login("nobody@example.com", "right password").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    let garbage = assert_error(
        app.login("not an email", "x").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        None,
    )
    .await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, garbage);
}

fn local_token(claims: Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_local_tokens_are_401() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let now = chrono::Utc::now().timestamp();
    let path = format!("/api/{}/tasks", user.id);
    let valid = local_token(
        json!({"sub": user.id, "exp": now + 600, "iss": "taskflow"}),
        SECRET.as_bytes(),
    );
    assert_eq!(app.get(&path, &valid).await.status(), StatusCode::OK);

    let mut tampered_parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    tampered_parts[1] =
        base64_url(&json!({"sub": "someone-else", "exp": now + 600, "iss": "taskflow"}).to_string());
    let unsigned = format!(
        "{}.{}.",
        base64_url(r#"{"alg":"none","typ":"JWT"}"#),
        base64_url(&json!({"sub": user.id, "exp": now + 600}).to_string())
    );
    let bad = [
        (
            "expired",
            local_token(
                json!({"sub": user.id, "exp": now - 3600, "iss": "taskflow"}),
                SECRET.as_bytes(),
            ),
        ),
        (
            "not yet valid",
            local_token(
                json!({"sub": user.id, "exp": now + 7200, "nbf": now + 3600, "iss": "taskflow"}),
                SECRET.as_bytes(),
            ),
        ),
        (
            "wrong secret",
            local_token(
                json!({"sub": user.id, "exp": now + 600, "iss": "taskflow"}),
                b"another-secret-another-secret-another",
            ),
        ),
        (
            "wrong issuer",
            local_token(
                json!({"sub": user.id, "exp": now + 600, "iss": "evil"}),
                SECRET.as_bytes(),
            ),
        ),
        (
            "no expiry",
            local_token(json!({"sub": user.id, "iss": "taskflow"}), SECRET.as_bytes()),
        ),
        ("tampered", tampered_parts.join(".")),
        ("alg none", unsigned),
        ("garbage", "not.a.token".to_owned()),
        ("oversized", "a".repeat(9000)),
    ];
    for (why, token) in bad {
        let res = app.get(&path, &token).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    }
    let res = app.client.get(app.url(&path)).send().await.unwrap();
    assert!(res.headers().contains_key("www-authenticate"));
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
    let res = app
        .client
        .get(app.url(&path))
        .header("authorization", format!("Basic {valid}"))
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

pub fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
