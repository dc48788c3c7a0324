//! The recurring service, run beside a Dapr sidecar.

use taskflow_bus::service::{self, Consumer};
use taskflow_recurring::{DEFAULT_PORT, SERVICE, subscriptions};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(SERVICE, DEFAULT_PORT, |store, _dapr| Consumer {
        subscriptions: subscriptions(store),
        cron: None,
    })
    .await
}
