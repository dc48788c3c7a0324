//! The notification service, run beside a Dapr sidecar and woken by its cron binding.

use taskflow_bus::service::{self, Consumer};
use taskflow_notification::{CRON_BINDING, DEFAULT_PORT, Mailer, ReminderTicker, SERVICE, TickerConfig};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let mailer = match Mailer::from_env() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{SERVICE}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    service::main(SERVICE, DEFAULT_PORT, move |store, _dapr| Consumer {
        subscriptions: Vec::new(),
        cron: Some((
            CRON_BINDING.into(),
            std::sync::Arc::new(ReminderTicker::new(store, mailer, TickerConfig::default())),
        )),
    })
    .await
}
