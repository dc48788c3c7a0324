//! Throttling of the two unauthenticated, password-hashing routes: login and registration.
//!
//! Login failures are counted per account (the normalised e-mail address, against guessing one
//! account's password) and per client address (against spraying one password over many accounts).
//! Registrations are counted per client address. A key that reaches its budget within the window is
//! locked for `lockout`, doubling with every further attempt, up to the window; a key with no attempt
//! for a whole window (after its lockout) is forgotten. A successful login clears its account's count
//! (not its address's: logging into one's own account must not reset a sprayer's budget).
//!
//! Attempts are counted *before* the password is checked and given back on success, so parallel
//! requests cannot slip past the budget while Argon2 runs.
//!
//! Where the counts live:
//! - `limits.rs`: the rules, shared by both backends;
//! - `memory.rs`: per-process tables, bounded by `max_keys`;
//! - `shared.rs` and `shared.lua`: Redis, when `REDIS_URL` is set, so that every replica counts
//!   against the same budgets, each decision one atomic script call;
//! - `outage.rs`: when Redis is unreachable the per-process tables decide (fail open: logins keep
//!   working, and each replica still bounds guessing with its own budgets), and the change is logged
//!   and exported as metrics;
//! - `keys.rs`: the client address, the account key, and their HMAC'd names in Redis.
//!
//! Besides these failure budgets, request rates (`rates.rs`, token buckets kept as GCRA, in Redis
//! through `rates.lua` when configured) limit every login attempt per account and per address —
//! successful ones too, since each costs an Argon2 hash — and each user's task writes, chat turns
//! and MCP calls (`throttled.rs`, the extractor the routes use).
//!
//! Routes see only [`AuthLimiter`]: `begin_login`/`login_succeeded`, `begin_registration` and
//! `user_request` (through [`Throttled`]).

mod keys;
mod limits;
mod memory;
mod outage;
mod rates;
mod shared;
mod throttled;

use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use taskflow_runtime::config::{self, ConfigError};
use taskflow_runtime::{ApiError, ErrorCode};

pub(crate) use keys::client_ip;
pub(crate) use limits::{Budget, Kind};
pub use rates::{Rate, RateConfig, RateKind};
pub use shared::RedisTarget;
pub(crate) use throttled::{ChatTurns, McpCalls, Throttled, Writes};

use keys::{KeyNames, account_key};
use memory::MemoryLimits;
use outage::Outage;
use rates::RateTable;
use shared::SharedLimits;

/// Where Redis keys live by default: `{prefix}:{kind}:{hash}`.
pub const DEFAULT_KEY_PREFIX: &str = "taskflow:auth-rate";

/// Limits and their environment variables (0 turns a budget off).
#[derive(Debug, Clone)]
pub struct AuthLimitConfig {
    /// `AUTH_RATE_WINDOW_SECS`: how long attempts are remembered.
    pub window: Duration,
    /// `AUTH_RATE_ACCOUNT_FAILURES`: failed logins per account within the window.
    pub account_failures: u32,
    /// `AUTH_RATE_IP_FAILURES`: failed logins per client address within the window.
    pub ip_failures: u32,
    /// `AUTH_RATE_IP_REGISTRATIONS`: registrations per client address within the window.
    pub ip_registrations: u32,
    /// `AUTH_RATE_LOCKOUT_SECS`: the first lockout once a budget is spent; it doubles per attempt.
    pub lockout: Duration,
    /// `TRUSTED_PROXY_HOPS`: reverse proxies in front that append to `X-Forwarded-For`.
    pub trusted_proxy_hops: usize,
    /// Under Dapr, the app token (`APP_API_TOKEN`) on the calls web relays for browsers: those name
    /// the browser in `taskflow-client-address` (see `keys::client_ip`). `None`: no relay is believed.
    pub relay_token: Option<String>,
    /// Keys kept per per-process table.
    pub max_keys: usize,
    /// `REDIS_URL` (backend-api only): share the budgets between replicas in this Redis.
    pub redis: Option<RedisTarget>,
    /// The Redis keys' prefix (tests give each run its own).
    pub redis_key_prefix: String,
    /// How long an attempt waits for Redis before the per-process budgets decide.
    pub redis_timeout: Duration,
    /// Request rates: all login attempts, and each user's writes, chat turns and MCP calls
    /// (`RATE_*`).
    pub rates: RateConfig,
}

