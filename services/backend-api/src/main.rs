//! The standalone backend-api service, run beside a Dapr sidecar.

use std::process::ExitCode;

use taskflow_backend_api::{ApiConfig, run_under_dapr};
use taskflow_runtime::telemetry::{self, LogFormat};

#[actix_web::main]
async fn main() -> ExitCode {
    if let Err(e) = telemetry::init(LogFormat::Json) {
        eprintln!("backend-api: {e}");
        return ExitCode::from(2);
    }
    let result = match ApiConfig::from_env() {
        Ok(config) => run_under_dapr(config).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "backend-api stopped");
            ExitCode::FAILURE
        }
    }
}
