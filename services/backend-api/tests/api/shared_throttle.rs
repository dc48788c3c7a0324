//! Login and registration budgets shared by backend-api replicas through Redis (`REDIS_URL`): two
//! app instances on one database and one Redis count against the same budgets, and when Redis goes
//! away each falls back to budgets of its own and comes back to the shared ones by itself.
//!
//! These need a Redis server (`TEST_REDIS_URL`; see `taskflow_test_support::redis_for_test`). Each
//! test uses keys of its own (a unique prefix), since every test's client is 127.0.0.1.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use taskflow_backend_api::ApiConfig;
use taskflow_backend_api::rate_limit::RedisTarget;
use taskflow_test_support::redis_for_test;

use crate::helpers::{TestApp, assert_error};
use crate::proxy::Proxy;

const PASSWORD: &str = "correct horse battery";

/// Budgets in the Redis at `url`, under `prefix`; `limits` adjusts the rest.
fn shared<L: Fn(&mut ApiConfig)>(url: &str, prefix: &str, limits: L) -> impl Fn(&mut ApiConfig) + use<L> {
    let target = RedisTarget::parse(url, None).unwrap();
    let prefix = prefix.to_owned();
    move |c: &mut ApiConfig| {
        c.auth_limits.redis = Some(target.clone());
        c.auth_limits.redis_key_prefix = prefix.clone();
        // Generous: a loaded test machine must not turn these tests into fallback tests.
        c.auth_limits.redis_timeout = Duration::from_secs(2);
        limits(c);
    }
}

fn unique_prefix() -> String {
    format!("taskflow-test:auth-rate:{}", uuid::Uuid::new_v4().simple())
}

