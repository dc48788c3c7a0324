//! The `Idempotency-Key` repository on its own: who holds a key, what a replay returns, and that an
//! attempt only ever settles its own marker. SQLite, or PostgreSQL with `TEST_DATABASE_URL`.

// A test: a failed step is the failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use taskflow_domain::time;
use taskflow_store::{Claim, IN_FLIGHT_LEASE, KEY_TTL, StoredResponse};
use taskflow_test_support::consumer;

fn response(body: &[u8]) -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), "\"1\"".into()),
        ],
        body: body.to_vec(),
    }
}

fn acquired(claim: Claim) -> uuid::Uuid {
    match claim {
        Claim::Acquired(id) => id,
        other => panic!("expected to hold the key, got {other:?}"),
    }
}

#[tokio::test]
async fn a_key_is_held_then_replayed_byte_for_byte_and_bound_to_its_request() {
    let (store, _db) = consumer::store_with_users([consumer::user("alice", "Alice", None, "UTC")]).await;
    let keys = store.idempotency_keys();
    let now = time::now();
    let claim = acquired(keys.claim("alice", "k", "fp", now).await.unwrap());
    assert_eq!(
        keys.claim("alice", "k", "fp", now).await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        keys.claim("alice", "k", "other", now).await.unwrap(),
        Claim::Mismatch
    );
    // Not UTF-8, with a NUL: stored as bytes.
    let body = b"\x00\xff{\"id\":1}";
    assert!(
        keys.complete("alice", "k", claim, &response(body), now)
            .await
            .unwrap()
    );
    assert_eq!(
        keys.claim("alice", "k", "fp", now).await.unwrap(),
        Claim::Replay(response(body))
    );
    assert_eq!(
        keys.claim("alice", "k", "other", now).await.unwrap(),
        Claim::Mismatch
    );
    // A second complete (a late duplicate) changes nothing.
    assert!(
        !keys
            .complete("alice", "k", claim, &response(b"x"), now)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_released_key_runs_again_and_keys_are_per_user() {
    let (store, _db) = consumer::store_with_users([
        consumer::user("alice", "Alice", None, "UTC"),
        consumer::user("bob", "Bob", None, "UTC"),
    ])
    .await;
    let keys = store.idempotency_keys();
    let now = time::now();
    let claim = acquired(keys.claim("alice", "k", "fp", now).await.unwrap());
    acquired(keys.claim("bob", "k", "fp", now).await.unwrap());
    keys.release("alice", "k", claim).await.unwrap();
    acquired(keys.claim("alice", "k", "other request", now).await.unwrap());
    // A user who does not exist cannot hold a key.
    assert!(keys.claim("nobody", "k", "fp", now).await.is_err());
}

#[tokio::test]
async fn an_abandoned_marker_or_an_expired_key_is_taken_over_and_the_old_attempt_touches_nothing() {
    let (store, _db) = consumer::store_with_users([consumer::user("alice", "Alice", None, "UTC")]).await;
    let keys = store.idempotency_keys();
    let now = time::now();
    let stale = now - IN_FLIGHT_LEASE - TimeDelta::seconds(1);
    let old = acquired(keys.claim("alice", "k", "fp", stale).await.unwrap());
    // Within the lease it is in progress.
    let soon = stale + TimeDelta::seconds(1);
    assert_eq!(
        keys.claim("alice", "k", "fp", soon).await.unwrap(),
        Claim::InProgress
    );
    // Past the lease the marker is taken to be from a process that died.
    let new = acquired(keys.claim("alice", "k", "fp", now).await.unwrap());
    assert_ne!(old, new);
    // The old attempt, if it was alive after all, neither stores into nor deletes the new marker.
    assert!(
        !keys
            .complete("alice", "k", old, &response(b"old"), now)
            .await
            .unwrap()
    );
    keys.release("alice", "k", old).await.unwrap();
    assert_eq!(
        keys.claim("alice", "k", "fp", now).await.unwrap(),
        Claim::InProgress
    );
    assert!(
        keys.complete("alice", "k", new, &response(b"new"), now)
            .await
            .unwrap()
    );

    // A stored response lasts 24 hours; after that the key is new.
    let later = now + KEY_TTL - TimeDelta::seconds(1);
    assert_eq!(
        keys.claim("alice", "k", "fp", later).await.unwrap(),
        Claim::Replay(response(b"new"))
    );
    let next_day = now + KEY_TTL;
    acquired(
        keys.claim("alice", "k", "another request", next_day)
            .await
            .unwrap(),
    );
}
