//! Request rates: token buckets for every login attempt (per account and per address, successful or
//! not, so a few accounts cannot keep the Argon2 pool busy) and for each user's chat turns, MCP calls
//! and task writes (so one account cannot run up the model's bill or the database's work).
//!
//! A bucket is kept as GCRA (the generic cell rate algorithm): one number per key, the theoretical
//! arrival time `tat` of the next request. Each request moves it one `interval` on; a request is let
//! through while `tat` is at most `burst - 1` intervals ahead of now. That is a token bucket of
//! `burst` tokens refilled one per `interval`, with nothing to sweep: a key whose `tat` has passed is
//! the same as no key. These functions are the rules; the per-process [`RateTable`] and the Redis
//! script `rates.lua` keep the numbers, and decide alike.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use taskflow_runtime::config::{self, ConfigError};

/// What a bucket limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKind {
    /// Every login attempt for one account (normalised e-mail).
    AccountLogins,
    /// Every login attempt from one client address.
    AddressLogins,
    /// A user's task writes (POST/PUT/PATCH/DELETE on tasks, quick-add).
    Writes,
    /// A user's chat turns (plain and streamed).
    ChatTurns,
    /// A user's requests to `/mcp`.
    McpCalls,
}

impl RateKind {
    /// The name used in Redis keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountLogins => "rate-login-account",
            Self::AddressLogins => "rate-login-ip",
            Self::Writes => "rate-writes",
            Self::ChatTurns => "rate-chat",
            Self::McpCalls => "rate-mcp",
        }
    }

    /// What the 429 message says there were too many of.
    pub fn what(self) -> &'static str {
        match self {
            Self::AccountLogins => "login attempts for this account",
            Self::AddressLogins => "login attempts from this address",
            Self::Writes => "task writes",
            Self::ChatTurns => "chat messages",
            Self::McpCalls => "MCP requests",
        }
    }
}

/// A bucket's shape: one request per `interval` on average, `burst` at once. `burst == 0` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub interval: Duration,
    pub burst: u32,
}

impl Rate {
    /// No limit.
    pub const OFF: Self = Self {
        interval: Duration::ZERO,
        burst: 0,
    };

    /// `count` requests per `period`, `burst` at once; off when either is 0.
    pub fn per(count: u32, period: Duration, burst: u32) -> Self {
        if count == 0 || burst == 0 {
            return Self::OFF;
        }
        Self {
            interval: period / count,
            burst,
        }
    }

    pub fn is_off(&self) -> bool {
        self.burst == 0 || self.interval.is_zero()
    }

    /// How far ahead of now the next arrival time may be.
    fn tolerance(&self) -> Duration {
        self.interval.saturating_mul(self.burst.saturating_sub(1))
    }

    /// One request at `now` (times since any fixed origin) against a bucket whose next arrival time
    /// is `tat`: the new `tat`, or how long to wait.
    pub fn take(&self, tat: Option<Duration>, now: Duration) -> Result<Duration, Duration> {
        if self.is_off() {
            return Ok(now);
        }
        let tat = tat.map_or(now, |t| t.max(now));
        let ahead = tat - now;
        if ahead > self.tolerance() {
            Err(ahead - self.tolerance())
        } else {
            Ok(tat + self.interval)
        }
    }
}

/// The buckets and their environment variables (a count of 0 turns one off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    /// `RATE_LOGINS_PER_ACCOUNT_PER_MIN` (10, all at once).
    pub account_logins: Rate,
    /// `RATE_LOGINS_PER_IP_PER_MIN` (60, all at once).
    pub address_logins: Rate,
    /// `RATE_WRITES_PER_SEC` (10) and `RATE_WRITES_BURST` (100).
    pub writes: Rate,
    /// `RATE_CHAT_PER_MIN` (30) and `RATE_CHAT_BURST` (10).
    pub chat: Rate,
    /// `RATE_MCP_PER_SEC` (10) and `RATE_MCP_BURST` (60).
    pub mcp: Rate,
}

const MINUTE: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            account_logins: Rate::per(10, MINUTE, 10),
            address_logins: Rate::per(60, MINUTE, 60),
            writes: Rate::per(10, SECOND, 100),
            chat: Rate::per(30, MINUTE, 10),
            mcp: Rate::per(10, SECOND, 60),
        }
    }
}

impl RateConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let logins = |name, default: u32| -> Result<Rate, ConfigError> {
            let n = config::parse_or(name, default)?;
            Ok(Rate::per(n, MINUTE, n))
        };
        let rate = |count: &'static str, default: u32, period, burst: &'static str, default_burst: u32| {
            let n: u32 = config::parse_or(count, default)?;
            let b: u32 = config::parse_or(burst, default_burst)?;
            Ok::<_, ConfigError>(Rate::per(n, period, b))
        };
        Ok(Self {
            account_logins: logins("RATE_LOGINS_PER_ACCOUNT_PER_MIN", 10)?,
            address_logins: logins("RATE_LOGINS_PER_IP_PER_MIN", 60)?,
            writes: rate("RATE_WRITES_PER_SEC", 10, SECOND, "RATE_WRITES_BURST", 100)?,
            chat: rate("RATE_CHAT_PER_MIN", 30, MINUTE, "RATE_CHAT_BURST", 10)?,
            mcp: rate("RATE_MCP_PER_SEC", 10, SECOND, "RATE_MCP_BURST", 60)?,
        })
    }

    /// Every bucket off (load tests and benchmarks).
    pub fn off() -> Self {
        Self {
            account_logins: Rate::OFF,
            address_logins: Rate::OFF,
            writes: Rate::OFF,
            chat: Rate::OFF,
            mcp: Rate::OFF,
        }
    }

    pub fn rate(&self, kind: RateKind) -> Rate {
        match kind {
            RateKind::AccountLogins => self.account_logins,
            RateKind::AddressLogins => self.address_logins,
            RateKind::Writes => self.writes,
            RateKind::ChatTurns => self.chat,
            RateKind::McpCalls => self.mcp,
        }
    }
}