impl Default for AuthLimitConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            account_failures: 5,
            ip_failures: 50,
            ip_registrations: 50,
            lockout: Duration::from_secs(60),
            trusted_proxy_hops: 0,
            relay_token: None,
            max_keys: 50_000,
            redis: None,
            redis_key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            redis_timeout: shared::DEFAULT_TIMEOUT,
            rates: RateConfig::default(),
        }
    }
}

impl AuthLimitConfig {
    /// The budgets from `AUTH_RATE_*` and `TRUSTED_PROXY_HOPS`; per process (see [`redis_from_env`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let window: u64 = config::parse_or("AUTH_RATE_WINDOW_SECS", d.window.as_secs())?;
        let lockout: u64 = config::parse_or("AUTH_RATE_LOCKOUT_SECS", d.lockout.as_secs())?;
        if window == 0 {
            return Err(ConfigError::Invalid {
                name: "AUTH_RATE_WINDOW_SECS",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        if lockout == 0 || lockout > window {
            return Err(ConfigError::Invalid {
                name: "AUTH_RATE_LOCKOUT_SECS",
                value: lockout.to_string(),
                reason: format!("must be from 1 to AUTH_RATE_WINDOW_SECS ({window})"),
            });
        }
        Ok(Self {
            window: Duration::from_secs(window),
            account_failures: config::parse_or("AUTH_RATE_ACCOUNT_FAILURES", d.account_failures)?,
            ip_failures: config::parse_or("AUTH_RATE_IP_FAILURES", d.ip_failures)?,
            ip_registrations: config::parse_or("AUTH_RATE_IP_REGISTRATIONS", d.ip_registrations)?,
            lockout: Duration::from_secs(lockout),
            trusted_proxy_hops: config::parse_or("TRUSTED_PROXY_HOPS", d.trusted_proxy_hops)?,
            rates: RateConfig::from_env()?,
            ..d
        })
    }

    /// The rules of one budget.
    pub fn budget(&self, kind: Kind) -> Budget {
        let limit = match kind {
            Kind::Account => self.account_failures,
            Kind::LoginAddress => self.ip_failures,
            Kind::RegistrationAddress => self.ip_registrations,
        };
        Budget {
            limit,
            lockout: self.lockout,
            window: self.window,
        }
    }
}

/// `REDIS_URL` and `REDIS_PASSWORD`: the Redis that replicas share the budgets through, if any.
/// A URL that does not parse is an error naming `REDIS_URL` (its credentials left out).
pub fn redis_from_env() -> Result<Option<RedisTarget>, ConfigError> {
    let Some(url) = config::var("REDIS_URL") else {
        return Ok(None);
    };
    let password = config::var("REDIS_PASSWORD");
    RedisTarget::parse(url.trim(), password.as_deref())
        .map(Some)
        .map_err(|reason| ConfigError::Invalid {
            name: "REDIS_URL",
            value: without_credentials(url.trim()),
            reason: format!("{reason} (expected redis://[:password@]host[:port][/db])"),
        })
}

/// `scheme://***@host…` for a URL with user information, so an error message never shows a password.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Redis and what the limiter knows of its health.
#[derive(Debug)]
struct Shared {
    limits: SharedLimits,
    outage: Outage,
}

/// The limiter shared by every worker of the app: Redis when configured and answering, else the
/// per-process tables.
#[derive(Debug)]
pub(crate) struct AuthLimiter {
    config: AuthLimitConfig,
    memory: MemoryLimits,
    rates: RateTable,
    shared: Option<Shared>,
}

/// Where an attempt was counted, so its outcome is reported to the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    Memory,
    Shared,
}

/// A login attempt that was let through and counted; report how it ended.
#[derive(Debug)]
#[must_use]
pub(crate) struct LoginAttempt {
    ip: String,
    account: String,
    counted: Counted,
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub(crate) fn too_many(wait: Duration, what: &str) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        ErrorCode::RateLimited,
        format!("too many {what}; retry after {} seconds", secs.max(1)),
    )
    .with_header("Retry-After", secs.max(1).to_string())
}

