//! Signed webhooks end to end (issue 20): a task event reaches a local receiver as a Standard
//! Webhooks message whose signature verifies with the spec's algorithm (reimplemented here); a
//! receiver that fails twice gets three attempts with one `webhook-id` and one success; a replay
//! sends it again; deliveries to one endpoint keep their order; a 410 disables the endpoint and
//! tells its owner; and by default 127.0.0.1 is refused with the reason in the delivery log.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use taskflow::SystemOptions;
use taskflow_notification::WebhookConfig;

use crate::support::{System, create_task, system};

/// What the receiver got: the three `webhook-*` headers and the body.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A local receiver answering each request with the next scripted status (200 once they run out),
/// and a `Retry-After` where the script gives one.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Self {
        let script: Vec<(u16, Option<&'static str>)> = script.iter().map(|s| (*s, None)).collect();
        Self::start_with(&script)
    }

    fn start_with(script: &[(u16, Option<&'static str>)]) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (log, answers) = (received.clone(), script.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            let (log, answers) = (log.clone(), answers.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (log, answers) = (log.clone(), answers.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    log.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let (status, retry_after) = answers.lock().unwrap().pop_front().unwrap_or((200, None));
                    let mut answer =
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                    if let Some(after) = retry_after {
                        answer.insert_header(("Retry-After", after));
                    }
                    answer.finish()
                }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            received,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let start = std::time::Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "only {} of {n} requests arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Standard Webhooks, "Verifying signatures": the secret is the base64 after `whsec_`; the signed
/// content is `{webhook-id}.{webhook-timestamp}.{body}`; the header is a space-separated list of
/// `v1,<base64 HMAC-SHA256>`, one of which must match (compared in constant time by `verify_slice`).
fn verify(secret: &str, got: &Received) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let content = format!("{}.{}.{}", got.id, got.timestamp, got.body);
    got.signature.split(' ').any(|entry| {
        let Some(sig) = entry.strip_prefix("v1,") else {
            return false;
        };
        let Ok(sig) = STANDARD.decode(sig) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(content.as_bytes());
        mac.verify_slice(&sig).is_ok()
    })
}

/// Private networks allowed (the receiver is on 127.0.0.1), retries after 10 ms, a quick poll.
fn options(retries: usize) -> SystemOptions {
    SystemOptions {
        reminder_tick: None,
        webhooks: WebhookConfig {
            allow_private_networks: true,
            retry_schedule: vec![Duration::from_millis(10); retries],
            poll_interval: Duration::from_millis(20),
            ..WebhookConfig::default()
        },
        ..SystemOptions::default()
    }
}

/// Registers `url` for `events`; (endpoint id, secret).
async fn register(sys: &System, user: &str, token: &str, url: &str, events: Value) -> (String, String) {
    let res = sys
        .client
        .post(format!("{}/api/{user}/webhooks", sys.base))
        .bearer_auth(token)
        .json(&json!({"url": url, "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn deliveries(sys: &System, user: &str, token: &str, hook: &str) -> Vec<Value> {
    let page: Value = sys
        .client
        .get(format!("{}/api/{user}/webhooks/{hook}/deliveries", sys.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["deliveries"].as_array().unwrap().clone()
}

/// Waits until the endpoint's log has a delivery that `done` accepts; that delivery.
async fn logged(sys: &System, user: &str, token: &str, hook: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        if let Some(d) = deliveries(sys, user, token, hook).await.into_iter().find(&done) {
            return d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the delivery log never got there"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn payload(got: &Received) -> Value {
    serde_json::from_str(&got.body).unwrap()
}

#[tokio::test]
async fn a_task_event_arrives_signed_as_the_spec_says_and_is_logged() {
    let receiver = Receiver::start(&[]);
    let sys = system(Vec::new(), options(3)).await;
    let (user, token) = sys.sign_up(json!({})).await;
    let (hook, secret) = register(&sys, &user, &token, &receiver.url, json!(["task-created"])).await;
    let task = create_task(&sys.client, &sys.base, &user, &token, "Ship it").await;

    let got = receiver.wait_for(1).await;
    assert!(verify(&secret, &got[0]), "{got:?}");
    assert!(!verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &got[0]));
    let now = chrono::Utc::now().timestamp();
    assert!((now - got[0].timestamp.parse::<i64>().unwrap()).abs() < 300);
    let body = payload(&got[0]);
    assert_eq!(body["type"], "task-created");
    assert!(body["timestamp"].is_string());
    assert_eq!(body["data"]["task"]["id"], task.as_str());
    assert_eq!(body["data"]["task"]["title"], "Ship it");

    let d = logged(&sys, &user, &token, &hook, |d| d["status"] == "delivered").await;
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["last_status_code"], 200);
    assert_eq!(d["webhook_id"], got[0].id.as_str());
    assert_eq!(d["event_type"], "task-created");
    assert!(d["duration_ms"].is_number());
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_one_success_under_one_webhook_id_and_a_replay_sends_it_again() {
    let receiver = Receiver::start(&[500, 503]);
    let sys = system(Vec::new(), options(3)).await;
    let (user, token) = sys.sign_up(json!({})).await;
    let (hook, secret) = register(&sys, &user, &token, &receiver.url, json!(["task-created"])).await;
    create_task(&sys.client, &sys.base, &user, &token, "Retry me").await;

    let d = logged(&sys, &user, &token, &hook, |d| d["status"] == "delivered").await;
    assert_eq!(d["attempts"], 3);
    let got = receiver.received();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|r| r.id == got[0].id && verify(&secret, r)));
    assert!(got.iter().all(|r| r.body == got[0].body));

    let res = sys
        .client
        .post(format!(
            "{}/api/{user}/webhooks/{hook}/deliveries/{}/retry",
            sys.base,
            d["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let again = receiver.wait_for(4).await;
    assert_eq!(again[3].id, got[0].id);
    assert_eq!(again[3].body, got[0].body);
    logged(&sys, &user, &token, &hook, |d| {
        d["status"] == "delivered" && d["attempts"] == 1
    })
    .await;
}

/// A receiver that answers 429 with `Retry-After: 3600` is left alone for the hour it asked for,
/// not retried on the 10 ms schedule.
#[tokio::test]
async fn a_throttling_receivers_retry_after_is_honoured() {
    let receiver = Receiver::start_with(&[(429, Some("3600"))]);
    let sys = system(Vec::new(), options(3)).await;
    let (user, token) = sys.sign_up(json!({})).await;
    let (hook, _) = register(&sys, &user, &token, &receiver.url, json!(["task-created"])).await;
    let asked = chrono::Utc::now();
    create_task(&sys.client, &sys.base, &user, &token, "Throttled").await;

    let d = logged(&sys, &user, &token, &hook, |d| d["attempts"] == 1).await;
    assert_eq!(d["status"], "pending", "{d}");
    assert_eq!(d["last_status_code"], 429, "{d}");
    let next: chrono::DateTime<chrono::Utc> = d["next_attempt_at"].as_str().unwrap().parse().unwrap();
    assert!(
        next >= asked + chrono::TimeDelta::seconds(3590),
        "retried at {next}, less than the hour asked for after {asked}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "tried again within the Retry-After");
}

#[tokio::test]
async fn one_endpoints_deliveries_keep_their_order_through_a_failure() {
    let receiver = Receiver::start(&[500]);
    let sys = system(Vec::new(), options(3)).await;
    let (user, token) = sys.sign_up(json!({})).await;
    let (hook, _) = register(&sys, &user, &token, &receiver.url, json!(["task-created"])).await;
    for title in ["first", "second", "third"] {
        create_task(&sys.client, &sys.base, &user, &token, title).await;
    }
    let got = receiver.wait_for(4).await;
    let titles: Vec<String> = got
        .iter()
        .map(|r| payload(r)["data"]["task"]["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles, ["first", "first", "second", "third"]);
    let all = deliveries(&sys, &user, &token, &hook).await;
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_tells_its_owner() {
    let receiver = Receiver::start(&[410]);
    let sys = system(Vec::new(), options(3)).await;
    let (user, token) = sys.sign_up(json!({})).await;
    let (hook, _) = register(&sys, &user, &token, &receiver.url, json!(["task-created"])).await;
    create_task(&sys.client, &sys.base, &user, &token, "Gone").await;
    let d = logged(&sys, &user, &token, &hook, |d| d["status"] == "failed").await;
    assert_eq!(d["last_status_code"], 410);
    let endpoint: Value = sys
        .client
        .get(format!("{}/api/{user}/webhooks/{hook}", sys.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(endpoint["enabled"], false);
    assert_eq!(endpoint["disabled_reason"], "gone");
    let inbox: Value = sys
        .client
        .get(format!("{}/api/{user}/notifications", sys.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let notes = inbox["notifications"].as_array().unwrap();
    assert!(notes.iter().any(|n| n["kind"] == "webhook_disabled"), "{inbox}");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn by_default_a_loopback_receiver_is_refused_with_the_reason_logged() {
    let receiver = Receiver::start(&[]);
    let sys = system(
        Vec::new(),
        SystemOptions {
            reminder_tick: None,
            webhooks: WebhookConfig {
                poll_interval: Duration::from_millis(20),
                ..WebhookConfig::default()
            },
            ..SystemOptions::default()
        },
    )
    .await;
    let (user, token) = sys.sign_up(json!({})).await;
    // An IP literal is checked before connecting; a name, by the resolver the client connects through.
    let (literal, _) = register(&sys, &user, &token, &receiver.url, json!(["task-created"])).await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let (named, _) = register(&sys, &user, &token, &by_name, json!(["task-created"])).await;
    create_task(&sys.client, &sys.base, &user, &token, "Stay inside").await;
    for hook in [literal, named] {
        let d = logged(&sys, &user, &token, &hook, |d| d["attempts"] == 1).await;
        let error = d["last_error"].as_str().unwrap();
        assert!(error.contains("loopback"), "{error}");
        assert!(error.contains("WEBHOOK_ALLOW_PRIVATE_NETWORKS"), "{error}");
        assert_eq!(d["status"], "pending");
        assert!(d["last_status_code"].is_null());
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn after_a_rotation_old_and_new_secret_both_sign() {
    let receiver = Receiver::start(&[]);
    let sys = system(Vec::new(), options(3)).await;
    let (user, token) = sys.sign_up(json!({})).await;
    let (hook, old) = register(&sys, &user, &token, &receiver.url, json!(["task-created"])).await;
    let rotated: Value = sys
        .client
        .post(format!("{}/api/{user}/webhooks/{hook}/rotate-secret", sys.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = rotated["secret"].as_str().unwrap();
    create_task(&sys.client, &sys.base, &user, &token, "Rotated").await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].signature.split(' ').count(), 2, "{:?}", got[0]);
    assert!(verify(&old, &got[0]) && verify(new, &got[0]));
}

#[tokio::test]
async fn an_endpoint_failing_for_the_configured_time_is_disabled_and_its_owner_told() {
    let receiver = Receiver::start(&[500, 500, 500]);
    let mut options = options(3);
    // "A day" shortened to nothing: the first failure already ends the allowance.
    options.webhooks.disable_after = Duration::ZERO;
    let sys = system(Vec::new(), options).await;
    let (user, token) = sys.sign_up(json!({})).await;
    let (hook, _) = register(&sys, &user, &token, &receiver.url, json!(["task-created"])).await;
    create_task(&sys.client, &sys.base, &user, &token, "Failing").await;
    let start = std::time::Instant::now();
    let endpoint = loop {
        let endpoint: Value = sys
            .client
            .get(format!("{}/api/{user}/webhooks/{hook}", sys.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if endpoint["enabled"] == false {
            break endpoint;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never disabled: {endpoint}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(endpoint["disabled_reason"], "failing");
    assert!(endpoint["failing_since"].is_string());
    let inbox: Value = sys
        .client
        .get(format!("{}/api/{user}/notifications", sys.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let note = inbox["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "webhook_disabled")
        .cloned()
        .unwrap_or_else(|| panic!("no notification: {inbox}"));
    assert_eq!(note["task_id"], hook.as_str());
    assert!(note["message"].as_str().unwrap().contains(&receiver.url));
}
