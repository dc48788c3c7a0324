//! The shared backend: budgets kept in Redis, so that every replica of backend-api counts against
//! the same ones (with N replicas and per-process budgets an attacker would get N budgets).
//!
//! Each decision is one call of `shared.lua` (EVALSHA through [`redis::Script`], which loads the
//! script on first use or after a Redis restart), so the check and the count are atomic across
//! replicas. Every call is bounded by a timeout (250 ms by default); whatever goes wrong is returned as an error
//! for the limiter to fall back on (see `outage.rs`) — nothing here panics or retries on its own.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, Script, ScriptInvocation};

use super::keys::KeyNames;
use super::limits::{Budget, Kind};
use super::rates::{Rate, RateKind};

/// The longest a login or registration waits for Redis, by default, before the per-process budgets
/// decide.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// Where the shared budgets live: `REDIS_URL`, with `REDIS_PASSWORD` when set.
#[derive(Clone)]
pub struct RedisTarget {
    info: redis::ConnectionInfo,
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection info holds the password: show where, never how.
        f.debug_tuple("RedisTarget").field(&self.address()).finish()
    }
}

impl RedisTarget {
    /// Parses a `redis://[user[:password]@]host[:port][/db]` URL; `password`, when given, replaces
    /// the URL's (so it can come from a secret without being escaped into the URL).
    pub fn parse(url: &str, password: Option<&str>) -> Result<Self, String> {
        let info = url.into_connection_info().map_err(|e| e.to_string())?;
        let info = match password {
            Some(password) => {
                let settings = info.redis_settings().clone().set_password(password);
                info.set_redis_settings(settings)
            }
            None => info,
        };
        Ok(Self { info })
    }

    /// Whether the URL asks for TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        matches!(self.info.addr(), redis::ConnectionAddr::TcpTls { .. })
    }

    /// `host:port` (or the socket path), for log lines.
    pub fn address(&self) -> String {
        self.info.addr().to_string()
    }
}

/// A Redis call that failed or did not answer in time.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// Budgets in Redis, under keys named by [`KeyNames`].
pub struct SharedLimits {
    conn: ConnectionManager,
    script: Script,
    rate_script: Script,
    names: KeyNames,
    timeout: Duration,
}

impl std::fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimits")
            .field("names", &self.names)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// redis's TLS connector builds its rustls configuration with the process's default crypto provider,
/// and with two in the build (aws-lc-rs and ring) there is none until one is installed: without
/// this, the first `rediss://` connection would panic.
fn install_crypto_provider() {
    // An error means one is installed already (by an earlier limiter, or another part of the
    // process): that one serves.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn millis(d: Duration) -> u64 {
    // At least 1 ms for a non-zero duration: Redis counts in milliseconds.
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 && !d.is_zero() { 1 } else { ms }
}

