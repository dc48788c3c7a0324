//! `GET /internal/access-tokens/{token_hash}`: whose live personal access token has this hash, and
//! its scopes, for the websocket service under Dapr (it keeps no database, yet must admit a
//! `tf_pat_…` token on its streams).
//!
//! Only the SHA-256 of the token travels, never the secret. Like `/internal/events`, the route exists
//! only beside a sidecar that authenticates itself (`APP_API_TOKEN`, checked by `app_token_guard`),
//! and the Helm chart's access policy admits only the websocket app to it. The answer is always 200
//! — `{"known": false}` for an unknown, revoked or expired token — so any other status websocket
//! sees is a failure (503 to its client), never "no such token".

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use serde_json::json;
use taskflow_auth::PatResolver;
use taskflow_bus::dapr::app_token_guard;

use crate::pat_resolver::StorePatResolver;

async fn resolve(
    resolver: web::Data<StorePatResolver>,
    path: web::Path<String>,
) -> Result<HttpResponse, taskflow_runtime::ApiError> {
    let hash = path.into_inner();
    let found = resolver
        .resolve(&hash)
        .await
        .map_err(|e| taskflow_runtime::ApiError::unavailable("personal access tokens", &e))?;
    Ok(match found {
        Some(pat) => HttpResponse::Ok().json(json!({
            "known": true,
            "token_id": pat.token_id,
            "user_id": pat.user_id,
            "scopes": pat.scopes.names(),
        })),
        None => HttpResponse::Ok().json(json!({"known": false})),
    })
}

/// Mounts the route behind the sidecar's app token; the app must also carry `DaprApp`'s token data.
pub fn configure(resolver: StorePatResolver) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    let resolver = web::Data::new(resolver);
    move |cfg: &mut web::ServiceConfig| {
        cfg.service(
            web::resource("/internal/access-tokens/{token_hash}")
                .app_data(resolver)
                .wrap(from_fn(app_token_guard))
                .route(web::get().to(resolve)),
        );
    }
}
