//! The all-in-one composition: every service's routes on one port, one database, and the in-process
//! bus in place of Dapr — same envelope, same outcomes, same handler code.

pub mod settings;

use std::net::TcpListener;
use std::sync::Arc;

use taskflow_backend_api::{ApiConfig, ApiState, Application, StartupError};
use taskflow_bus::Subscription;
use taskflow_bus::inprocess::{InProcessBus, RetryPolicy};
use taskflow_bus::relay::{self, PipelineCheck, RelayConfig, RelayHandle};

/// The whole system, bound and ready to run.
pub struct Running {
    app: Application,
    relay: RelayHandle,
    pub state: ApiState,
}

/// Connects, migrates and binds everything: backend-api's routes, and the recurring and audit
/// services as in-process subscribers, plus any `extra` subscriptions (tests use them to watch).
pub async fn start(
    config: &ApiConfig,
    listener: TcpListener,
    extra: Vec<Subscription>,
    retry: RetryPolicy,
) -> Result<Running, StartupError> {
    let state = ApiState::connect(config).await?;
    let mut subscriptions = taskflow_recurring::subscriptions(state.store.clone());
    subscriptions.extend(taskflow_audit::subscriptions(state.store.clone()));
    subscriptions.extend(extra);
    let bus = InProcessBus::new(subscriptions, retry, state.store.clone());
    let checks = taskflow_backend_api::readiness(&state).with(PipelineCheck(state.store.clone()));
    let app = Application::serve_with(
        &state,
        listener,
        checks,
        |_: &mut actix_web::web::ServiceConfig| {},
    )?;
    let mut relay_config = RelayConfig::new("taskflow");
    // Only this process writes here; the poll is a safety net, the commit signal does the work.
    relay_config.poll_interval = std::time::Duration::from_millis(500);
    let relay = relay::spawn(state.store.clone(), Arc::new(bus), relay_config);
    Ok(Running { app, relay, state })
}

impl Running {
    pub fn port(&self) -> u16 {
        self.app.port()
    }

    /// Serves until SIGTERM/SIGINT, then lets requests finish and flushes the outbox.
    pub async fn run(self) -> std::io::Result<()> {
        let served = self.app.run().await;
        self.relay.stop().await;
        served
    }
}
