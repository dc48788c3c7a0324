//! `Idempotency-Key` on the creating POSTs (issue 20): a retry gets the first response again and
//! creates nothing; the same key on another request is 422; while the first runs, 409; keys are per
//! user; a result that is not kept (5xx) leaves the key free; a key older than 24 h is new again.
//! Runs on SQLite, and on PostgreSQL with `TEST_DATABASE_URL`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use taskflow_store::OutboxScope;

use crate::helpers::{TestApp, TestUser, assert_error};
use crate::model_server::{ModelServer, Reply};

const KEY: &str = "Idempotency-Key";
const REPLAYED: &str = "idempotent-replayed";

async fn post(app: &TestApp, user: &TestUser, path: &str, key: Option<&str>, body: &Value) -> Response {
    let mut req = app
        .client
        .post(app.url(&format!("/api/{}/{path}", user.id)))
        .bearer_auth(&user.token)
        .json(body);
    if let Some(key) = key {
        req = req.header(KEY, key);
    }
    req.send().await.unwrap()
}

/// Status, the headers a replay must repeat, the raw body, and whether it was marked a replay.
async fn parts(res: Response) -> (StatusCode, HeaderMap, Vec<u8>, bool) {
    let status = res.status();
    let headers = res.headers().clone();
    let replayed = headers.get(REPLAYED).map(|v| v.to_str().unwrap().to_owned());
    assert!(matches!(replayed.as_deref(), None | Some("true")), "{replayed:?}");
    (
        status,
        headers,
        res.bytes().await.unwrap().to_vec(),
        replayed.is_some(),
    )
}

async fn task_count(app: &TestApp, user: &TestUser) -> usize {
    app.list(user, "limit=200").await["tasks"]
        .as_array()
        .unwrap()
        .len()
}

async fn outbox_rows(app: &TestApp) -> u64 {
    app.store.outbox().stats(&OutboxScope::All).await.unwrap().pending
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_retry_gets_the_first_response_byte_for_byte_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let body = json!({"title": "Pay rent", "priority": "high"});
    let (status, first_headers, first, replayed) =
        parts(post(&app, &alice, "tasks", Some("rent-2026-12"), &body).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!replayed, "the first response is no replay");
    let (tasks, events) = (task_count(&app, &alice).await, outbox_rows(&app).await);
    assert_eq!(tasks, 1);

    for _ in 0..2 {
        let (status, headers, again, replayed) =
            parts(post(&app, &alice, "tasks", Some("rent-2026-12"), &body).await).await;
        assert_eq!(status, StatusCode::CREATED);
        assert!(replayed);
        assert_eq!(again, first, "the body is replayed byte for byte");
        for name in ["etag", "location", "content-type"] {
            assert!(header(&first_headers, name).is_some(), "{name}");
            assert_eq!(header(&headers, name), header(&first_headers, name), "{name}");
        }
    }
    assert_eq!(task_count(&app, &alice).await, tasks, "no second task");
    assert_eq!(outbox_rows(&app).await, events, "no second task-created event");

    // Quick-add the same way, under its own key.
    let line = json!({"text": "Call the plumber tomorrow at 9am #home"});
    let (status, _, first, _) = parts(post(&app, &alice, "tasks/quick", Some("plumber"), &line).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, again, replayed) =
        parts(post(&app, &alice, "tasks/quick", Some("plumber"), &line).await).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again, first);
    assert_eq!(task_count(&app, &alice).await, 2);

    // Without a key every request creates.
    app.create_task(&alice, body.clone()).await;
    app.create_task(&alice, body).await;
    assert_eq!(task_count(&app, &alice).await, 4);
}

#[tokio::test]
async fn a_kept_client_error_is_replayed_too() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let bad = json!({"title": ""});
    let (status, _, first, replayed) = parts(post(&app, &alice, "tasks", Some("k"), &bad).await).await;
    assert_eq!((status, replayed), (StatusCode::UNPROCESSABLE_ENTITY, false));
    let (status, _, again, replayed) = parts(post(&app, &alice, "tasks", Some("k"), &bad).await).await;
    assert_eq!((status, replayed), (StatusCode::UNPROCESSABLE_ENTITY, true));
    assert_eq!(again, first);
}

