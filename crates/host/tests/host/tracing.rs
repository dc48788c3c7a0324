//! Trace context on the Dapr path: the relay hands the row's `traceparent` to the sidecar (header and
//! CloudEvent metadata).

use std::sync::Arc;

use taskflow_bus::dapr::DaprClient;
use taskflow_bus::trace::{self, TraceContext};
use taskflow_host::relay::{OutboxRelay, RelayConfig};

use crate::fixtures::{create_task, store};
use crate::support::FakeSidecar;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn the_relay_sends_the_rows_trace_to_the_sidecar() {
    let (store, _db) = store().await;
    let sidecar = FakeSidecar::start().await;
    let ctx = TraceContext::parse(PARENT).unwrap().child();
    trace::scope(ctx, create_task(&store, "alice", "traced")).await;
    create_task(&store, "alice", "untraced").await;
    let publisher = Arc::new(DaprClient::new(sidecar.config(None)).unwrap());
    let relay = OutboxRelay::new(store.clone(), publisher, RelayConfig::for_all());
    assert_eq!(relay.drain_once().await.unwrap().published, 2);

    let published = sidecar.published();
    let traced = published
        .iter()
        .find(|r| r.body["data"]["task"]["title"] == "traced")
        .unwrap();
    assert_eq!(traced.headers.get("traceparent"), Some(&ctx.header()));
    // On the envelope under both names daprd uses; it fills them only when they are absent.
    assert_eq!(traced.body["traceparent"], ctx.header());
    assert_eq!(traced.body["traceid"], ctx.header());
    let untraced = published
        .iter()
        .find(|r| r.body["data"]["task"]["title"] == "untraced")
        .unwrap();
    assert!(!untraced.headers.contains_key("traceparent"));
    assert!(untraced.body.get("traceparent").is_none());
}
