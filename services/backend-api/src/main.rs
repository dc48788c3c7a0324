//! The standalone backend-api service.

use taskflow_backend_api::{ApiConfig, Application};
use taskflow_runtime::telemetry::{self, LogFormat};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    if let Err(e) = telemetry::init(LogFormat::Json) {
        eprintln!("backend-api: {e}");
        return std::process::ExitCode::from(2);
    }
    let result = async {
        let config = ApiConfig::from_env()?;
        let app = Application::build(config).await?;
        tracing::info!(port = app.port(), "backend-api listening");
        app.run()
            .await
            .map_err(|e| taskflow_backend_api::StartupError::Serve(e.into()))
    };
    match result.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "backend-api stopped");
            eprintln!("backend-api: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
