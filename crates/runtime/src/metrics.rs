//! Prometheus metrics rendered from the service's own `/metrics` route (no second listener).
//!
//! Counters and histograms are recorded where things happen; gauges that are cheap to read but
//! pointless to push (the database pool) are sampled at scrape time by an [`OnScrape`] hook the
//! service registers as app data.

use std::sync::{Arc, OnceLock};

use actix_web::{HttpRequest, HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets in seconds, from 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Installs the process-wide recorder once; every later call returns the same handle.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Sets gauges just before `/metrics` renders; register with `cfg.app_data(web::Data::new(..))`.
#[derive(Clone)]
pub struct OnScrape(Arc<dyn Fn() + Send + Sync>);

impl OnScrape {
    pub fn new(sample: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(sample))
    }

    /// This hook, then `more` (an app registers one `OnScrape`; several parts may need sampling).
    pub fn and(self, more: impl Fn() + Send + Sync + 'static) -> Self {
        let first = self.0;
        Self(Arc::new(move || {
            first();
            more();
        }))
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn render(req: HttpRequest) -> HttpResponse {
    if let Some(sample) = req.app_data::<web::Data<OnScrape>>() {
        (sample.0)();
    }
    match handle() {
        Some(h) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(h.render()),
        None => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// `GET /metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    handle();
    cfg.service(web::resource("/metrics").route(web::get().to(render)));
}
