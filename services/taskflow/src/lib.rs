//! The all-in-one composition: every service's routes (REST, WebSocket, SSE) on one port, one
//! database, the in-process bus in place of Dapr — same envelope, same outcomes, same handler code —
//! and a timer in place of the cron binding — plus the web app (`taskflow-webapp`) at `/`.

mod history;
mod private_files;
pub mod settings;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use taskflow_backend_api::{ApiConfig, ApiState, Application, StartupError};
use taskflow_bus::Subscription;
use taskflow_bus::cron;
use taskflow_bus::inprocess::{InProcessBus, RetryPolicy};
use taskflow_host::StoreDeadLetters;
use taskflow_host::relay::{self, OutboxScope, PipelineCheck, RelayConfig, RelayHandle};
use taskflow_notification::{
    CRON_BINDING, Mailer, ReminderTicker, TickerConfig, WebhookConfig, WebhookSender,
};
use taskflow_runtime::server::Shutdown;
use taskflow_websocket::{Hub, HubConfig, StreamAccess, StreamConfig};
use tokio::sync::{Notify, watch};

use history::StoreHistory;

/// The whole system, bound and ready to run.
pub struct Running {
    app: Application,
    relay: RelayHandle,
    ticker: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
    webhooks: (watch::Sender<bool>, tokio::task::JoinHandle<()>),
    pub state: ApiState,
}

/// How the in-process parts behave.
#[derive(Debug, Clone)]
pub struct SystemOptions {
    pub retry: RetryPolicy,
    /// How often the notification service's timer ticks (it plays the Dapr cron binding); `None` for
    /// no timer.
    pub reminder_tick: Option<Duration>,
    pub mailer: Option<Mailer>,
    /// Per-connection queue and replay buffer of the WebSocket/SSE hub.
    pub realtime: HubConfig,
    /// Whether the WebSocket/SSE endpoints accept `?token=` (`STREAM_TOKEN_IN_URL`).
    pub stream: StreamConfig,
    /// The notification service's webhook sender (`WEBHOOK_*`).
    pub webhooks: WebhookConfig,
}

impl Default for SystemOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            reminder_tick: Some(Duration::from_secs(10)),
            mailer: None,
            realtime: HubConfig::default(),
            stream: StreamConfig::default(),
            webhooks: WebhookConfig::default(),
        }
    }
}

/// [`start_with`] with default options but no reminder timer.
pub async fn start(
    config: &ApiConfig,
    listener: TcpListener,
    extra: Vec<Subscription>,
    retry: RetryPolicy,
) -> Result<Running, StartupError> {
    start_with(
        config,
        listener,
        extra,
        SystemOptions {
            retry,
            reminder_tick: None,
            ..SystemOptions::default()
        },
    )
    .await
}

/// Connects, migrates and binds everything: backend-api's routes, the recurring and audit services
/// as in-process subscribers (plus any `extra` subscriptions; tests use them to watch), the
/// WebSocket/SSE hub, and the notification service's timer.
pub async fn start_with(
    config: &ApiConfig,
    listener: TcpListener,
    extra: Vec<Subscription>,
    options: SystemOptions,
) -> Result<Running, StartupError> {
    let SystemOptions {
        retry,
        reminder_tick,
        mailer,
        realtime,
        stream,
        webhooks,
    } = options;
    let state = ApiState::connect(config).await?;
    let mut subscriptions = taskflow_recurring::subscriptions(state.store.clone());
    subscriptions.extend(taskflow_audit::subscriptions(state.store.clone()));
    let hub = Hub::new(realtime);
    subscriptions.extend(taskflow_websocket::subscriptions(hub.clone()));
    // notification's webhook deliveries: recorded from the events, sent by a loop the recorder wakes.
    let wake = Arc::new(Notify::new());
    subscriptions.extend(taskflow_notification::webhooks::subscriptions(
        state.store.clone(),
        wake.clone(),
    ));
    let sender = WebhookSender::new(state.store.clone(), webhooks)
        .map_err(|e| StartupError::Webhooks(e.to_string()))?;
    subscriptions.extend(extra);
    let bus = InProcessBus::new(
        subscriptions,
        retry,
        Arc::new(StoreDeadLetters(state.store.clone())),
    );
    let checks = taskflow_backend_api::readiness(&state).with(PipelineCheck {
        store: state.store.clone(),
        scope: OutboxScope::All,
        dead_letters_in_db: true,
    });
    // WebSocket and SSE on the API's port (they use the API's authenticator; one process, so the
    // in-memory ledger of spent stream tickets is the whole truth), and the web app at `/`.
    // A client whose last event the hub no longer buffers (this process restarted since) resumes
    // from the outbox.
    let access = StreamAccess::in_memory(stream).with_history(Arc::new(StoreHistory(state.store.clone())));
    let realtime = taskflow_websocket::configure(hub, access);
    let extra = move |cfg: &mut actix_web::web::ServiceConfig| {
        cfg.configure(realtime).configure(taskflow_webapp::configure);
    };
    let app = Application::serve_with(&state, listener, checks, extra)?;
    // One relay publishes what every service in the process wrote, each event under its own app's
    // `source`. Only this process writes here; the poll is a safety net, the commit signal does the work.
    let mut relay_config = RelayConfig::for_all();
    relay_config.poll_interval = std::time::Duration::from_millis(500);
    let relay = relay::spawn(state.store.clone(), Arc::new(bus), relay_config);
    let ticker = reminder_tick.map(|every| {
        let (stop, rx) = watch::channel(false);
        let ticker = Arc::new(ReminderTicker::new(
            state.store.clone(),
            mailer,
            TickerConfig::default(),
        ));
        (
            stop,
            tokio::spawn(async move { cron::run_timer(CRON_BINDING, every, ticker, rx).await }),
        )
    });
    let (stop_webhooks, stopped) = watch::channel(false);
    let webhooks = (stop_webhooks, tokio::spawn(Arc::new(sender).run(wake, stopped)));
    Ok(Running {
        app,
        relay,
        ticker,
        webhooks,
        state,
    })
}

impl Running {
    pub fn port(&self) -> u16 {
        self.app.port()
    }

    /// What SIGTERM/SIGINT triggers; trigger it to shut down without a signal.
    pub fn shutdown(&self) -> Shutdown {
        self.app.shutdown()
    }

    /// Serves until SIGTERM/SIGINT, then — all within `SHUTDOWN_TIMEOUT_SECS` — lets requests
    /// finish (WebSockets are closed with 1001 and SSE streams end), stops the reminder timer after
    /// its current tick, and lets the relay finish its deliveries and flush the outbox. The pool stays
    /// open for the caller (the binary closes it last; tests read the outcome through it).
    pub async fn run(self) -> std::io::Result<()> {
        let shutdown = self.app.shutdown();
        let served = self.app.run().await;
        let deadline = self.state.shutdown_timeout;
        if let Some((stop, task)) = self.ticker {
            let _ = stop.send(true);
            if tokio::time::timeout(shutdown.remaining(deadline), task)
                .await
                .is_err()
            {
                tracing::warn!("reminder timer did not stop in time");
            }
        }
        let (stop, task) = self.webhooks;
        let _ = stop.send(true);
        if tokio::time::timeout(shutdown.remaining(deadline), task)
            .await
            .is_err()
        {
            tracing::warn!("webhook sender did not stop in time");
        }
        self.relay.stop_within(shutdown.remaining(deadline)).await;
        tracing::info!("taskflow stopped");
        served
    }
}
