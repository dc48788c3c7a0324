//! What a service that keeps data adds to `/ready` and `/metrics`: the database answers, and the
//! connection pool's gauges.

use taskflow_runtime::health::{CheckFuture, ReadinessCheck};
use taskflow_runtime::metrics::OnScrape;
use taskflow_store::Store;

/// `/ready`: the database answers.
pub struct DatabaseCheck(pub Store);

impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            self.0
                .ping()
                .await
                .map(|()| "ok".to_owned())
                .map_err(|e| e.to_string())
        })
    }
}

/// Samples the `db_pool_*` gauges from `store` whenever `/metrics` is scraped; register it as app data.
pub fn pool_metrics(store: Store) -> OnScrape {
    OnScrape::new(move || {
        let stats = store.pool_stats();
        let in_use = stats.open.saturating_sub(stats.idle);
        metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(stats.idle));
        metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(in_use));
        metrics::gauge!("db_pool_max_connections").set(f64::from(stats.max));
    })
}
