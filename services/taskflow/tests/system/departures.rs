//! A client that goes away without a goodbye frees its stream slot within seconds: a soak saw
//! departed SSE clients held for ~50 s (two heartbeats), counted against the 20-per-user cap all
//! that time. WebSockets end when the peer's close is read; SSE streams when a probe write fails.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support;

const PER_USER: usize = 20;
/// Generous: the probe is every 2 s, and the second write after a reset fails.
const BOUND: Duration = Duration::from_secs(10);

async fn open_sse(client: &reqwest::Client, base: &str, user: &str, token: &str) -> reqwest::Response {
    client
        .get(format!("{base}/api/sse/{user}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn departed_streams_free_their_slots_within_seconds() {
    let sys = support::system(Vec::new(), support::no_reminder_ticks()).await;
    let (base, client) = (sys.base.clone(), sys.client.clone());
    let (user, token) = sys.sign_up(json!({})).await;
    let ws_url = format!("{}/ws", base.replace("http://", "ws://"));

    // The whole budget: half WebSockets, half SSE streams (each read up to its greeting).
    let mut sockets = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..PER_USER / 2 {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url.as_str())
                .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        sockets.push(tokio_tungstenite::connect_async(request).await.unwrap().0);
        let mut sse = open_sse(&client, &base, &user, &token).await;
        assert_eq!(sse.status(), 200);
        assert!(sse.chunk().await.unwrap().is_some(), "the greeting");
        streams.push(sse);
    }
    assert_eq!(open_sse(&client, &base, &user, &token).await.status(), 429);

    // Every client vanishes: TCP closed, no close frame, nothing more read.
    let gone = Instant::now();
    drop(sockets);
    drop(streams);

    let mut reopened = Vec::new();
    while reopened.len() < PER_USER {
        let sse = open_sse(&client, &base, &user, &token).await;
        match sse.status().as_u16() {
            200 => reopened.push(sse),
            429 => {
                assert!(
                    gone.elapsed() < BOUND,
                    "{} of {PER_USER} slots free {:?} after the clients left",
                    reopened.len(),
                    gone.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    eprintln!(
        "all {PER_USER} slots free again {:?} after the clients left",
        gone.elapsed()
    );
}
