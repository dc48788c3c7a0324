//! One relay per scope at a time, through the lock that ends with its holder: two contenders on
//! one database, two running relays, a graceful handover, and a holder whose lock connection is cut
//! (it must stop publishing before anyone else starts). The `kill -9` takeovers run the real binary:
//! `services/taskflow/tests/system/takeover.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};
use taskflow_bus::Subscription;
use taskflow_bus::inprocess::{InProcessBus, RetryPolicy};
use taskflow_host::StoreDeadLetters;
use taskflow_host::relay::{RelayConfig, RelayHandle, spawn};
use taskflow_store::{OutboxScope, Store};

use crate::fixtures::{add_task, store};
use crate::support::Recorder;

fn relay(store: &Store, recorder: &Recorder) -> RelayHandle {
    let bus = Arc::new(InProcessBus::new(
        vec![Subscription::new("ws", "task-created", recorder.handler())],
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        },
        Arc::new(StoreDeadLetters(store.clone())),
    ));
    let mut config = RelayConfig::for_all();
    config.poll_interval = Duration::from_millis(100);
    spawn(store.clone(), bus, config)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn pending(store: &Store) -> u64 {
    store.outbox().stats(&OutboxScope::All).await.unwrap().pending
}

#[tokio::test]
async fn one_contender_at_a_time_holds_the_lock_until_it_lets_go() {
    let (store, _db) = store().await;
    let mut a = store.exclusive_lock("outbox-relay");
    let mut b = store.exclusive_lock("outbox-relay");
    let mut other = store.exclusive_lock("outbox-relay:recurring");
    assert!(a.try_acquire().await.unwrap());
    assert!(!b.try_acquire().await.unwrap(), "held by a");
    assert!(
        other.try_acquire().await.unwrap(),
        "another scope is another lock"
    );
    assert!(a.try_acquire().await.unwrap(), "the holder keeps it");
    a.confirm().await.unwrap();
    a.release().await;
    assert!(b.try_acquire().await.unwrap(), "released: taken at once");
    assert!(!a.try_acquire().await.unwrap());
    drop(b);
    // A holder that goes away frees it: its file closes at once; its PostgreSQL session ends as
    // soon as the server sees the socket close.
    let start = Instant::now();
    while !a.try_acquire().await.unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "dropping the holder freed the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn two_running_relays_never_both_publish_and_a_graceful_stop_hands_over_at_once() {
    let (store, _db) = store().await;
    let (first, second) = (Recorder::default(), Recorder::default());
    let first_relay = relay(&store, &first);
    add_task(&store, "alice", "a0").await;
    wait_for("the first relay to publish", || first.titles().len() == 1).await;
    let second_relay = relay(&store, &second);
    for i in 1..20 {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        add_task(&store, user, &format!("a{i}")).await;
    }
    wait_for("every event", || {
        first.titles().len() + second.titles().len() >= 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(first.titles().len(), 20, "the holder published everything");
    assert!(second.titles().is_empty(), "the other relay published nothing");

    first_relay.stop().await;
    let stopped = Instant::now();
    add_task(&store, "alice", "after the handover").await;
    wait_for("the second relay to take over", || second.titles().len() == 1).await;
    println!(
        "graceful handover: first publish {:?} after the stop",
        stopped.elapsed()
    );
    assert!(stopped.elapsed() < Duration::from_secs(2));
    assert_eq!(first.titles().len(), 20);
    second_relay.stop().await;
}

/// PostgreSQL only: the lock lives on a connection, which the server (or an operator) can cut.
#[tokio::test]
async fn a_holder_whose_lock_connection_is_cut_stops_publishing_before_anyone_else_starts() {
    if taskflow_test_support::postgres_for_test("cutting a relay's lock connection").is_none() {
        return;
    }
    let (store, _db) = store().await;
    let recorder = Recorder::default();
    let handle = relay(&store, &recorder);
    add_task(&store, "alice", "before").await;
    wait_for("the relay to publish", || recorder.titles().len() == 1).await;

    // The server ends the holder's lock session, as it does when the network to the holder dies.
    let db = store.connection();
    let cut = db
        .execute_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ))
        .await
        .unwrap();
    assert_eq!(cut.rows_affected(), 1, "one session held the relay's lock");
    // Someone else takes the lock the server freed.
    let mut other = store.exclusive_lock("outbox-relay");
    let start = Instant::now();
    while !other.try_acquire().await.unwrap() {
        assert!(start.elapsed() < Duration::from_secs(5), "the lock was freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    add_task(&store, "alice", "while another holds it").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        recorder.titles(),
        ["before"],
        "the old holder noticed its lock was gone and published nothing"
    );
    assert_eq!(pending(&store).await, 1);

    other.release().await;
    wait_for("the relay to take the lock back", || recorder.titles().len() == 2).await;
    assert_eq!(recorder.titles(), ["before", "while another holds it"]);
    handle.stop().await;
}
