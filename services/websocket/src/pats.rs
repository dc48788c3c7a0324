//! Personal access tokens on the streams under Dapr. websocket keeps no data, so it asks backend-api
//! whose token a `tf_pat_…` is, through service invocation (`GET /internal/access-tokens/{hash}`,
//! like the resume history's `/internal/events`). Only the token's SHA-256 travels, never the
//! secret. In the `taskflow` binary the API's authenticator reads the store directly instead.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use taskflow_auth::{AuthError, PatFuture, PatResolver, ResolvedPat, Scope, Scopes};
use taskflow_bus::dapr::DaprClient;

/// How long a connecting client waits for backend-api at most.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
struct Answer {
    known: bool,
    #[serde(default)]
    token_id: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    scopes: Vec<String>,
}

/// backend-api's personal access tokens, through the sidecar.
pub struct DaprPats {
    dapr: DaprClient,
    app_id: String,
}

impl DaprPats {
    pub fn new(dapr: DaprClient, app_id: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            dapr,
            app_id: app_id.into(),
        })
    }
}

impl PatResolver for DaprPats {
    fn resolve<'a>(&'a self, token_hash: &'a str) -> PatFuture<'a> {
        Box::pin(async move {
            // The hash is lower-case hex: nothing in it needs escaping.
            if !token_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(None);
            }
            let method = format!("internal/access-tokens/{token_hash}");
            let body = self
                .dapr
                .invoke_get(&self.app_id, &method, INVOKE_TIMEOUT)
                .await
                .map_err(|e| AuthError::TokensUnavailable(e.to_string()))?;
            let answer: Answer =
                serde_json::from_slice(&body).map_err(|e| AuthError::TokensUnavailable(e.to_string()))?;
            if !answer.known || answer.user_id.is_empty() {
                return Ok(None);
            }
            Ok(Some(ResolvedPat {
                token_id: answer.token_id,
                user_id: answer.user_id,
                scopes: Scopes::new(answer.scopes.iter().filter_map(|s| Scope::parse(s))),
            }))
        })
    }
}
