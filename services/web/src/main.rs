//! The web service, run beside a Dapr sidecar: the browser app, and its API calls forwarded to
//! backend-api by service invocation. Its configuration ([`WebConfig`]) is read once here. It keeps
//! no data: it runs on the store-free runner, subscribes to nothing and links no database driver.

use taskflow_bus::service::{self, Consumer, ServiceError};
use taskflow_web::{SERVICE, WebConfig, routes};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(SERVICE, async {
        let config = WebConfig::from_env()?;
        let routes = routes(&config).map_err(|e| ServiceError::Dapr(e.to_string()))?;
        service::run_stateless(SERVICE, &config.service, |_dapr| {
            Ok(Consumer::subscribing(Vec::new()).with_routes(routes))
        })
        .await
    })
    .await
}
