//! The glue that lets the auth crate check personal access tokens against the store: used by
//! backend-api's authenticator, by the `taskflow` binary's websocket endpoints, and behind
//! `/internal/access-tokens` for the database-free websocket service under Dapr.

use taskflow_auth::{AuthError, PatFuture, PatResolver, ResolvedPat, Scopes};
use taskflow_domain::time;
use taskflow_store::Store;

/// Resolves `tf_pat_…` tokens from the database (recording their use at most once a minute).
pub struct StorePatResolver(pub Store);

impl PatResolver for StorePatResolver {
    fn resolve<'a>(&'a self, token_hash: &'a str) -> PatFuture<'a> {
        Box::pin(async move {
            let found = self
                .0
                .access_tokens()
                .use_token(token_hash, time::now())
                .await
                .map_err(|e| AuthError::TokensUnavailable(e.to_string()))?;
            Ok(found.map(|t| ResolvedPat {
                token_id: t.id.to_string(),
                user_id: t.user_id,
                scopes: Scopes::from_stored(&t.scopes),
            }))
        })
    }
}
