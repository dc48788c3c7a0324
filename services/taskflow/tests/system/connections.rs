//! Connections per user: one user cannot hold more than 20 WebSocket/SSE streams (429 with
//! `Retry-After` and the JSON error), another user is not affected, and a closed stream frees its
//! slot. Also: a token for one user opens nobody else's stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::support;

const PER_USER: usize = 20;

#[tokio::test]
async fn a_user_gets_at_most_twenty_streams_and_429_beyond() {
    let sys = support::system(Vec::new(), support::no_reminder_ticks()).await;
    let (base, client) = (sys.base.clone(), sys.client.clone());
    let (alice, alice_token) = sys.sign_up(json!({})).await;
    let (_bob, bob_token) = sys.sign_up(json!({})).await;
    let ws = |token: &str| support::ws_request(&base, token);

    let mut sockets = Vec::new();
    for _ in 0..PER_USER - 1 {
        sockets.push(
            tokio_tungstenite::connect_async(ws(&alice_token))
                .await
                .unwrap()
                .0,
        );
    }
    // SSE streams count towards the same budget.
    let sse = client
        .get(format!("{base}/api/sse/{alice}"))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);

    for attempt in ["websocket", "sse"] {
        let (status, retry_after, body) = if attempt == "websocket" {
            match tokio_tungstenite::connect_async(ws(&alice_token)).await {
                Err(WsError::Http(res)) => (
                    res.status().as_u16(),
                    res.headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    serde_json::from_slice::<Value>(res.body().as_deref().unwrap_or_default()).ok(),
                ),
                other => panic!("expected 429, got {:?}", other.map(|_| ())),
            }
        } else {
            let res = client
                .get(format!("{base}/api/sse/{alice}"))
                .bearer_auth(&alice_token)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, retry, res.json::<Value>().await.ok())
        };
        assert_eq!(status, 429, "{attempt}");
        assert!(
            retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1),
            "{attempt}"
        );
        let body = body.unwrap_or_else(|| panic!("{attempt}: the 429 has a JSON body"));
        assert_eq!(body["error"]["code"], "rate_limited", "{attempt}: {body}");
    }

    // Bob is not affected by Alice's connections.
    let (mut bobs, _) = tokio_tungstenite::connect_async(ws(&bob_token)).await.unwrap();

    // Closing one frees its slot (once the server has seen the close).
    let mut first = sockets.remove(0);
    first.send(Message::Close(None)).await.unwrap();
    drop(first);
    let mut reopened = None;
    for _ in 0..200 {
        if let Ok((s, _)) = tokio_tungstenite::connect_async(ws(&alice_token)).await {
            reopened = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(reopened.is_some(), "a closed socket must free its slot");
    bobs.send(Message::Close(None)).await.unwrap();
    drop(sse);
}

#[tokio::test]
async fn streams_refuse_tokens_signed_by_anyone_else() {
    let sys = support::system(Vec::new(), support::no_reminder_ticks()).await;
    let (base, client) = (sys.base.clone(), sys.client.clone());
    let (alice, _) = sys.sign_up(json!({})).await;
    // Well-formed, unexpired, right issuer and subject, but signed with another secret.
    let foreign = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": alice, "iss": "taskflow", "exp": chrono::Utc::now().timestamp() + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(b"a-secret-this-server-never-had-0123456789"),
    )
    .unwrap();
    match tokio_tungstenite::connect_async(support::ws_request(&base, &foreign)).await {
        Err(WsError::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    let sse = client
        .get(format!("{base}/api/sse/{alice}"))
        .bearer_auth(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 401);
    let body: Value = sse.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
}
