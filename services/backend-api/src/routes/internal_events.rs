//! `GET /internal/events/{user_id}?after={event_id}&limit={n}`: the events published for a user after
//! one of theirs, from the outbox, for the websocket service under Dapr.
//!
//! A websocket replica that restarted, or that a client reconnects to from another replica, lacks
//! the client's missed events in its buffer; websocket keeps no data, so it asks here through
//! service invocation. The route trusts its caller for the user id, so it exists only beside a
//! sidecar that authenticates itself (`APP_API_TOKEN`, checked by `app_token_guard`), and the Helm
//! chart's access policy admits only the websocket app to it; it is never on the public API.
//! The answer is always 200 — `{"known": false}` for an id that is not in the history — so that any
//! other status the caller sees is daprd's or a failure, never "nothing missed".

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use taskflow_bus::dapr::app_token_guard;
use taskflow_store::{EventsAfter, Store};
use uuid::Uuid;

use crate::error::HandlerResult;

/// The most events one answer holds: websocket reads a page at a time (its `HISTORY_PAGE`), so what
/// one call loads stays small whatever the caller asks.
pub const MAX_LIMIT: u64 = 500;

#[derive(Deserialize)]
struct Query {
    after: String,
    limit: Option<u64>,
}

async fn events_after(
    store: web::Data<Store>,
    path: web::Path<String>,
    query: web::Query<Query>,
) -> HandlerResult<HttpResponse> {
    let user_id = path.into_inner();
    let Ok(after) = Uuid::parse_str(&query.after) else {
        return Ok(HttpResponse::Ok().json(json!({"known": false})));
    };
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    Ok(
        match store.outbox().published_after(&user_id, after, limit).await? {
            EventsAfter::Unknown => HttpResponse::Ok().json(json!({"known": false})),
            EventsAfter::Events(events) => {
                let events: Vec<_> = events
                    .into_iter()
                    .map(|e| json!({"id": e.event_id, "type": e.topic, "data": e.payload}))
                    .collect();
                HttpResponse::Ok().json(json!({"known": true, "events": events}))
            }
        },
    )
}

/// Mounts the route behind the sidecar's app token; the app must also carry `DaprApp`'s token data
/// (its `configure`) and `web::Data<Store>`.
pub fn configure(store: Store) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.service(
            web::resource("/internal/events/{user_id}")
                .app_data(web::Data::new(store))
                .wrap(from_fn(app_token_guard))
                .route(web::get().to(events_after)),
        );
    }
}
