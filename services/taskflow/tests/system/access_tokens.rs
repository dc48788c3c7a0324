//! Personal access tokens on the real-time streams of the single binary (issue 20): a token with
//! `tasks:read` opens the WebSocket and SSE streams and receives events; one without it is refused
//! with 403 `insufficient_scope` before the upgrade, and cannot get a stream ticket either.

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::support::{self, next_json, sse_events, ws_request};

async fn token(sys: &support::System, user: &str, session: &str, scopes: &[&str]) -> String {
    let res = sys
        .client
        .post(format!("{}/api/{user}/tokens", sys.base))
        .bearer_auth(session)
        .json(&json!({"name": "stream", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn create(sys: &support::System, user: &str, session: &str, title: &str) {
    let res = sys
        .client
        .post(format!("{}/api/{user}/tasks", sys.base))
        .bearer_auth(session)
        .json(&json!({ "title": title }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn a_token_with_tasks_read_streams_events_on_websocket_and_sse() {
    let sys = support::system(Vec::new(), support::no_reminder_ticks()).await;
    let (user, session) = sys.sign_up(json!({})).await;
    let reader = token(&sys, &user, &session, &["tasks:read"]).await;

    let (mut socket, _) = tokio_tungstenite::connect_async(ws_request(&sys.base, &reader))
        .await
        .unwrap();
    let mut sse = sys
        .client
        .get(format!("{}/api/sse/{user}", sys.base))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    create(&sys, &user, &session, "streamed").await;
    let pushed = next_json(&mut socket).await;
    assert_eq!(pushed["type"], "task-created");
    let events = sse_events(&mut sse, 1).await;
    assert_eq!(events[0].1, "task-created");
    assert_eq!(events[0].2["data"]["task"]["title"], "streamed");

    // A stream ticket too needs `tasks:read`; with it, the ticket works.
    let ticket = support::stream_ticket(&sys.client, &sys.base, &user, &reader).await;
    let ws = format!("{}/ws?ticket={ticket}", sys.base.replace("http://", "ws://"));
    assert!(tokio_tungstenite::connect_async(ws).await.is_ok());
}

#[tokio::test]
async fn a_token_without_tasks_read_is_refused_on_every_stream() {
    let sys = support::system(Vec::new(), support::no_reminder_ticks()).await;
    let (user, session) = sys.sign_up(json!({})).await;
    let writer = token(&sys, &user, &session, &["tasks:write", "assistant"]).await;

    match tokio_tungstenite::connect_async(ws_request(&sys.base, &writer)).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let res = sys
        .client
        .get(format!("{}/api/sse/{user}", sys.base))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="tasks:read""#
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_scope");
    let res = sys
        .client
        .post(format!("{}/api/{user}/stream-tickets", sys.base))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // A revoked token is refused like a bad one.
    let reader = token(&sys, &user, &session, &["tasks:read"]).await;
    let listed: Value = sys
        .client
        .get(format!("{}/api/{user}/tokens", sys.base))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for t in listed["tokens"].as_array().unwrap() {
        let res = sys
            .client
            .delete(format!(
                "{}/api/{user}/tokens/{}",
                sys.base,
                t["id"].as_str().unwrap()
            ))
            .bearer_auth(&session)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    match tokio_tungstenite::connect_async(ws_request(&sys.base, &reader)).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
}
