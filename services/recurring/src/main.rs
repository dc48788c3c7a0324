//! The recurring service, run beside a Dapr sidecar.

use taskflow_bus::service::{self, Consumer};
use taskflow_recurring::{DEFAULT_PORT, SERVICE, subscriptions};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(
        SERVICE,
        service::run_consumer(SERVICE, DEFAULT_PORT, |store, _dapr| {
            Ok(Consumer::subscribing(subscriptions(store)).publishing())
        }),
    )
    .await
}