#[tokio::test]
async fn the_same_key_on_a_different_request_is_422() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let created = post(&app, &alice, "tasks", Some("once"), &json!({"title": "A"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    for (path, body) in [
        ("tasks", json!({"title": "B"})),
        ("tasks", json!({"title": "A", "priority": "low"})),
        ("tasks/quick", json!({"title": "A"})),
    ] {
        let res = post(&app, &alice, path, Some("once"), &body).await;
        assert!(res.headers().get(REPLAYED).is_none());
        assert_error(
            res,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            Some(KEY),
        )
        .await;
    }
    assert_eq!(task_count(&app, &alice).await, 1);
}

#[tokio::test]
async fn keys_belong_to_the_caller_so_another_users_key_is_independent() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.user().await, app.user().await);
    let body = json!({"title": "Same words"});
    let a: Value = post(&app, &alice, "tasks", Some("shared-key"), &body)
        .await
        .json()
        .await
        .unwrap();
    let res = post(&app, &bob, "tasks", Some("shared-key"), &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get(REPLAYED).is_none());
    let b: Value = res.json().await.unwrap();
    assert_ne!(a["id"], b["id"]);
    assert_eq!(
        (task_count(&app, &alice).await, task_count(&app, &bob).await),
        (1, 1)
    );

    // Bob aiming at Alice's path with her key replays nothing of hers: it is his own (404) request.
    let res = app
        .client
        .post(app.url(&format!("/api/{}/tasks", alice.id)))
        .bearer_auth(&bob.token)
        .header(KEY, "shared-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.headers().get(REPLAYED).is_none());
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "bob's key came with another path"
    );
    let res = app
        .client
        .post(app.url(&format!("/api/{}/tasks", alice.id)))
        .bearer_auth(&bob.token)
        .header(KEY, "bobs-other-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::NOT_FOUND, "not_found", None).await;
    assert_eq!(task_count(&app, &alice).await, 1);
}

#[tokio::test]
async fn a_malformed_key_is_400_naming_the_header_on_every_route() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let long = "k".repeat(256);
    let bodies = [
        ("tasks", json!({"title": "x"})),
        ("tasks/quick", json!({"text": "x"})),
        ("chat", json!({"message": "hello"})),
        ("stream-tickets", json!({})),
    ];
    for (path, body) in &bodies {
        for bad in [&b""[..], long.as_bytes(), b"caf\xe9", b"tab\there"] {
            let res = app
                .client
                .post(app.url(&format!("/api/{}/{path}", alice.id)))
                .bearer_auth(&alice.token)
                .header(KEY, reqwest::header::HeaderValue::from_bytes(bad).unwrap())
                .json(body)
                .send()
                .await
                .unwrap();
            assert_error(res, StatusCode::BAD_REQUEST, "bad_request", Some(KEY)).await;
        }
        let twice = app
            .client
            .post(app.url(&format!("/api/{}/{path}", alice.id)))
            .bearer_auth(&alice.token)
            .header(KEY, "a")
            .header(KEY, "b")
            .json(body)
            .send()
            .await
            .unwrap();
        assert_error(twice, StatusCode::BAD_REQUEST, "bad_request", Some(KEY)).await;
    }
    // 255 characters, spaces inside, the draft's quoted form: all fine.
    for good in [
        "k".repeat(255),
        "a key with spaces".into(),
        "\"8e03978e-40d5\"".into(),
    ] {
        let res = post(&app, &alice, "tasks", Some(&good), &json!({"title": "fine"})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "{good}");
    }
    assert_eq!(task_count(&app, &alice).await, 3);
}

