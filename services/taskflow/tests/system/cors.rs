//! Browsers on another origin: a listed origin gets its preflight answered and every answer marked
//! for it (errors too, so the page can read them); any other origin, or no `CORS_ALLOWED_ORIGINS`
//! at all, gets no CORS header, so the browser keeps the answer from the page.

use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, HeaderMap, VARY,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use taskflow_runtime::cors::CorsPolicy;

use crate::support::{self, System};

const APP: &str = "https://app.example.com";

async fn system_allowing(origins: &str) -> System {
    let (mut config, db) = support::config().await;
    config.cors = CorsPolicy::parse(origins).unwrap();
    support::system_with(&config, db, Vec::new(), support::no_reminder_ticks()).await
}

async fn preflight(sys: &System, origin: &str, path: &str) -> (StatusCode, HeaderMap) {
    let res = sys
        .client
        .request(Method::OPTIONS, format!("{}{path}", sys.base))
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization, content-type, if-match",
        )
        .send()
        .await
        .unwrap();
    (res.status(), res.headers().clone())
}

fn header<'a>(headers: &'a HeaderMap, name: &reqwest::header::HeaderName) -> &'a str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_listed_origin_gets_its_preflight_and_every_answer_marked() {
    let sys = system_allowing("https://app.example.com, http://localhost:5173").await;
    let (user, token) = sys.sign_up(json!({})).await;

    let (status, headers) = preflight(&sys, APP, &format!("/api/{user}/tasks/x")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN), APP);
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(header(&headers, &ACCESS_CONTROL_ALLOW_METHODS).contains(method));
    }
    let allowed = header(&headers, &ACCESS_CONTROL_ALLOW_HEADERS).to_ascii_lowercase();
    for h in [
        "authorization",
        "content-type",
        "if-match",
        "idempotency-key",
        "last-event-id",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    assert!(header(&headers, &ACCESS_CONTROL_MAX_AGE).parse::<u32>().unwrap() > 0);
    assert!(header(&headers, &VARY).contains("Origin"));
    assert!(headers.get("access-control-allow-credentials").is_none());

    let created = sys
        .client
        .post(format!("{}/api/{user}/tasks", sys.base))
        .header("origin", APP)
        .bearer_auth(&token)
        .json(&json!({"title": "From the browser"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(header(created.headers(), &ACCESS_CONTROL_ALLOW_ORIGIN), APP);
    let exposed = header(created.headers(), &ACCESS_CONTROL_EXPOSE_HEADERS).to_ascii_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("location"),
        "{exposed}"
    );
    assert!(header(created.headers(), &VARY).contains("Origin"));

    // An error is readable by the page too, and the second listed origin is as good as the first.
    let refused = sys
        .client
        .get(format!("{}/api/{user}/tasks", sys.base))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(refused.headers(), &ACCESS_CONTROL_ALLOW_ORIGIN),
        "http://localhost:5173"
    );
}

#[tokio::test]
async fn another_origin_gets_no_cors_headers() {
    let sys = system_allowing(APP).await;
    let (user, token) = sys.sign_up(json!({})).await;
    for origin in [
        "https://evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
        "null",
    ] {
        let (status, headers) = preflight(&sys, origin, &format!("/api/{user}/tasks")).await;
        assert_ne!(status, StatusCode::NO_CONTENT, "{origin}");
        assert!(headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{origin}");
        let res = sys
            .client
            .get(format!("{}/api/{user}/tasks", sys.base))
            .header("origin", origin)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "the request itself is served");
        assert!(
            res.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{origin}"
        );
        assert!(header(res.headers(), &VARY).contains("Origin"));
    }
}

#[tokio::test]
async fn without_cors_allowed_origins_no_origin_gets_access() {
    let sys = support::system(Vec::new(), support::no_reminder_ticks()).await;
    let (user, token) = sys.sign_up(json!({})).await;
    let (status, headers) = preflight(&sys, APP, &format!("/api/{user}/tasks")).await;
    assert_ne!(status, StatusCode::NO_CONTENT);
    assert!(headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let res = sys
        .client
        .get(format!("{}/api/{user}/tasks", sys.base))
        .header("origin", APP)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[test]
fn the_binary_refuses_a_wildcard_at_start_naming_the_variable() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskflow"))
        .env("TASKFLOW_DATA_DIR", data.path())
        .env("PORT", "0")
        .env("CORS_ALLOWED_ORIGINS", "*")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("CORS_ALLOWED_ORIGINS") && said.contains("not allowed"),
        "{said}"
    );
}
