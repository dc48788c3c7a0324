//! The audit service, run beside a Dapr sidecar.

use taskflow_audit::{DEFAULT_PORT, SERVICE, subscriptions};
use taskflow_bus::service::{self, Consumer};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(
        SERVICE,
        service::run_consumer(SERVICE, DEFAULT_PORT, |store, _dapr| {
            Ok(Consumer::subscribing(subscriptions(store)))
        }),
    )
    .await
}
