//! Graceful shutdown: a request in flight when shutdown starts still gets its answer, WebSocket
//! clients are told "going away" (1001), a bus delivery in progress finishes and the outbox is
//! flushed, and the real binary exits cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;
use taskflow::SystemOptions;
use taskflow_backend_api::{ApiState, Application};
use taskflow_bus::{Outcome, ReceivedEvent, Subscription, handler_fn};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::binary::Binary;
use crate::support;

/// A client that opens a connection per request, so no idle keep-alive holds the drain open.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_request_in_flight_when_shutdown_starts_gets_its_answer() {
    let (config, _db) = support::config().await;
    let state = ApiState::connect(&config).await.unwrap();
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (e, r) = (entered.clone(), release.clone());
    let slow = move |cfg: &mut web::ServiceConfig| {
        let (e, r) = (e.clone(), r.clone());
        cfg.route(
            "/slow",
            web::get().to(move || {
                let (e, r) = (e.clone(), r.clone());
                async move {
                    e.notify_one();
                    r.notified().await;
                    HttpResponse::Ok().body("finished")
                }
            }),
        );
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let checks = taskflow_backend_api::readiness(&state);
    let app = Application::serve_with(&state, listener, checks, slow).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown();
    let server = tokio::spawn(app.run());

    let http = client();
    let in_flight = tokio::spawn({
        let (http, url) = (http.clone(), format!("{base}/slow"));
        async move { http.get(url).send().await }
    });
    entered.notified().await;
    shutdown.trigger();

    // New connections are refused once the listener is closed…
    let mut refused = false;
    for _ in 0..500 {
        if http.get(format!("{base}/health")).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the server stopped accepting");
    assert!(!server.is_finished(), "…but it waits for the request in flight");

    // …while the request in flight finishes normally.
    release.notify_one();
    let res = in_flight
        .await
        .unwrap()
        .expect("the in-flight request got an answer");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "finished");
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_closes_websockets_with_going_away_and_lets_deliveries_finish() {
    let (config, _db) = support::config().await;
    // A subscriber that is busy with an event when shutdown starts.
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let handled = Arc::new(AtomicUsize::new(0));
    let busy = {
        let (entered, release, handled) = (entered.clone(), release.clone(), handled.clone());
        Subscription::new(
            "busy",
            "task-created",
            handler_fn(move |_: ReceivedEvent| {
                let (entered, release, handled) = (entered.clone(), release.clone(), handled.clone());
                async move {
                    entered.notify_one();
                    release.notified().await;
                    handled.fetch_add(1, Ordering::SeqCst);
                    Outcome::Success
                }
            }),
        )
    };
    let options = SystemOptions {
        reminder_tick: Some(Duration::from_secs(3600)),
        ..SystemOptions::default()
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let running = taskflow::start_with(&config, listener, vec![busy], options)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", running.port());
    let store = running.state.store.clone();
    let shutdown = running.shutdown();
    let system = tokio::spawn(running.run());

    let http = client();
    let (user, token) = support::sign_up(&http, &base, json!({})).await;
    let ticket = support::stream_ticket(&http, &base, &user, &token).await;
    let ws_url = format!("{}/ws?ticket={ticket}", base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let res = http
        .post(format!("{base}/api/{user}/tasks"))
        .bearer_auth(&token)
        .json(&json!({"title": "Ship it"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    entered.notified().await;

    shutdown.trigger();
    // The client is told the server is going away, not just cut off.
    let close = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = close.expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::Away);

    // The delivery in progress finishes, and the relay marks it published before stopping.
    release.notify_one();
    system.await.unwrap().unwrap();
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    assert_eq!(
        store
            .outbox()
            .stats(&taskflow_host::relay::OutboxScope::All)
            .await
            .unwrap()
            .pending,
        0
    );
}

#[tokio::test]
async fn the_binary_on_sigterm_closes_websockets_with_going_away_and_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let mut binary = Binary::spawn(&[("TASKFLOW_DATA_DIR", data.path().to_str().unwrap())]);
    let base = binary.base.clone();

    let http = client();
    let (_user, token) = support::sign_up(&http, &base, json!({})).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(support::ws_request(&base, &token))
        .await
        .unwrap();

    binary.terminate();
    let close = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame after SIGTERM, got {other:?}"),
        }
    };
    assert_eq!(close.expect("a close code").code, CloseCode::Away);
    drop(socket);

    let status = binary.exited().await;
    let log = binary.log();
    // Killed by the signal's default action, the status would have no exit code.
    assert_eq!(
        status.code(),
        Some(0),
        "exited on its own after draining: {status:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("shutdown signal received")),
        "the signal was handled, not fatal"
    );
    assert!(
        log.iter().any(|l| l.contains("outbox relay stopped")),
        "the relay was flushed and stopped"
    );
}
