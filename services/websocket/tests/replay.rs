//! Replay over SSE with a byte-capped buffer: an id that was evicted gets `resync` rather than a
//! partial replay, a recent one gets exactly what was missed, and a `task-updated` push carries the
//! task but not both full copies of a large field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use taskflow_websocket::{Hub, HubConfig};

#[tokio::test]
async fn an_evicted_last_event_id_gets_resync_and_a_recent_one_gets_the_rest() {
    let service = common::serve(Hub::new(HubConfig::default()));
    let mut ids = Vec::new();
    // About 3 MiB of pushes, over the default 1 MiB a user may keep.
    for n in 0..150 {
        ids.push(service.big_update("u1", n, 10_000).await);
    }
    let mut old = service.sse("u1", &ids[0]).await;
    let events = common::sse_events(&mut old, 1).await;
    assert_eq!(
        events[0].1, "resync",
        "the first event was evicted: {:?}",
        events[0].1
    );
    assert!(events[0].2["reason"].is_string());
    assert_eq!(
        events[0].0, ids[149],
        "resync names the newest event, so the next reconnect resumes from there"
    );

    let mut recent = service.sse("u1", &ids[146]).await;
    let replayed = common::sse_events(&mut recent, 3).await;
    let got: Vec<&str> = replayed.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(got, [&ids[147], &ids[148], &ids[149]]);
    assert!(replayed.iter().all(|(_, event, _)| event == "task-updated"));
}

#[tokio::test]
async fn a_task_updated_push_carries_the_task_but_not_large_before_and_after_values() {
    let service = common::serve(Hub::new(HubConfig::default()));
    let first = service.big_update("u1", 0, 10).await;
    service.big_update("u1", 1, 10).await;
    service.big_update("u1", 2, 10_000).await;
    let mut stream = service.sse("u1", &first).await;
    let events = common::sse_events(&mut stream, 2).await;
    let (small, large) = (&events[0].2, &events[1].2);
    assert_eq!(small["type"], "task-updated");
    assert_eq!(
        small["data"]["changes"]["description"]["before"],
        "b".repeat(10),
        "small changes keep before and after"
    );
    assert_eq!(small["data"]["changes"]["description"]["after"], "c".repeat(10));
    let description = &large["data"]["changes"]["description"];
    assert_eq!(description["truncated"], true, "a large change is not copied");
    assert!(description.get("before").is_none() && description.get("after").is_none());
    assert_eq!(
        large["data"]["task"]["description"].as_str().map(str::len),
        Some(10_000),
        "the task snapshot is still whole"
    );
}
