//! `taskflow`: the whole system in one process, for newcomers and single-machine installs.
//!
//! Defaults make `cargo run --release --bin taskflow` work with nothing configured: SQLite in
//! `./data`, a JWT secret generated once and kept beside it, and the API on 127.0.0.1:8000.

use std::process::ExitCode;

use taskflow::settings;
use taskflow_runtime::server;
use taskflow_runtime::telemetry::{self, LogFormat};

#[actix_web::main]
async fn main() -> ExitCode {
    if let Err(e) = telemetry::init(LogFormat::Auto) {
        eprintln!("taskflow: {e}");
        return ExitCode::from(2);
    }
    let code = match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "taskflow stopped");
            eprintln!("taskflow: {e}");
            ExitCode::FAILURE
        }
    };
    telemetry::flush();
    code
}

async fn run() -> Result<(), settings::SettingsError> {
    let settings = settings::Settings::from_env()?;
    let listener = server::bind(&settings.api.host, settings.api.port)
        .map_err(taskflow_backend_api::StartupError::from)?;
    let app = taskflow::start_with(&settings.api, listener, Vec::new(), settings.system.clone()).await?;
    let base = format!("http://{}:{}", settings.api.host, app.port());
    tracing::info!(database = %settings.database_label, data_dir = %settings.data_dir.display(), "taskflow ready");
    println!("TaskFlow is listening on {base}");
    println!("  Web app:   {base}/");
    println!("  API docs:  {base}/docs");
    println!("  Database:  {}", settings.database_label);
    let store = app.state.store.clone();
    let served = app.run().await;
    // Every connection ends with a goodbye, after the relay's last flush.
    store.close().await;
    served.map_err(|e| taskflow_backend_api::StartupError::Serve(e.into()))?;
    Ok(())
}
