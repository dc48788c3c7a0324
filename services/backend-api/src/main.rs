//! The standalone backend-api service, run beside a Dapr sidecar. With `MIGRATE_ONLY=true` it applies
//! the database migrations and exits (a deployment's migration step). Its configuration
//! ([`BackendApiConfig`]) is read once here.

use std::process::ExitCode;

use taskflow_backend_api::{BackendApiConfig, StartupError, migrate, run_under_dapr};
use taskflow_runtime::telemetry::{self, LogFormat};

async fn run() -> Result<(), StartupError> {
    match BackendApiConfig::from_env()? {
        BackendApiConfig::Migrate { database_url } => migrate(&database_url).await,
        BackendApiConfig::Serve(config) => run_under_dapr(*config).await,
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    if let Err(e) = telemetry::init(LogFormat::Json) {
        eprintln!("backend-api: {e}");
        return ExitCode::from(2);
    }
    let code = match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "backend-api stopped");
            ExitCode::FAILURE
        }
    };
    telemetry::flush();
    code
}
