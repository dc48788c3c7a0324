//! The notification service, run beside a Dapr sidecar and woken by its cron binding.

use std::sync::Arc;

use taskflow_bus::service::{self, Consumer};
use taskflow_notification::{CRON_BINDING, DEFAULT_PORT, Mailer, ReminderTicker, SERVICE, TickerConfig};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(
        SERVICE,
        service::run_consumer(SERVICE, DEFAULT_PORT, |store, _dapr| {
            let ticker = ReminderTicker::new(store, Mailer::from_env()?, TickerConfig::default());
            Ok(Consumer {
                cron: Some((CRON_BINDING.into(), Arc::new(ticker))),
                ..Consumer::subscribing(Vec::new()).publishing()
            })
        }),
    )
    .await
}
