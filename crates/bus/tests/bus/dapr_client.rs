//! The sidecar adapter against a recording stand-in: exactly what goes over the wire.

use std::time::Duration;

use serde_json::json;
use taskflow_bus::dapr::{DaprClient, DaprStateIdempotency};
use taskflow_bus::idempotency::{Claim, IdempotencyStore};

use crate::support::FakeSidecar;

#[tokio::test]
async fn set_if_absent_uses_etag_zero_first_write_and_a_ttl() {
    let sidecar = FakeSidecar::start().await;
    let client = DaprClient::new(sidecar.config(None)).unwrap();
    assert!(
        client
            .set_if_absent("audit:e1", json!(1), Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        !client
            .set_if_absent("audit:e1", json!(1), Duration::from_secs(60))
            .await
            .unwrap()
    );
    let saves: Vec<_> = sidecar
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == "/v1.0/state/statestore")
        .cloned()
        .collect();
    assert_eq!(saves.len(), 2);
    let item = &saves[0].body[0];
    assert_eq!(item["key"], "audit:e1");
    assert_eq!(item["etag"], "0");
    assert_eq!(item["options"]["concurrency"], "first-write");
    assert_eq!(item["metadata"]["ttlInSeconds"], "60");
    assert!(
        !saves[0].headers.contains_key("dapr-api-token"),
        "no token configured, none sent"
    );
}

#[tokio::test]
async fn state_get_distinguishes_missing_from_present() {
    let sidecar = FakeSidecar::start().await;
    let client = DaprClient::new(sidecar.config(Some("t0ken"))).unwrap();
    assert_eq!(client.get_state("nothing").await.unwrap(), None);
    client
        .set_if_absent("k", json!({"v": 1}), Duration::from_secs(5))
        .await
        .unwrap();
    let (value, etag) = client.get_state("k").await.unwrap().unwrap();
    assert_eq!(value, json!({"v": 1}));
    assert_eq!(etag.as_deref(), Some("1"));
    client.delete_state("k").await.unwrap();
    assert_eq!(client.get_state("k").await.unwrap(), None);
    assert!(
        sidecar
            .requests
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.headers.get("dapr-api-token").map(String::as_str) == Some("t0ken"))
    );
}

#[tokio::test]
async fn dapr_state_backs_the_idempotency_guard() {
    let sidecar = FakeSidecar::start().await;
    let keys = DaprStateIdempotency(DaprClient::new(sidecar.config(None)).unwrap());
    let lease = Duration::from_secs(60);
    assert_eq!(keys.claim("recurring:e9", lease).await.unwrap(), Claim::Acquired);
    assert_eq!(
        keys.claim("recurring:e9", lease).await.unwrap(),
        Claim::InProgress
    );
    keys.complete("recurring:e9", Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(keys.claim("recurring:e9", lease).await.unwrap(), Claim::Done);
    let done = sidecar
        .requests
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.body[0]["value"] == "done")
        .cloned()
        .unwrap();
    assert_eq!(done.path, "/v1.0/state/statestore");
    assert!(
        done.body[0].get("etag").is_none(),
        "completing overwrites the claim"
    );
    assert_eq!(done.body[0]["metadata"]["ttlInSeconds"], "3600");
    keys.release("recurring:e9").await.unwrap();
    assert_eq!(keys.claim("recurring:e9", lease).await.unwrap(), Claim::Acquired);
}

#[tokio::test]
async fn readiness_follows_the_sidecars_outbound_health() {
    let sidecar = FakeSidecar::start().await;
    let client = DaprClient::new(sidecar.config(None)).unwrap();
    assert!(client.is_ready().await);
    sidecar.set_down(true);
    assert!(!client.is_ready().await);
    let nowhere = DaprClient::new(taskflow_bus::dapr::DaprConfig {
        http_port: 1,
        ..sidecar.config(None)
    })
    .unwrap();
    assert!(!nowhere.is_ready().await);
    assert!(
        nowhere
            .set_if_absent("k", json!(1), Duration::from_secs(1))
            .await
            .is_err()
    );
}