impl AuthLimiter {
    /// A limiter with `config`'s budgets. With `config.redis`, Redis keys are named with a key
    /// derived from `secret` (the deployment's `JWT_SECRET`); nothing is sent to Redis yet.
    pub fn new(config: AuthLimitConfig, secret: &[u8]) -> Result<Self, ConfigError> {
        let shared = match &config.redis {
            None => None,
            Some(target) => {
                let names = KeyNames::new(&config.redis_key_prefix, secret);
                let limits = SharedLimits::new(target, names, config.redis_timeout).map_err(|e| {
                    ConfigError::Invalid {
                        name: "REDIS_URL",
                        value: target.address(),
                        reason: e.to_string(),
                    }
                })?;
                Some(Shared {
                    limits,
                    outage: Outage::new(target.address()),
                })
            }
        };
        Ok(Self {
            memory: MemoryLimits::new(&config),
            rates: RateTable::new(config.rates, config.max_keys),
            shared,
            config,
        })
    }

    /// With Redis configured: connects once (bounded by the call timeout) and logs whether the
    /// budgets are shared. Never fails: an unreachable Redis means starting on per-process budgets.
    pub async fn connect(&self) {
        if let Some(shared) = &self.shared {
            match shared.limits.ping().await {
                Ok(()) => shared.outage.succeeded(),
                Err(e) => shared.outage.failed(&e, Instant::now()),
            }
        }
    }

    /// Sets `auth_rate_limit_redis_up` from this limiter's view; for the `/metrics` scrape hook.
    pub fn sample_metrics(&self) {
        if let Some(shared) = &self.shared {
            shared.outage.sample();
        }
    }

    /// Counts one attempt against every `(budget, key)` (in Redis when it answers, else in this
    /// process), or says how long to wait.
    async fn attempt(&self, keys: &[(Kind, &str)]) -> Result<Counted, Duration> {
        if let Some(shared) = &self.shared {
            if shared.outage.should_try(Instant::now()) {
                match shared.limits.attempt(keys, |k| self.config.budget(k)).await {
                    Ok(wait) => {
                        shared.outage.succeeded();
                        return match wait {
                            Some(wait) => Err(wait),
                            None => Ok(Counted::Shared),
                        };
                    }
                    Err(e) => shared.outage.failed(&e, Instant::now()),
                }
            }
            shared.outage.fell_back();
        }
        self.memory
            .attempt(keys, Instant::now())
            .map(|()| Counted::Memory)
    }

