//! `/health` says the process is alive; `/ready` says its dependencies answer.
//!
//! Liveness never touches a dependency (a database outage must not get every pod restarted);
//! readiness runs each registered check with a short timeout and reports them by name.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;

/// `Ok(detail)` when healthy (e.g. `"ok"`, `"3 pending, oldest 0.2 s"`), `Err(why)` when not.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// A dependency `/ready` must reach.
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &'static str;
    fn check(&self) -> CheckFuture<'_>;
}

/// The checks `/ready` runs.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl Readiness {
    pub fn with(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    /// `ok`, `ready` or `unavailable`.
    pub status: &'static str,
    /// Each dependency: `ok` (or a status detail), or what went wrong.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<&'static str, String>,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = HealthReport)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthReport {
        status: "ok",
        checks: BTreeMap::new(),
    })
}

/// Readiness: every dependency answered within two seconds.
#[utoipa::path(get, path = "/ready", tag = "operations", responses(
    (status = 200, body = HealthReport), (status = 503, body = HealthReport)))]
pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let mut checks = BTreeMap::new();
    let mut ok = true;
    for check in &readiness.checks {
        let outcome = match tokio::time::timeout(Duration::from_secs(2), check.check()).await {
            Ok(Ok(detail)) => detail,
            Ok(Err(e)) => {
                ok = false;
                e
            }
            Err(_) => {
                ok = false;
                "timed out".to_owned()
            }
        };
        checks.insert(check.name(), outcome);
    }
    if ok {
        HttpResponse::Ok().json(HealthReport {
            status: "ready",
            checks,
        })
    } else {
        tracing::warn!(?checks, "not ready");
        HttpResponse::ServiceUnavailable().json(HealthReport {
            status: "unavailable",
            checks,
        })
    }
}

/// Registers `/health` and `/ready`; the app must provide `web::Data<Readiness>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health)))
        .service(web::resource("/ready").route(web::get().to(ready)));
}
