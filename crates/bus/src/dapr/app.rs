//! The routes daprd calls on the app: the subscription list, event deliveries and cron ticks.
//!
//! Replies follow the sidecar contract: 200 with `{"status": "SUCCESS" | "RETRY" | "DROP"}`; a body
//! that is not a CloudEvent is DROPped with a log line, never a panic or a 500. When `APP_API_TOKEN`
//! is set, every call must carry it in `dapr-api-token`, or gets 401.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use taskflow_runtime::ApiError;
use taskflow_runtime::json::{DEFAULT_BODY_LIMIT, read_body};
use taskflow_runtime::secret::same_secret;

use crate::cron::CronHandler;
use crate::handler::Outcome;
use crate::{Subscription, cloudevent};

/// The token daprd must present (`APP_API_TOKEN`); `None` disables the check.
#[derive(Clone)]
struct AppToken(Option<String>);

/// Rejects requests without the configured `dapr-api-token`.
pub async fn app_token_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let expected = req.app_data::<web::Data<AppToken>>().and_then(|t| t.0.clone());
    if let Some(expected) = expected {
        let given = req
            .headers()
            .get("dapr-api-token")
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        if !same_secret(&given, expected.as_bytes()) {
            tracing::warn!(path = %req.path(), "sidecar call without the app token refused");
            return Err(ApiError::unauthorized("missing or wrong dapr-api-token").into());
        }
    }
    next.call(req).await
}

/// The Dapr-facing side of one service.
#[derive(Clone)]
pub struct DaprApp {
    pubsub: String,
    subscriptions: Arc<Vec<Subscription>>,
    crons: Vec<(String, Arc<dyn CronHandler>)>,
    app_token: Option<String>,
}

impl DaprApp {
    pub fn new(pubsub: &str, subscriptions: Vec<Subscription>, app_token: Option<String>) -> Self {
        Self {
            pubsub: pubsub.into(),
            subscriptions: Arc::new(subscriptions),
            crons: Vec::new(),
            app_token,
        }
    }

    /// Serves a cron input binding named `binding` at `/{binding}`.
    pub fn with_cron(mut self, binding: &str, handler: Arc<dyn CronHandler>) -> Self {
        self.crons.push((format!("/{binding}"), handler));
        self
    }

    fn subscription_list(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.subscriptions
                .iter()
                .map(|s| {
                    json!({
                        "pubsubname": self.pubsub,
                        "topic": s.topic,
                        "routes": {"default": s.route()},
                        "deadLetterTopic": s.dead_letter_topic(),
                    })
                })
                .collect(),
        )
    }

    /// Mounts `/dapr/subscribe`, one route per subscription and one per cron binding.
    pub fn configure(self) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
        move |cfg: &mut web::ServiceConfig| {
            let list = self.subscription_list();
            cfg.app_data(web::Data::new(AppToken(self.app_token.clone())));
            cfg.service(
                web::resource("/dapr/subscribe")
                    .wrap(from_fn(app_token_guard))
                    .route(web::get().to(move || {
                        let list = list.clone();
                        async move { HttpResponse::Ok().json(list) }
                    })),
            );
            for sub in self.subscriptions.iter().cloned() {
                let route = sub.route();
                let sub = Arc::new(sub);
                cfg.service(
                    web::resource(route)
                        .wrap(from_fn(app_token_guard))
                        .route(web::post().to(move |req: HttpRequest, payload: web::Payload| {
                            let sub = sub.clone();
                            async move { deliver(&sub, &req, payload).await }
                        })),
                );
            }
            for (route, handler) in self.crons {
                cfg.service(
                    web::resource(route.clone())
                        .wrap(from_fn(app_token_guard))
                        .route(
                            web::method(actix_web::http::Method::OPTIONS)
                                .to(|| async { HttpResponse::Ok().finish() }),
                        )
                        .route(web::post().to(move || {
                            let (handler, route) = (handler.clone(), route.clone());
                            async move {
                                match handler.tick().await {
                                    Ok(()) => HttpResponse::Ok().finish(),
                                    Err(e) => {
                                        tracing::warn!(binding = %route, error = %e, "cron tick failed");
                                        HttpResponse::InternalServerError().json(
                                            json!({"error": {"code": "internal", "message": "tick failed"}}),
                                        )
                                    }
                                }
                            }
                        })),
                );
            }
        }
    }
}

fn reply(outcome: &Outcome) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": outcome.dapr_status()}))
}

async fn deliver(sub: &Subscription, req: &HttpRequest, mut payload: web::Payload) -> HttpResponse {
    let body = match read_body(req, &mut payload, DEFAULT_BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(subscriber = %sub.subscriber, topic = %sub.topic, error = %e.message, "undeliverable body dropped");
            return reply(&Outcome::Drop(e.message));
        }
    };
    let event = match cloudevent::parse(&body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(subscriber = %sub.subscriber, topic = %sub.topic, error = %e, "malformed event dropped");
            metrics::counter!("bus_deliveries_total", "topic" => sub.topic.clone(), "subscriber" => sub.subscriber.clone(), "outcome" => "drop").increment(1);
            return reply(&Outcome::Drop(e.to_string()));
        }
    };
    let outcome = crate::handler::dispatch(sub, &event).await;
    metrics::counter!("bus_deliveries_total", "topic" => sub.topic.clone(), "subscriber" => sub.subscriber.clone(), "outcome" => outcome.label())
        .increment(1);
    match &outcome {
        Outcome::Success => {}
        Outcome::Retry(why) => {
            tracing::info!(event_id = %event.id, subscriber = %sub.subscriber, reason = %why, "delivery to be retried")
        }
        Outcome::Drop(why) => {
            tracing::warn!(event_id = %event.id, subscriber = %sub.subscriber, reason = %why, "event dropped")
        }
    }
    reply(&outcome)
}
