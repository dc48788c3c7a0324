//! Throttling of the two unauthenticated, password-hashing routes: login and registration.
//!
//! Login failures are counted per account (the normalised e-mail address, against guessing one
//! account's password) and per client address (against spraying one password over many accounts).
//! Registrations are counted per client address. A key that reaches its budget within the window is
//! locked for `lockout`, doubling with every further attempt, up to the window; a key with no attempt
//! for a whole window (after its lockout) is forgotten. A successful login clears its account's count (not its address's:
//! logging into one's own account must not reset a sprayer's budget).
//!
//! Attempts are counted *before* the password is checked and given back on success, so parallel
//! requests cannot slip past the budget while Argon2 runs. Memory is bounded: each table holds at most
//! `max_keys` keys, evicting forgotten ones first, then the least recently used.
//!
//! The client address is the socket peer. Behind reverse proxies, `trusted_proxy_hops` says how many
//! of them append to `X-Forwarded-For`; the address that many entries from the right is the client's.
//! Left at 0 (the default) the header is ignored, so a client cannot choose its own address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use taskflow_runtime::config::{self, ConfigError};
use taskflow_runtime::{ApiError, ErrorCode};

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
    /// Keys kept per table.
    pub max_keys: usize,
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
            max_keys: 50_000,
        }
    }
}

impl AuthLimitConfig {
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
            max_keys: d.max_keys,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u32,
    last: Instant,
}

/// Attempts per key, with a budget.
#[derive(Debug)]
struct Table {
    entries: HashMap<String, Entry>,
    limit: u32,
}

impl Table {
    fn new(limit: u32) -> Self {
        Self {
            entries: HashMap::new(),
            limit,
        }
    }

    /// The lockout an entry's count earns: none under the budget, then `lockout` doubling per
    /// attempt, up to the window.
    fn lock(&self, entry: Entry, c: &AuthLimitConfig) -> Duration {
        if self.limit == 0 || entry.count < self.limit {
            return Duration::ZERO;
        }
        let doublings = (entry.count - self.limit).min(16);
        c.lockout.saturating_mul(1 << doublings).min(c.window)
    }

    /// The live entry of `key`: one idle for a whole window after its lockout counts as none.
    fn live(&self, key: &str, now: Instant, c: &AuthLimitConfig) -> Option<Entry> {
        let entry = self.entries.get(key).copied()?;
        (now.saturating_duration_since(entry.last) < self.lock(entry, c) + c.window).then_some(entry)
    }

    /// How long `key` must still wait, if its budget is spent.
    fn wait(&self, key: &str, now: Instant, c: &AuthLimitConfig) -> Option<Duration> {
        let entry = self.live(key, now, c)?;
        let until = entry.last + self.lock(entry, c);
        (until > now).then(|| until - now)
    }

    fn add(&mut self, key: &str, now: Instant, c: &AuthLimitConfig) {
        if self.limit == 0 {
            return;
        }
        let count = self.live(key, now, c).map_or(0, |e| e.count);
        if !self.entries.contains_key(key) && self.entries.len() >= c.max_keys {
            self.evict(now, c);
        }
        self.entries.insert(
            key.to_owned(),
            Entry {
                count: count.saturating_add(1),
                last: now,
            },
        );
    }

    /// Gives back one attempt (a login that succeeded).
    fn give_back(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.count = e.count.saturating_sub(1);
        }
    }

    fn clear(&mut self, key: &str) {
        self.entries.remove(key);
    }

    fn evict(&mut self, now: Instant, c: &AuthLimitConfig) {
        let forgotten: Vec<String> = self
            .entries
            .keys()
            .filter(|k| self.live(k, now, c).is_none())
            .cloned()
            .collect();
        for key in forgotten {
            self.entries.remove(&key);
        }
        if self.entries.len() >= c.max_keys
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
    }
}

#[derive(Debug)]
struct Tables {
    accounts: Table,
    login_ips: Table,
    register_ips: Table,
}

/// The limiter shared by every worker of the app.
#[derive(Debug)]
pub struct AuthLimiter {
    config: AuthLimitConfig,
    tables: Mutex<Tables>,
}

