//! The replay-buffer attack of issue 22: one user PATCHes 10 000-character descriptions a thousand
//! times, then ten SSE clients that never read reconnect with an old `Last-Event-ID`. The buffer
//! kept every full push (task plus before/after) and each reconnect copied the whole backlog, so
//! memory grew by hundreds of megabytes. Now it is capped in bytes, shared and streamed: this
//! process (the service runs in it) grows by a few megabytes. Alone in its test binary so no
//! other test moves the RSS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use taskflow_websocket::{Hub, HubConfig};

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_pushes_and_stalled_replaying_clients_keep_memory_bounded() {
    let service = common::serve(Hub::new(HubConfig::default()));
    // Warm up the server and the client (first connection, TLS-free HTTP stack, allocator arenas).
    let warm = service.big_update("warm", 0, 100).await;
    drop(service.sse("warm", &warm).await);
    let before = common::rss_bytes();

    let mut first = None;
    for n in 0..1000 {
        let id = service.big_update("attacker", n, 10_000).await;
        first.get_or_insert(id);
    }
    let first = first.unwrap();
    let after_publishing = common::rss_bytes();

    // Ten clients resume from the first event and never read: the server has answered each.
    let mut stalled = Vec::new();
    for _ in 0..10 {
        stalled.push(service.sse("attacker", &first).await);
    }
    let after_clients = common::rss_bytes();
    eprintln!(
        "RSS before {} MiB, after 1 000 pushes {} MiB, with 10 stalled replays {} MiB",
        before / MIB,
        after_publishing / MIB,
        after_clients / MIB
    );
    // Generous bounds: the buffer itself is capped at 1 MiB for this user.
    assert!(
        after_publishing.saturating_sub(before) < 32 * MIB,
        "1 000 large pushes grew RSS by {} MiB",
        after_publishing.saturating_sub(before) / MIB
    );
    assert!(
        after_clients.saturating_sub(before) < 48 * MIB,
        "10 replaying clients grew RSS by {} MiB",
        after_clients.saturating_sub(before) / MIB
    );
    drop(stalled);
}
