//! Periodic work: the Dapr cron input binding under Dapr, a timer in the single binary.
//!
//! Under Dapr every replica's sidecar fires, so a tick handler must be safe when ticks overlap
//! (claim work atomically); the in-process timer never overlaps itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

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
                if let Err(e) = handler.tick().await {
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
