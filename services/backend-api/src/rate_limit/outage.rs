//! Whether Redis is usable, and what an operator sees when it is not.
//!
//! While Redis answers, every attempt goes there. When a call fails or times out, the limiter falls
//! back to the per-process tables (failing open: a Redis outage must not lock every user out) and
//! stops asking Redis for every request — each would wait out the timeout — until a retry is due:
//! then one request tries Redis again, and the first that succeeds ends the outage. The state change
//! is logged once each way (`warn` on falling back, `info` on recovery), never per request; the
//! gauge `auth_rate_limit_redis_up` shows it, and `auth_rate_limit_fallbacks_total` counts the
//! attempts decided by the per-process tables meanwhile.

use std::fmt::Display;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often, during an outage, one request tries Redis again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Not asked yet.
    Unknown,
    Up,
    /// Down; the next request at or after `retry_at` tries again.
    Down {
        retry_at: Instant,
    },
}

/// Redis's health as the limiter has seen it.
#[derive(Debug)]
pub struct Outage {
    health: Mutex<Health>,
    /// Where Redis is, for the log lines (no credentials).
    address: String,
}

impl Outage {
    pub fn new(address: String) -> Self {
        Self {
            health: Mutex::new(Health::Unknown),
            address,
        }
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this attempt should ask Redis: yes unless it is down; during an outage, one attempt
    /// per [`RETRY_INTERVAL`] (the one that claims the retry).
    pub fn should_try(&self, now: Instant) -> bool {
        let mut health = self.health();
        match *health {
            Health::Unknown | Health::Up => true,
            Health::Down { retry_at } if now >= retry_at => {
                *health = Health::Down {
                    retry_at: now + RETRY_INTERVAL,
                };
                true
            }
            Health::Down { .. } => false,
        }
    }

    /// Redis answered.
    pub fn succeeded(&self) {
        let before = std::mem::replace(&mut *self.health(), Health::Up);
        match before {
            Health::Up => return,
            Health::Unknown => {
                tracing::info!(redis = %self.address, "login throttling shares its budgets through Redis");
            }
            Health::Down { .. } => {
                tracing::info!(redis = %self.address, "Redis is back: login throttling shares its budgets again");
            }
        }
        metrics::gauge!("auth_rate_limit_redis_up").set(1.0);
    }

    /// Redis failed or did not answer in time.
    pub fn failed(&self, error: &dyn Display, now: Instant) {
        let before = std::mem::replace(
            &mut *self.health(),
            Health::Down {
                retry_at: now + RETRY_INTERVAL,
            },
        );
        if !matches!(before, Health::Down { .. }) {
            tracing::warn!(
                redis = %self.address,
                error = %error,
                "Redis is unreachable: login throttling falls back to per-process budgets until it answers again"
            );
            metrics::gauge!("auth_rate_limit_redis_up").set(0.0);
        }
    }

    /// An attempt was decided by the per-process tables because Redis was unavailable.
    pub fn fell_back(&self) {
        metrics::counter!("auth_rate_limit_fallbacks_total").increment(1);
    }

    /// Sets the gauge from this limiter's view (at scrape time: several apps may share a process).
    pub fn sample(&self) {
        match *self.health() {
            Health::Unknown => {}
            Health::Up => metrics::gauge!("auth_rate_limit_redis_up").set(1.0),
            Health::Down { .. } => metrics::gauge!("auth_rate_limit_redis_up").set(0.0),
        }
    }

    #[cfg(test)]
    fn is_up(&self) -> Option<bool> {
        match *self.health() {
            Health::Unknown => None,
            Health::Up => Some(true),
            Health::Down { .. } => Some(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn during_an_outage_one_attempt_per_interval_tries_redis() {
        let o = Outage::new("redis:6379".into());
        let t0 = Instant::now();
        assert!(o.should_try(t0), "unknown: try");
        o.failed(&"connection refused", t0);
        assert_eq!(o.is_up(), Some(false));
        assert!(!o.should_try(t0));
        assert!(!o.should_try(t0 + RETRY_INTERVAL / 2));
        let due = t0 + RETRY_INTERVAL;
        assert!(o.should_try(due), "the retry is due");
        assert!(!o.should_try(due), "and only one attempt gets it");
        o.failed(&"still refused", due);
        assert!(!o.should_try(due + RETRY_INTERVAL / 2));
        assert!(o.should_try(due + RETRY_INTERVAL));
        o.succeeded();
        assert_eq!(o.is_up(), Some(true));
        assert!(o.should_try(due + RETRY_INTERVAL), "up: every attempt");
    }
}
