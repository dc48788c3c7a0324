//! The websocket service, run beside a Dapr sidecar with a broadcast pub/sub component: every replica
//! receives every event and pushes it to its own clients. Its configuration ([`WebsocketConfig`]) is
//! read once here. A client reconnecting to a replica that lacks its missed events gets them from
//! backend-api's outbox through service invocation ([`DaprHistory`]); personal access tokens are looked
//! up there the same way ([`DaprPats`]). Stream tickets are spent in a state store every replica shares
//! (`STREAM_TICKET_STATE_STORE`), so a ticket works once across all replicas. It keeps no data: it runs on the store-free runner and links no database driver.

use std::sync::Arc;
use taskflow_bus::service;

use taskflow_websocket::{
    DaprHistory, DaprLedger, DaprPats, SERVICE, StreamAccess, WebsocketConfig, standalone,
};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    service::main(SERVICE, async {
        let config = WebsocketConfig::from_env()?;
        service::run_stateless(SERVICE, &config.service, |dapr| {
            let ledger = DaprLedger::new(&dapr, &config.ticket_state_store)
                .map_err(|e| service::ServiceError::Dapr(e.to_string()))?;
            let mut access = StreamAccess::new(Arc::new(ledger), config.stream);
            if let Some(app_id) = &config.history_app_id {
                access = access.with_history(DaprHistory::new(dapr.clone(), app_id.as_str()));
            }
            if let Some(app_id) = &config.access_token_app_id {
                access = access.with_pats(DaprPats::new(dapr.clone(), app_id.as_str()));
            }
            standalone(&config.auth, &config.cors, &config.realtime, access)
        })
        .await
    })
    .await
}