impl SharedLimits {
    /// Connects lazily: nothing is sent until the first call, so a Redis that is down at start-up
    /// only means starting on the per-process budgets.
    /// Every call is bounded by `timeout`.
    pub fn new(target: &RedisTarget, names: KeyNames, timeout: Duration) -> Result<Self, redis::RedisError> {
        if target.is_tls() {
            install_crypto_provider();
        }
        let client = redis::Client::open(target.info.clone())?;
        // One connection attempt per call, each bounded: the limiter decides when to try again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            script: Script::new(include_str!("shared.lua")),
            rate_script: Script::new(include_str!("rates.lua")),
            names,
            timeout,
        })
    }

    /// Counts one attempt against every `(budget, key)`, or, when any of them is spent, none and
    /// returns the longest wait.
    pub async fn attempt(
        &self,
        keys: &[(Kind, &str)],
        budget: impl Fn(Kind) -> Budget,
    ) -> Result<Option<Duration>, SharedError> {
        let mut call = self.script.prepare_invoke();
        call.arg("attempt");
        for &(kind, key) in keys {
            let b = budget(kind);
            call.key(self.names.name(kind, key))
                .arg(b.limit)
                .arg(millis(b.lockout))
                .arg(millis(b.window));
        }
        let wait_ms: u64 = self.invoke(&call).await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }

    /// One request against every `(bucket, key)` (`rates.lua`): `None` when let through and
    /// counted, else the longest wait (and nothing counted).
    pub async fn take(
        &self,
        keys: &[(RateKind, &str)],
        rate: impl Fn(RateKind) -> Rate,
    ) -> Result<Option<Duration>, SharedError> {
        let mut call = self.rate_script.prepare_invoke();
        for &(kind, key) in keys {
            let r = rate(kind);
            call.key(self.names.named(kind.as_str(), key))
                .arg(millis(r.interval))
                .arg(r.burst);
        }
        let wait_ms: u64 = self.invoke(&call).await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }

    /// A login succeeded: the account's record is deleted, the address gets one attempt back.
    pub async fn login_succeeded(
        &self,
        account: &str,
        address: &str,
        address_budget: Budget,
    ) -> Result<(), SharedError> {
        let mut call = self.script.prepare_invoke();
        call.arg("login-succeeded")
            .key(self.names.name(Kind::Account, account))
            .key(self.names.name(Kind::LoginAddress, address))
            .arg(address_budget.limit)
            .arg(millis(address_budget.lockout))
            .arg(millis(address_budget.window));
        let _: u64 = self.invoke(&call).await?;
        Ok(())
    }

    /// Asks Redis whether it is there (at start-up, so the first login does not pay for connecting).
    pub async fn ping(&self) -> Result<(), SharedError> {
        let mut conn = self.conn.clone();
        let answer: String = self.bounded(redis::cmd("PING").query_async(&mut conn)).await?;
        if answer == "PONG" {
            Ok(())
        } else {
            Err(SharedError::Redis(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "PING was not answered with PONG",
            ))))
        }
    }

    async fn invoke(&self, call: &ScriptInvocation<'_>) -> Result<u64, SharedError> {
        let mut conn = self.conn.clone();
        self.bounded(call.invoke_async(&mut conn)).await
    }

    async fn bounded<T>(&self, call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, SharedError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(SharedError::Timeout(self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_never_show_their_password() {
        let t = RedisTarget::parse("redis://:hunter2@redis.internal:6380/2", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.address(), "redis.internal:6380");
        assert!(!format!("{t:?}").contains("hunter2"));
        let t =
            RedisTarget::parse("redis://redis:6379", Some("from-a-secret")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.info.redis_settings().password(), Some("from-a-secret"));
        assert!(!t.is_tls());
        assert!(
            RedisTarget::parse("rediss://redis:6380", None)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_tls()
        );
        assert!(RedisTarget::parse("http://redis:6379", None).is_err());
        assert!(RedisTarget::parse("not a url", None).is_err());
    }

    /// A `rediss://` Redis that does not speak TLS: an error to fall back on, not a panic.
    #[tokio::test]
    async fn a_failed_tls_connection_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::AsyncWriteExt;
                let _ = socket.write_all(b"-ERR not TLS\r\n").await;
            }
        });
        let target =
            RedisTarget::parse(&format!("rediss://127.0.0.1:{port}"), None).unwrap_or_else(|e| panic!("{e}"));
        let names = KeyNames::new("test", b"a test secret of at least thirty-two bytes");
        let limits =
            SharedLimits::new(&target, names, Duration::from_secs(2)).unwrap_or_else(|e| panic!("{e}"));
        assert!(limits.ping().await.is_err());
    }

    #[test]
    fn durations_are_whole_milliseconds() {
        assert_eq!(millis(Duration::from_secs(60)), 60_000);
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::ZERO), 0);
    }
}

