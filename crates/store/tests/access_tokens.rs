//! The personal access token repository on its own: a token is found by its hash while live, its
//! use is recorded at most once per `TOUCH_EVERY`, and revoking is per owner. SQLite, or PostgreSQL
//! with `TEST_DATABASE_URL`.

// A test: a failed step is the failure, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use taskflow_domain::time;
use taskflow_store::{NewAccessToken, TOUCH_EVERY};
use taskflow_test_support::consumer;

fn token(user: &str, hash: &str, expires_in: Option<TimeDelta>) -> NewAccessToken {
    NewAccessToken {
        user_id: user.into(),
        name: "script".into(),
        token_hash: hash.into(),
        scopes: "tasks:read".into(),
        expires_at: expires_in.map(|d| time::now() + d),
    }
}

#[tokio::test]
async fn use_is_recorded_at_most_once_a_minute() {
    let (store, _db) = consumer::store_with_users([consumer::user("alice", "Alice", None, "UTC")]).await;
    let tokens = store.access_tokens();
    let now = time::now();
    let created = tokens.create(token("alice", "h1", None), now).await.unwrap();
    assert_eq!(created.last_used_at, None);

    tokens.use_token("h1", now).await.unwrap().unwrap();
    let first = tokens.list("alice").await.unwrap()[0].last_used_at.unwrap();
    // Within the minute: no write.
    tokens
        .use_token("h1", now + TimeDelta::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tokens.list("alice").await.unwrap()[0].last_used_at, Some(first));
    // After it: recorded again.
    let later = now + TOUCH_EVERY + TimeDelta::seconds(1);
    tokens.use_token("h1", later).await.unwrap().unwrap();
    let second = tokens.list("alice").await.unwrap()[0].last_used_at.unwrap();
    assert!(second > first, "{second} after {first}");
}

#[tokio::test]
async fn only_live_tokens_are_found_and_only_their_owner_revokes_them() {
    let (store, _db) = consumer::store_with_users([
        consumer::user("alice", "Alice", None, "UTC"),
        consumer::user("bob", "Bob", None, "UTC"),
    ])
    .await;
    let tokens = store.access_tokens();
    let now = time::now();
    let live = tokens
        .create(token("alice", "live", Some(TimeDelta::hours(1))), now)
        .await
        .unwrap();
    tokens
        .create(token("alice", "expired", Some(TimeDelta::seconds(-1))), now)
        .await
        .unwrap();
    assert_eq!(
        tokens.use_token("live", now).await.unwrap().unwrap().user_id,
        "alice"
    );
    assert!(tokens.use_token("expired", now).await.unwrap().is_none());
    assert!(tokens.use_token("unknown", now).await.unwrap().is_none());
    assert_eq!(
        tokens.list("alice").await.unwrap().len(),
        2,
        "expired tokens stay listed"
    );

    assert!(!tokens.revoke("bob", live.id).await.unwrap());
    assert!(tokens.use_token("live", now).await.unwrap().is_some());
    assert!(tokens.revoke("alice", live.id).await.unwrap());
    assert!(tokens.use_token("live", now).await.unwrap().is_none());
}