    /// Takes one request from every `(bucket, key)` (in Redis when it answers, else in this
    /// process), or says how long to wait.
    async fn take(&self, keys: &[(RateKind, &str)]) -> Result<(), Duration> {
        let rates = self.config.rates;
        let keys: Vec<(RateKind, &str)> = keys
            .iter()
            .copied()
            .filter(|(k, _)| !rates.rate(*k).is_off())
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            if shared.outage.should_try(Instant::now()) {
                match shared.limits.take(&keys, |k| rates.rate(k)).await {
                    Ok(wait) => {
                        shared.outage.succeeded();
                        return wait.map_or(Ok(()), Err);
                    }
                    Err(e) => shared.outage.failed(&e, Instant::now()),
                }
            }
            shared.outage.fell_back();
        }
        self.rates.take(&keys, Instant::now())
    }

    /// Counts one of `user_id`'s requests of `kind`, or refuses with 429 and `Retry-After`.
    pub async fn user_request(&self, kind: RateKind, user_id: &str) -> Result<(), ApiError> {
        self.take(&[(kind, user_id)])
            .await
            .map_err(|wait| too_many(wait, kind.what()))
    }

    /// Counts a login attempt for `account` from `req`'s client — against the request rates (every
    /// attempt) and the failure budgets — or refuses with 429 and `Retry-After`.
    pub async fn begin_login(&self, req: &HttpRequest, account: &str) -> Result<LoginAttempt, ApiError> {
        let ip = client_ip(
            req,
            self.config.trusted_proxy_hops,
            self.config.relay_token.as_deref(),
        );
        let account = account_key(account);
        self.take(&[
            (RateKind::AccountLogins, &account),
            (RateKind::AddressLogins, &ip),
        ])
        .await
        .map_err(|wait| too_many(wait, "login attempts"))?;
        let counted = self
            .attempt(&[(Kind::Account, &account), (Kind::LoginAddress, &ip)])
            .await
            .map_err(|wait| too_many(wait, "failed logins"))?;
        Ok(LoginAttempt { ip, account, counted })
    }

    /// The password was right: the account starts afresh and the address gets its attempt back.
    pub async fn login_succeeded(&self, attempt: LoginAttempt) {
        match (&self.shared, attempt.counted) {
            // Redis went away since the attempt was counted there: no login waits for it. The
            // account keeps its count, and the address this attempt, until their records expire.
            (Some(shared), Counted::Shared) if !shared.outage.should_try(Instant::now()) => {}
            (Some(shared), Counted::Shared) => {
                let budget = self.config.budget(Kind::LoginAddress);
                match shared
                    .limits
                    .login_succeeded(&attempt.account, &attempt.ip, budget)
                    .await
                {
                    Ok(()) => shared.outage.succeeded(),
                    // As above, and the outage is noted.
                    Err(e) => shared.outage.failed(&e, Instant::now()),
                }
            }
            _ => self.memory.login_succeeded(&attempt.account, &attempt.ip),
        }
    }

    /// Counts a registration from `req`'s client, or says how long to wait.
    pub async fn begin_registration(&self, req: &HttpRequest) -> Result<(), Duration> {
        let ip = client_ip(
            req,
            self.config.trusted_proxy_hops,
            self.config.relay_token.as_deref(),
        );
        self.attempt(&[(Kind::RegistrationAddress, &ip)])
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let e = too_many(Duration::from_millis(1500), "login attempts");
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert_eq!(e.headers, vec![("Retry-After", "2".to_owned())]);
        let e = too_many(Duration::from_millis(10), "login attempts");
        assert_eq!(e.headers, vec![("Retry-After", "1".to_owned())]);
    }

    #[test]
    fn redis_urls_are_checked_without_showing_credentials() {
        assert_eq!(
            without_credentials("redis://:hunter2@redis:6379/0"),
            "redis://***@redis:6379/0"
        );
        assert_eq!(without_credentials("redis://redis:6379"), "redis://redis:6379");
        assert!(RedisTarget::parse("redis//nope", None).is_err());
    }

    #[test]
    fn every_budget_has_its_own_limit_and_the_same_timing() {
        let c = AuthLimitConfig {
            account_failures: 1,
            ip_failures: 2,
            ip_registrations: 3,
            ..AuthLimitConfig::default()
        };
        let limits: Vec<u32> = [Kind::Account, Kind::LoginAddress, Kind::RegistrationAddress]
            .into_iter()
            .map(|k| c.budget(k).limit)
            .collect();
        assert_eq!(limits, [1, 2, 3]);
        assert_eq!(c.budget(Kind::Account).window, c.window);
        assert_eq!(c.budget(Kind::Account).lockout, c.lockout);
    }
}
