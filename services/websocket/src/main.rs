//! The websocket service, run beside a Dapr sidecar with a broadcast pub/sub component: every replica
//! receives every event and pushes it to its own clients. Its configuration ([`WebsocketConfig`]) is
//! read once here. Stream tickets are spent in the sidecar's state store, so a ticket works once
//! across all replicas. It keeps no data: it runs on the store-free runner and links no database driver.

use taskflow_bus::service;
use taskflow_websocket::{SERVICE, WebsocketConfig, standalone};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(SERVICE, async {
        let config = WebsocketConfig::from_env()?;
        service::run_stateless(SERVICE, &config.service, |dapr| {
            standalone(&config.auth, &config.cors, &config.realtime, config.stream, dapr)
        })
        .await
    })
    .await
}
