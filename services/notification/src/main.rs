//! The notification service, run beside a Dapr sidecar and woken by its cron binding. Its
//! configuration ([`NotificationConfig`]) is read once here. It also subscribes to every task-event
//! topic to queue webhook deliveries, and runs the webhook sender in the background.

use std::sync::Arc;

use taskflow_bus::service;
use taskflow_host::{Consumer, HostError, run_consumer};
use taskflow_notification::{
    CRON_BINDING, NotificationConfig, ReminderTicker, SERVICE, TickerConfig, WebhookSender, webhooks,
};
use taskflow_runtime::config::ConfigError;
use tokio::sync::{Notify, watch};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(SERVICE, async {
        let NotificationConfig {
            host,
            mailer,
            webhooks,
        } = NotificationConfig::from_env()?;
        // Keeps the sender running until the service returns.
        let (_stop, stopped) = watch::channel(false);
        run_consumer(SERVICE, &host, |store, _dapr| {
            let ticker = ReminderTicker::new(store.clone(), mailer, TickerConfig::default());
            let wake = Arc::new(Notify::new());
            let sender = WebhookSender::new(store.clone(), webhooks).map_err(|e| {
                HostError::Config(ConfigError::Invalid {
                    name: "WEBHOOK_ALLOW_PRIVATE_NETWORKS",
                    value: String::new(),
                    reason: e.to_string(),
                })
            })?;
            tokio::spawn(Arc::new(sender).run(wake.clone(), stopped));
            Ok(Consumer::subscribing(webhooks::subscriptions(store, wake))
                .with_cron(CRON_BINDING, Arc::new(ticker))
                .publishing())
        })
        .await
    })
    .await
}