/// The per-process buckets, at most `max_keys` of them: passed ones are dropped first, then the
/// one furthest in the past.
#[derive(Debug)]
pub struct RateTable {
    tats: Mutex<HashMap<(RateKind, String), Duration>>,
    origin: Instant,
    config: RateConfig,
    max_keys: usize,
}

impl RateTable {
    pub fn new(config: RateConfig, max_keys: usize) -> Self {
        Self {
            tats: Mutex::new(HashMap::new()),
            origin: Instant::now(),
            config,
            max_keys: max_keys.max(1),
        }
    }

    fn tats(&self) -> MutexGuard<'_, HashMap<(RateKind, String), Duration>> {
        // Plain numbers; a table left by a panicking holder is still usable.
        self.tats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One request against every `(bucket, key)` at once: all let through and counted, or none
    /// counted and the longest wait.
    pub fn take(&self, keys: &[(RateKind, &str)], now: Instant) -> Result<(), Duration> {
        let now = now.saturating_duration_since(self.origin);
        let mut tats = self.tats();
        let mut next = Vec::with_capacity(keys.len());
        let mut wait = None;
        for &(kind, key) in keys {
            let rate = self.config.rate(kind);
            if rate.is_off() {
                continue;
            }
            match rate.take(tats.get(&(kind, key.to_owned())).copied(), now) {
                Ok(tat) => next.push(((kind, key.to_owned()), tat)),
                Err(w) => wait = wait.max(Some(w)),
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (k, tat) in next {
            if !tats.contains_key(&k) && tats.len() >= self.max_keys {
                tats.retain(|_, t| *t > now);
                if tats.len() >= self.max_keys
                    && let Some(oldest) = tats.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone())
                {
                    tats.remove(&oldest);
                }
            }
            tats.insert(k, tat);
        }
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.tats().len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_then_one_per_interval() {
        let r = Rate::per(10, SECOND, 3);
        assert_eq!(r.interval, 100 * MS);
        let mut tat = None;
        let now = Duration::from_secs(5);
        for _ in 0..3 {
            tat = Some(r.take(tat, now).unwrap());
        }
        assert_eq!(r.take(tat, now), Err(100 * MS));
        assert_eq!(r.take(tat, now + 40 * MS), Err(60 * MS));
        let t = r.take(tat, now + 100 * MS).unwrap();
        assert_eq!(r.take(Some(t), now + 100 * MS), Err(100 * MS));
        // Idle long enough, the whole burst is back.
        let later = now + Duration::from_secs(10);
        let mut tat = Some(t);
        for _ in 0..3 {
            tat = Some(r.take(tat, later).unwrap());
        }
        assert!(r.take(tat, later).is_err());
    }

    #[test]
    fn a_zero_count_or_burst_is_off() {
        assert!(Rate::per(0, SECOND, 5).is_off());
        assert!(Rate::per(5, SECOND, 0).is_off());
        assert!(Rate::OFF.take(Some(Duration::MAX), Duration::ZERO).is_ok());
    }

    #[test]
    fn a_refused_request_counts_against_no_bucket() {
        let t = RateTable::new(
            RateConfig {
                account_logins: Rate::per(1, MINUTE, 1),
                address_logins: Rate::per(3, MINUTE, 3),
                ..RateConfig::default()
            },
            100,
        );
        let now = Instant::now();
        let login = |a| {
            t.take(
                &[(RateKind::AccountLogins, a), (RateKind::AddressLogins, "ip")],
                now,
            )
        };
        login("a").unwrap();
        for _ in 0..5 {
            assert!(login("a").is_err());
        }
        // The address spent one token, not six.
        login("b").unwrap();
        login("c").unwrap();
        assert!(login("d").is_err());
    }

    #[test]
    fn the_table_is_bounded() {
        let t = RateTable::new(RateConfig::default(), 10);
        let now = Instant::now();
        for i in 0..1000 {
            t.take(&[(RateKind::Writes, &format!("u{i}"))], now).unwrap();
        }
        assert!(t.len() <= 10);
    }

    proptest! {
        /// Over any stretch of time, a bucket lets through at most `burst` plus one per interval
        /// elapsed — whatever the arrival pattern.
        #[test]
        fn never_more_than_burst_plus_refills(
            per_sec in 1u32..50, burst in 1u32..20, gaps in proptest::collection::vec(0u64..200, 1..300)
        ) {
            let r = Rate::per(per_sec, SECOND, burst);
            let mut tat = None;
            let mut now = Duration::from_secs(1);
            let start = now;
            let mut allowed = 0u64;
            for gap in gaps {
                now += Duration::from_millis(gap);
                if let Ok(t) = r.take(tat, now) {
                    tat = Some(t);
                    allowed += 1;
                }
            }
            let refills = (now - start).as_nanos() / r.interval.as_nanos();
            prop_assert!(u128::from(allowed) <= u128::from(burst) + refills);
        }
    }
}