fn unique_email(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn status_of_login(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.login(email, password).await.status()
}

async fn assert_locked(app: &TestApp, email: &str) {
    let res = app.login(email, PASSWORD).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", None).await;
}

/// The value of an unlabelled series on `app`'s `/metrics`.
async fn metric(app: &TestApp, name: &str) -> Option<f64> {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn replicas_share_each_accounts_budget() {
    let Some(url) = redis_for_test("login budgets shared between replicas") else {
        return;
    };
    let config = shared(&url, &unique_prefix(), |_| {});
    let a = TestApp::spawn_configured(&config).await;
    let b = a.replica(&config).await;
    let victim = unique_email("victim");
    let bystander = unique_email("bystander");
    for email in [&victim, &bystander] {
        assert_eq!(
            a.register("V", email, PASSWORD).await.status(),
            StatusCode::CREATED
        );
    }
    // Five failures, split over the two replicas: the account is locked on both.
    for app in [&a, &b, &a, &b, &a] {
        assert_eq!(
            status_of_login(app, &victim, "wrong guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_locked(&a, &victim).await;
    assert_locked(&b, &victim).await;
    assert_locked(&b, &victim.to_uppercase()).await;
    assert_eq!(status_of_login(&b, &bystander, PASSWORD).await, StatusCode::OK);

    // A successful login on one replica clears the account's count for both.
    let forgetful = unique_email("forgetful");
    assert_eq!(
        a.register("F", &forgetful, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    for round in 0..2 {
        for app in [&a, &b, &b, &a] {
            assert_eq!(
                status_of_login(app, &forgetful, "wrong guess").await,
                StatusCode::UNAUTHORIZED,
                "round {round}"
            );
        }
        let app = if round == 0 { &b } else { &a };
        assert_eq!(status_of_login(app, &forgetful, PASSWORD).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn replicas_share_each_addresss_budgets() {
    let Some(url) = redis_for_test("login and registration budgets shared between replicas") else {
        return;
    };
    let config = shared(&url, &unique_prefix(), |c| {
        c.auth_limits.ip_registrations = 3;
        c.auth_limits.ip_failures = 4;
        c.auth_limits.account_failures = 100;
    });
    let a = TestApp::spawn_configured(&config).await;
    let b = a.replica(&config).await;
    let mut registered = Vec::new();
    for app in [&a, &b, &a] {
        let email = unique_email("signup");
        assert_eq!(
            app.register("S", &email, PASSWORD).await.status(),
            StatusCode::CREATED
        );
        registered.push(email);
    }
    for app in [&a, &b] {
        let res = app.register("S", &unique_email("signup"), PASSWORD).await;
        assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited", None).await;
    }
    // Spraying from one address over both replicas: four failures in all, then locked on both.
    for (i, app) in [&a, &b, &b, &a].into_iter().enumerate() {
        let res = app
            .login(&unique_email(&format!("spray{i}")), "Summer2026!")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_locked(&a, &registered[0]).await;
    assert_locked(&b, &registered[1]).await;
}

#[tokio::test]
async fn redis_holds_no_addresses_and_forgets_by_itself() {
    let Some(url) = redis_for_test("the shared login budgets' keys in Redis") else {
        return;
    };
    let prefix = unique_prefix();
    let app = TestApp::spawn_configured(shared(&url, &prefix, |c| {
        c.auth_limits.window = Duration::from_secs(600);
        c.auth_limits.lockout = Duration::from_secs(60);
        c.auth_limits.account_failures = 2;
    }))
    .await;
    let email = unique_email("private");
    for _ in 0..3 {
        app.login(&email, "wrong guess").await;
    }
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    // The request-rate buckets (`rate-login-*`): keyed hashes too, holding one number with a TTL.
    let (rates, mut keys): (Vec<String>, Vec<String>) = keys.into_iter().partition(|k| k.contains(":rate-"));
    assert_eq!(rates.len(), 2, "{rates:?}");
    for key in &rates {
        let value: String = redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap();
        assert!(value.bytes().all(|b| b.is_ascii_digit()), "{key}: {value}");
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await.unwrap();
        assert!((1..=60_000).contains(&ttl), "{key}: ttl {ttl} ms");
    }
    keys.sort();
    assert_eq!(keys.len(), 2, "the account's and the address's records: {keys:?}");
    for (key, kind) in keys.iter().zip(["account", "login-ip"]) {
        let hash = key.strip_prefix(&format!("{prefix}:{kind}:")).unwrap();
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{key}"
        );
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"count") && names.contains(&"last"), "{fields:?}");
        for (_, value) in &fields {
            assert!(value.bytes().all(|b| b.is_ascii_digit()), "{fields:?}");
        }
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await.unwrap();
        let retention: i64 = if kind == "account" { 660_000 } else { 600_000 };
        assert!(
            (retention - 60_000..=retention).contains(&ttl),
            "{key}: the record expires with its lockout plus the window (ttl {ttl} ms)"
        );
    }
}

/// Logs in with a wrong password as new accounts on each app until every one of them reports Redis
/// up again (an attempt during an outage tries Redis at most once a second).
async fn until_redis_is_back(apps: &[&TestApp]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for app in apps {
        loop {
            app.login(&unique_email("probe"), "wrong guess").await;
            if metric(app, "auth_rate_limit_redis_up").await == Some(1.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Redis was not used again after it came back"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
async fn without_redis_each_replica_falls_back_to_budgets_of_its_own_until_it_returns() {
    let Some(url) = redis_for_test("falling back when Redis is unreachable") else {
        return;
    };
    let upstream = RedisTarget::parse(&url, None).unwrap().address();
    let proxy = Proxy::start(upstream).await;
    let proxied = format!("redis://127.0.0.1:{}", proxy.port);
    // The default 250 ms timeout; the address budget off, so the probes below cannot spend it.
    let config = shared(&proxied, &unique_prefix(), |c| {
        c.auth_limits.redis_timeout = Duration::from_millis(250);
        c.auth_limits.ip_failures = 0;
    });
    let a = TestApp::spawn_configured(&config).await;
    let b = a.replica(&config).await;
    let user = unique_email("user");
    assert_eq!(
        a.register("U", &user, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(metric(&a, "auth_rate_limit_redis_up").await, Some(1.0));
    let fallbacks_before = metric(&a, "auth_rate_limit_fallbacks_total").await.unwrap_or(0.0);

    proxy.cut();
    // Logins keep working, promptly: at most one short wait for Redis, then no waiting at all.
    for app in [&a, &b] {
        let started = Instant::now();
        assert_eq!(status_of_login(app, &user, PASSWORD).await, StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    // Guessing is still bounded, by each replica's own budget: five failures on one replica lock
    // the account there, while the other has its own five (N replicas: at most N budgets).
    let target = unique_email("target");
    assert_eq!(
        a.register("T", &target, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    for _ in 0..5 {
        assert_eq!(
            status_of_login(&a, &target, "wrong guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_locked(&a, &target).await;
    assert_eq!(
        status_of_login(&b, &target, "wrong guess").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(metric(&a, "auth_rate_limit_redis_up").await, Some(0.0));
    assert_eq!(metric(&b, "auth_rate_limit_redis_up").await, Some(0.0));
    let fallbacks = metric(&a, "auth_rate_limit_fallbacks_total").await.unwrap_or(0.0);
    assert!(
        fallbacks - fallbacks_before >= 8.0,
        "attempts decided without Redis are counted: {fallbacks_before} → {fallbacks}"
    );

    proxy.restore();
    until_redis_is_back(&[&a, &b]).await;
    // The shared budget again: failures split over both replicas lock the account on both.
    let again = unique_email("again");
    assert_eq!(
        b.register("A", &again, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    for app in [&b, &a, &b, &a, &b] {
        assert_eq!(
            status_of_login(app, &again, "wrong guess").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_locked(&a, &again).await;
    assert_locked(&b, &again).await;
}
