//! The audit service, run beside a Dapr sidecar. Its configuration ([`HostConfig`]) is read once here.

use taskflow_audit::{DEFAULT_PORT, SERVICE, subscriptions};
use taskflow_bus::service;
use taskflow_host::{Consumer, HostConfig, run_consumer};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(SERVICE, async {
        let config = HostConfig::from_env(DEFAULT_PORT)?;
        run_consumer(SERVICE, &config, |store, _dapr| {
            Ok(Consumer::subscribing(subscriptions(store)))
        })
        .await
    })
    .await
}
