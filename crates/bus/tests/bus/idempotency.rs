//! Claim-once stores, and the guard that releases a claim when its effect must be retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use taskflow_bus::idempotency::{Claim, IdempotencyStore, Idempotent, InMemoryIdempotency, RedisIdempotency};
use taskflow_bus::{EventHandler, Outcome, ReceivedEvent, handler_fn};
use taskflow_test_support::redis_for_test;

async fn claims_once(keys: &dyn IdempotencyStore, key: &str) {
    let lease = Duration::from_secs(60);
    assert_eq!(keys.claim(key, lease).await.unwrap(), Claim::Acquired);
    assert_eq!(
        keys.claim(key, lease).await.unwrap(),
        Claim::InProgress,
        "a concurrent delivery must retry, not succeed"
    );
    keys.complete(key, Duration::from_secs(600)).await.unwrap();
    assert_eq!(keys.claim(key, lease).await.unwrap(), Claim::Done);
    keys.release(key).await.unwrap();
    assert_eq!(
        keys.claim(key, lease).await.unwrap(),
        Claim::Acquired,
        "a released key can be claimed again"
    );
}

#[tokio::test]
async fn in_memory_claims_once_and_leases_expire() {
    let keys = InMemoryIdempotency::default();
    claims_once(&keys, "svc:1").await;
    assert_eq!(
        keys.claim("svc:2", Duration::from_millis(20)).await.unwrap(),
        Claim::Acquired
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(
        keys.claim("svc:2", Duration::from_millis(20)).await.unwrap(),
        Claim::Acquired,
        "a dead claim's lease runs out"
    );
}

#[tokio::test]
async fn redis_claims_once_with_a_ttl() {
    let Some(url) = redis_for_test("the Redis idempotency store") else {
        return;
    };
    let keys = RedisIdempotency::connect(&url).await.unwrap();
    let key = format!("taskflow-test:{}", uuid::Uuid::new_v4());
    claims_once(&keys, &key).await;
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!((1..=60).contains(&ttl), "claims are leases (ttl {ttl})");
    keys.complete(&key, Duration::from_secs(3600)).await.unwrap();
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(
        (3000..=3600).contains(&ttl),
        "done keys are remembered for the TTL (ttl {ttl})"
    );
    keys.release(&key).await.unwrap();
}

#[tokio::test]
async fn a_retried_effect_releases_its_claim_so_the_redelivery_runs() {
    let runs = Arc::new(AtomicUsize::new(0));
    let inner: Arc<dyn EventHandler> = {
        let runs = runs.clone();
        handler_fn(move |_e: ReceivedEvent| {
            let runs = runs.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    Outcome::Retry("flaky".into())
                } else {
                    Outcome::Success
                }
            }
        })
    };
    let guard = Idempotent::new(
        "audit",
        Arc::new(InMemoryIdempotency::default()),
        inner,
        Duration::from_secs(60),
    );
    let event = ReceivedEvent {
        id: uuid::Uuid::now_v7().to_string(),
        source: "test".into(),
        event_type: "t".into(),
        subject: None,
        time: None,
        topic: None,
        traceparent: None,
        data: json!({}),
    };
    assert!(matches!(guard.handle(&event).await, Outcome::Retry(_)));
    assert_eq!(guard.handle(&event).await, Outcome::Success);
    assert_eq!(
        guard.handle(&event).await,
        Outcome::Success,
        "the third delivery is a duplicate"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}
