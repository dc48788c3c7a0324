//! The audit service, run beside a Dapr sidecar.

use taskflow_audit::{DEFAULT_PORT, SERVICE, subscriptions};
use taskflow_bus::service::{self, Consumer};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(SERVICE, DEFAULT_PORT, |store, _dapr| Consumer {
        subscriptions: subscriptions(store),
        cron: None,
    })
    .await
}
