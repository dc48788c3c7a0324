//! The websocket service, run beside a Dapr sidecar with a broadcast pub/sub component: every replica
//! receives every event and pushes it to its own clients.

use taskflow_bus::service;
use taskflow_websocket::{DEFAULT_PORT, SERVICE, standalone};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(
        SERVICE,
        service::run_stateless(SERVICE, DEFAULT_PORT, |_dapr| standalone()),
    )
    .await
}
