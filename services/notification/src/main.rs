//! The notification service, run beside a Dapr sidecar and woken by its cron binding. Its
//! configuration ([`NotificationConfig`]) is read once here.

use std::sync::Arc;

use taskflow_bus::service;
use taskflow_host::{Consumer, run_consumer};
use taskflow_notification::{CRON_BINDING, NotificationConfig, ReminderTicker, SERVICE, TickerConfig};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(SERVICE, async {
        let NotificationConfig { host, mailer } = NotificationConfig::from_env()?;
        run_consumer(SERVICE, &host, |store, _dapr| {
            let ticker = ReminderTicker::new(store, mailer, TickerConfig::default());
            Ok(Consumer::subscribing(Vec::new())
                .with_cron(CRON_BINDING, Arc::new(ticker))
                .publishing())
        })
        .await
    })
    .await
}
