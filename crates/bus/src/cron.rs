//! Periodic work: the Dapr cron input binding under Dapr, a timer in the single binary.
//!
//! Under Dapr every replica's sidecar fires, so a tick handler must be safe when ticks overlap
//! (claim work atomically); the in-process timer never overlaps itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;

pub type TickFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// What runs on each tick.
pub trait CronHandler: Send + Sync {
    fn tick(&self) -> TickFuture<'_>;
}

/// Calls `handler` every `interval` until `shutdown` turns true.
pub async fn run_timer(
    name: &str,
    interval: Duration,
    handler: Arc<dyn CronHandler>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = timer.tick() => {
                // Each tick is a trace of its own: the events it writes (reminders) carry it.
                let trace = taskflow_trace::TraceContext::new_root();
                let span = tracing::info_span!("tick", cron = name, trace_id = %trace.trace_id(), span_id = %trace.span_id());
                let ticked = taskflow_trace::scope(trace, handler.tick()).instrument(span).await;
                if let Err(e) = ticked {
                    tracing::warn!(cron = name, error = %e, "tick failed");
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}