/// The script against the per-process tables: the same steps, at the same moments, must get the
/// same decisions (waits within a few milliseconds: Redis's clock against this process's).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod parity {
    use std::time::Instant;

    use super::super::AuthLimitConfig;
    use super::super::memory::MemoryLimits;
    use super::*;

    enum Step {
        Login(&'static str, &'static str),
        Register(&'static str),
        Succeeded(&'static str, &'static str),
        Sleep(u64),
    }

    #[tokio::test]
    async fn the_script_decides_like_the_per_process_tables() {
        use Step::*;
        let Some(url) = taskflow_test_support::redis_for_test("the Lua script's parity with limits.rs")
        else {
            return;
        };
        let config = AuthLimitConfig {
            account_failures: 2,
            ip_failures: 3,
            ip_registrations: 1,
            window: Duration::from_millis(1200),
            lockout: Duration::from_millis(200),
            ..AuthLimitConfig::default()
        };
        let prefix = format!("taskflow-test:auth-rate:{}", uuid::Uuid::new_v4().simple());
        let names = KeyNames::new(&prefix, b"a test secret of at least thirty-two bytes");
        let target = RedisTarget::parse(&url, None).unwrap();
        let redis = SharedLimits::new(&target, names, Duration::from_secs(5)).unwrap();
        let memory = MemoryLimits::new(&config);
        let budget = |k| config.budget(k);
        // Each step, and whether it is let through (true) or refused (false).
        let steps = [
            (Login("a", "ip1"), true),
            (Login("a", "ip1"), true), // the account's budget (2) is spent: locked 200 ms
            (Login("a", "ip1"), false),
            (Login("b", "ip1"), true), // the address's (3) too
            (Login("c", "ip1"), false),
            (Login("c", "ip2"), true),
            (Sleep(300), true),
            (Login("a", "ip2"), true), // the lockout is over; a third attempt doubles it to 400 ms
            (Login("a", "ip2"), false),
            (Succeeded("a", "ip1"), true), // clears "a", gives ip1 one attempt back
            (Login("a", "ip1"), true),
            (Login("d", "ip1"), false),
            (Register("ip1"), true),
            (Register("ip1"), false),
            // ip1's lockout is over, but its record (3) stands for 200 + 1200 ms: a fourth attempt
            // locks it for 400 ms.
            (Sleep(1250), true),
            (Login("e", "ip1"), true),
            (Sleep(300), true),
            (Login("f", "ip1"), false),
            (Login("g", "ip1"), false),
            (Register("ip1"), true), // its record (1, 200 ms lockout) was forgotten after 1400 ms
        ];
        for (i, (step, allowed)) in steps.iter().enumerate() {
            let (mem, shared) = match *step {
                Sleep(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    continue;
                }
                Login(account, ip) => {
                    let keys = [(Kind::Account, account), (Kind::LoginAddress, ip)];
                    let mem = memory.attempt(&keys, Instant::now()).err();
                    (mem, redis.attempt(&keys, budget).await.unwrap())
                }
                Register(ip) => {
                    let keys = [(Kind::RegistrationAddress, ip)];
                    let mem = memory.attempt(&keys, Instant::now()).err();
                    (mem, redis.attempt(&keys, budget).await.unwrap())
                }
                Succeeded(account, ip) => {
                    memory.login_succeeded(account, ip);
                    redis
                        .login_succeeded(account, ip, budget(Kind::LoginAddress))
                        .await
                        .unwrap();
                    continue;
                }
            };
            assert_eq!(shared.is_none(), *allowed, "step {i}: Redis answered {shared:?}");
            match (mem, shared) {
                (None, None) => {}
                (Some(m), Some(s)) => {
                    let gap = m.abs_diff(s);
                    assert!(
                        gap <= Duration::from_millis(60),
                        "step {i}: waits {m:?} and {s:?}"
                    );
                }
                _ => panic!("step {i}: per-process {mem:?}, Redis {shared:?}"),
            }
        }
    }
}