/// A login attempt that was let through and counted; report how it ended.
#[derive(Debug)]
#[must_use]
pub struct LoginAttempt {
    ip: String,
    account: String,
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub fn too_many(wait: Duration, what: &str) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        ErrorCode::RateLimited,
        format!("too many {what}; retry after {} seconds", secs.max(1)),
    )
    .with_header("Retry-After", secs.max(1).to_string())
}

impl AuthLimiter {
    pub fn new(config: AuthLimitConfig) -> Self {
        let tables = Tables {
            accounts: Table::new(config.account_failures),
            login_ips: Table::new(config.ip_failures),
            register_ips: Table::new(config.ip_registrations),
        };
        Self {
            config,
            tables: Mutex::new(tables),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // The tables hold counters only; one left by a panicking holder is still usable.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a login attempt for `account` from `req`'s client, or says how long to wait.
    pub fn begin_login(&self, req: &HttpRequest, account: &str) -> Result<LoginAttempt, Duration> {
        self.begin_login_at(
            client_ip(req, self.config.trusted_proxy_hops),
            account,
            Instant::now(),
        )
    }

    fn begin_login_at(&self, ip: String, account: &str, now: Instant) -> Result<LoginAttempt, Duration> {
        let account = account_key(account);
        let c = &self.config;
        let mut t = self.tables();
        let wait = [t.accounts.wait(&account, now, c), t.login_ips.wait(&ip, now, c)]
            .into_iter()
            .flatten()
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        t.accounts.add(&account, now, c);
        t.login_ips.add(&ip, now, c);
        Ok(LoginAttempt { ip, account })
    }

    /// The password was right: the account starts afresh and the address gets its attempt back.
    pub fn login_succeeded(&self, attempt: LoginAttempt) {
        let mut t = self.tables();
        t.accounts.clear(&attempt.account);
        t.login_ips.give_back(&attempt.ip);
    }

    /// Counts a registration from `req`'s client, or says how long to wait.
    pub fn begin_registration(&self, req: &HttpRequest) -> Result<(), Duration> {
        self.begin_registration_at(client_ip(req, self.config.trusted_proxy_hops), Instant::now())
    }

    fn begin_registration_at(&self, ip: String, now: Instant) -> Result<(), Duration> {
        let c = &self.config;
        let mut t = self.tables();
        if let Some(wait) = t.register_ips.wait(&ip, now, c) {
            return Err(wait);
        }
        t.register_ips.add(&ip, now, c);
        Ok(())
    }
}

/// The key of an account: the normalised address, or the trimmed, lower-cased input when it is not
/// one (so garbage is throttled too), bounded in length.
fn account_key(raw: &str) -> String {
    let key = taskflow_domain::user::normalise_email(raw).unwrap_or_else(|_| raw.trim().to_lowercase());
    key.chars().take(320).collect()
}

/// The client's address as a key: the socket peer, or with `hops` trusted proxies the address they
/// recorded in `X-Forwarded-For`. IPv6 clients are keyed by their /64, which one host usually owns.
pub fn client_ip(req: &HttpRequest, hops: usize) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    let forwarded = (hops > 0)
        .then(|| {
            let entries: Vec<&str> = req
                .headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .collect();
            let index = entries.len().checked_sub(hops)?;
            entries.get(index)?.parse::<IpAddr>().ok()
        })
        .flatten();
    match forwarded.or(peer) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or_else(String::new, |v4| v4.to_string()),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limiter(account: u32, ip: u32, max_keys: usize) -> AuthLimiter {
        AuthLimiter::new(AuthLimitConfig {
            account_failures: account,
            ip_failures: ip,
            ip_registrations: 2,
            max_keys,
            ..AuthLimitConfig::default()
        })
    }

    #[test]
    fn lockouts_double_per_attempt_up_to_the_window_then_expire() {
        let l = limiter(3, 0, 100);
        let t0 = Instant::now();
        let mut now = t0;
        for _ in 0..3 {
            let _ = l.begin_login_at("1.2.3.4".into(), "a@example.com", now).unwrap();
        }
        let wait = l
            .begin_login_at("1.2.3.4".into(), "A@Example.com ", now)
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
        let mut expected = 60;
        for _ in 0..6 {
            now += Duration::from_secs(expected);
            let _ = l.begin_login_at("1.2.3.4".into(), "a@example.com", now).unwrap();
            expected = (expected * 2).min(900);
            assert_eq!(
                l.begin_login_at("1.2.3.4".into(), "a@example.com", now)
                    .unwrap_err(),
                Duration::from_secs(expected)
            );
        }
        assert_eq!(expected, 900, "capped at the window");
        // A whole window without attempts after the lockout forgets the account.
        now += Duration::from_secs(900 + 899);
        assert!(l.begin_login_at("1.2.3.4".into(), "a@example.com", now).is_ok());
        assert!(l.begin_login_at("1.2.3.4".into(), "a@example.com", now).is_err());
        now += Duration::from_secs(900 + 900);
        let _ = l.begin_login_at("1.2.3.4".into(), "a@example.com", now).unwrap();
    }

    #[test]
    fn success_clears_the_account_but_only_gives_back_one_address_attempt() {
        let l = limiter(2, 3, 100);
        let now = Instant::now();
        let a = l.begin_login_at("ip".into(), "a@example.com", now).unwrap();
        drop(a);
        let ok = l.begin_login_at("ip".into(), "a@example.com", now).unwrap();
        l.login_succeeded(ok);
        let _ = l.begin_login_at("ip".into(), "a@example.com", now).unwrap();
        let _ = l.begin_login_at("ip".into(), "b@example.com", now).unwrap();
        // Three failures from "ip" now: its budget is spent, whatever the account.
        assert!(l.begin_login_at("ip".into(), "c@example.com", now).is_err());
        assert!(l.begin_login_at("other".into(), "c@example.com", now).is_ok());
    }

    #[test]
    fn registrations_are_counted_per_address() {
        let l = limiter(5, 5, 100);
        let now = Instant::now();
        l.begin_registration_at("ip".into(), now).unwrap();
        l.begin_registration_at("ip".into(), now).unwrap();
        assert!(l.begin_registration_at("ip".into(), now).is_err());
        assert!(l.begin_registration_at("ip2".into(), now).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let l = limiter(5, 0, 10);
        let now = Instant::now();
        for i in 0..1000 {
            let _ = l.begin_login_at("ip".into(), &format!("u{i}@example.com"), now);
        }
        assert!(l.tables().accounts.entries.len() <= 10);
    }

    #[test]
    fn a_zero_budget_is_off() {
        let l = limiter(0, 0, 10);
        let now = Instant::now();
        for _ in 0..100 {
            let _ = l.begin_login_at("ip".into(), "a@example.com", now).unwrap();
        }
        assert!(l.tables().accounts.entries.is_empty());
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        let e = too_many(Duration::from_millis(1500), "login attempts");
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert_eq!(e.headers, vec![("Retry-After", "2".to_owned())]);
        let e = too_many(Duration::from_millis(10), "login attempts");
        assert_eq!(e.headers, vec![("Retry-After", "1".to_owned())]);
    }

    #[test]
    fn forwarded_for_is_only_trusted_when_configured() {
        use actix_web::test::TestRequest;
        let peer = "10.0.0.9:5000".parse().unwrap();
        let req = TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "6.6.6.6, 1.2.3.4"))
            .to_http_request();
        assert_eq!(client_ip(&req, 0), "10.0.0.9");
        assert_eq!(client_ip(&req, 1), "1.2.3.4");
        assert_eq!(client_ip(&req, 2), "6.6.6.6");
        assert_eq!(client_ip(&req, 3), "10.0.0.9", "fewer entries than proxies");
        let v6 = TestRequest::default()
            .peer_addr("[2001:db8:1:2:3:4:5:6]:80".parse().unwrap())
            .to_http_request();
        assert_eq!(client_ip(&v6, 0), "2001:db8:1:2::/64");
    }
}