#[tokio::test]
async fn without_a_valid_token_the_key_is_not_looked_at() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let created = post(&app, &alice, "tasks", Some("mine"), &json!({"title": "A"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let anonymous = app
        .client
        .post(app.url(&format!("/api/{}/tasks", alice.id)))
        .header(KEY, "mine")
        .json(&json!({"title": "A"}))
        .send()
        .await
        .unwrap();
    assert!(anonymous.headers().get(REPLAYED).is_none());
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized", None).await;
}

/// Two requests with one key at the same time: the second arrives while the first is held inside
/// the handler (its model call waits for the test's gate), so the order is certain, not a race.
#[tokio::test]
async fn while_the_first_request_runs_the_same_key_is_409_and_it_runs_once() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let model = ModelServer::start(vec![
        Reply::Tools(vec![("add_task", json!({"title": "Only once"}).to_string())]),
        Reply::Gated(gate.clone(), "Added \"Only once\"."),
    ])
    .await;
    let mut config = model.config();
    config.timeout = Duration::from_secs(30);
    let app = Arc::new(TestApp::spawn_with_model(config).await);
    let alice = app.user().await;
    let body = json!({"message": "add only once"});

    let first = {
        let (app, alice, body) = (app.clone(), alice.clone(), body.clone());
        tokio::spawn(async move { parts(post(&app, &alice, "chat", Some("turn-1"), &body).await).await })
    };
    // The first request is inside the handler once the model got its second call (after the tool).
    for _ in 0..500 {
        if model.requests().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(model.requests().len(), 2, "the first request reached the gate");
    assert_eq!(task_count(&app, &alice).await, 1, "its tool ran");

    let second = post(&app, &alice, "chat", Some("turn-1"), &body).await;
    assert_eq!(second.headers().get("retry-after").unwrap(), "1");
    assert_error(second, StatusCode::CONFLICT, "request_in_progress", Some(KEY)).await;

    gate.notify_one();
    let (status, _, first_body, replayed) = first.await.unwrap();
    assert_eq!((status, replayed), (StatusCode::OK, false));
    let (status, _, again, replayed) = parts(post(&app, &alice, "chat", Some("turn-1"), &body).await).await;
    assert_eq!((status, replayed), (StatusCode::OK, true));
    assert_eq!(again, first_body);
    assert_eq!(model.requests().len(), 2, "the turn ran once");
    assert_eq!(task_count(&app, &alice).await, 1);
    let conversations: Value = app
        .get(&format!("/api/{}/conversations", alice.id), &alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        conversations["conversations"].as_array().map(Vec::len),
        Some(1),
        "{conversations}"
    );
}

/// Many identical requests at once, with no ordering imposed: whichever wins the marker's insert
/// runs; every other one is a 409 or a replay of the same 201.
#[tokio::test]
async fn concurrent_identical_requests_create_exactly_one_task() {
    let app = Arc::new(TestApp::spawn().await);
    let alice = app.user().await;
    let body = json!({"title": "Race"});
    let requests = (0..8).map(|_| {
        let (app, alice, body) = (app.clone(), alice.clone(), body.clone());
        tokio::spawn(async move { parts(post(&app, &alice, "tasks", Some("race"), &body).await).await })
    });
    let mut created = Vec::new();
    for r in futures_util::future::join_all(requests).await {
        let (status, _, body, _) = r.unwrap();
        match status {
            StatusCode::CREATED => created.push(body),
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|b| b == &created[0]),
        "every 201 is the same response"
    );
    assert_eq!(task_count(&app, &alice).await, 1);
}

#[tokio::test]
async fn after_a_server_error_the_same_key_runs_again() {
    let model = ModelServer::start(vec![Reply::Status(500), Reply::Text("Hello!")]).await;
    let app = TestApp::spawn_with_model(model.config()).await;
    let alice = app.user().await;
    let body = json!({"message": "hi"});
    let res = post(&app, &alice, "chat", Some("retry-me"), &body).await;
    assert_error(res, StatusCode::BAD_GATEWAY, "model_unavailable", None).await;
    let (status, _, reply, replayed) = parts(post(&app, &alice, "chat", Some("retry-me"), &body).await).await;
    assert_eq!((status, replayed), (StatusCode::OK, false));
    assert_eq!(
        serde_json::from_slice::<Value>(&reply).unwrap()["response"],
        "Hello!"
    );
    assert_eq!(model.requests().len(), 2);
}

#[tokio::test]
async fn a_key_older_than_a_day_is_new_again_and_is_pruned() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{EntityTrait, PaginatorTrait};
    use taskflow_store::entity::idempotency_keys;

    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let body = json!({"title": "Daily"});
    assert_eq!(
        post(&app, &alice, "tasks", Some("day"), &body).await.status(),
        StatusCode::CREATED
    );
    let yesterday = chrono::Utc::now() - chrono::TimeDelta::hours(24) - chrono::TimeDelta::seconds(1);
    idempotency_keys::Entity::update_many()
        .col_expr(idempotency_keys::Column::CreatedAt, Expr::val(yesterday))
        .exec(app.store.connection())
        .await
        .unwrap();
    let res = post(&app, &alice, "tasks", Some("day"), &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get(REPLAYED).is_none());
    assert_eq!(task_count(&app, &alice).await, 2);

    // The relay's prune forgets keys past 24 h and keeps the others.
    idempotency_keys::Entity::update_many()
        .col_expr(idempotency_keys::Column::CreatedAt, Expr::val(yesterday))
        .exec(app.store.connection())
        .await
        .unwrap();
    post(&app, &alice, "tasks", Some("fresh"), &body).await;
    let cutoff = chrono::Utc::now() - taskflow_store::KEY_TTL;
    assert_eq!(app.store.idempotency_keys().prune(cutoff).await.unwrap(), 1);
    let left = idempotency_keys::Entity::find()
        .count(app.store.connection())
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn a_stream_ticket_request_retried_gets_the_same_ticket() {
    let app = TestApp::spawn().await;
    let alice = app.user().await;
    let ticket = || {
        app.client
            .post(app.url(&format!("/api/{}/stream-tickets", alice.id)))
            .bearer_auth(&alice.token)
            .header(KEY, "connect-1")
            .send()
    };
    let (status, headers, first, _) = parts(ticket().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again_headers, again, replayed) = parts(ticket().await.unwrap()).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again, first);
    assert_eq!(
        header(&again_headers, "cache-control"),
        header(&headers, "cache-control")
    );
    assert_eq!(header(&again_headers, "cache-control"), Some("no-store"));
}

#[tokio::test]
async fn the_document_offers_the_header_where_it_works_and_only_there() {
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    let has_key = |path: &str| {
        doc["paths"][path]["post"]["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == KEY && p["in"] == "header"))
    };
    for path in [
        "/api/{user_id}/tasks",
        "/api/{user_id}/tasks/quick",
        "/api/{user_id}/chat",
        "/api/{user_id}/stream-tickets",
    ] {
        assert!(has_key(path), "{path}");
        let op = &doc["paths"][path]["post"];
        for status in ["400", "409", "422"] {
            assert!(op["responses"][status].is_object(), "{path} {status}");
        }
        let success = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .unwrap()
            .1;
        assert!(success["headers"]["Idempotent-Replayed"].is_object(), "{path}");
    }
    for path in [
        "/api/{user_id}/tasks/quick/preview",
        "/api/{user_id}/recurrence/preview",
        "/api/{user_id}/chat/stream",
        "/api/{user_id}/chat/confirm",
    ] {
        assert!(!has_key(path), "{path}");
    }
}

/// A client that gives up mid-request (a timeout) does not stop the request on the server: the
/// retry meets 409 while it runs, then gets the response the client never received.
#[tokio::test]
async fn a_response_the_client_gave_up_on_is_what_the_retry_gets() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let model = ModelServer::start(vec![Reply::Gated(gate.clone(), "Hello!")]).await;
    let mut config = model.config();
    config.timeout = Duration::from_secs(30);
    let app = TestApp::spawn_with_model(config).await;
    let alice = app.user().await;
    let body = json!({"message": "hi"});
    let abandoned = app
        .client
        .post(app.url(&format!("/api/{}/chat", alice.id)))
        .bearer_auth(&alice.token)
        .header(KEY, "lost-answer")
        .json(&body)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(abandoned.unwrap_err().is_timeout());
    assert_eq!(model.requests().len(), 1, "it reached the model");
    let res = post(&app, &alice, "chat", Some("lost-answer"), &body).await;
    assert_error(res, StatusCode::CONFLICT, "request_in_progress", Some(KEY)).await;

    gate.notify_one();
    let mut replayed = None;
    for _ in 0..200 {
        let (status, _, reply, was_replayed) =
            parts(post(&app, &alice, "chat", Some("lost-answer"), &body).await).await;
        if status != StatusCode::CONFLICT {
            replayed = Some((
                status,
                was_replayed,
                serde_json::from_slice::<Value>(&reply).unwrap(),
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, was_replayed, reply) = replayed.expect("the first request finished");
    assert_eq!((status, was_replayed), (StatusCode::OK, true));
    assert_eq!(reply["response"], "Hello!");
    assert_eq!(model.requests().len(), 1, "the turn ran once");
}
