//! The standalone backend-api service, run beside a Dapr sidecar. With `MIGRATE_ONLY=true` it applies
//! the database migrations and exits (a deployment's migration step).

use std::process::ExitCode;

use taskflow_backend_api::{ApiConfig, StartupError, migrate, run_under_dapr};
use taskflow_runtime::config;
use taskflow_runtime::telemetry::{self, LogFormat};

async fn run() -> Result<(), StartupError> {
    if config::flag("MIGRATE_ONLY", false)? {
        // The migration step needs only the database, not the service's secrets.
        migrate(&config::required(
            "DATABASE_URL",
            "set it to the database to migrate",
        )?)
        .await
    } else {
        run_under_dapr(ApiConfig::from_env()?).await
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
