//! What a test needs from outside the process, and what happens when it is not there.
//!
//! A test that cannot run what it claims must never pass as if it had. So:
//! - on CI (`CI=true`) a missing requirement fails the test, with what to set or install;
//! - elsewhere the test prints one line (`skipped: …`) and returns, so `cargo test --workspace`
//!   passes on a machine with no services.
//!
//! PostgreSQL and Redis may be absent on CI on purpose: `.ci/run` runs every suite once without
//! services (`TEST_WITHOUT_SERVICES=1`, the README's quick-start path) and once with
//! `TEST_DATABASE_URL` and `TEST_REDIS_URL`. A tool the CI script installs (aiosmtpd) has no such
//! opt-out: if it cannot run on CI, the test fails.

/// The variable that says a CI pass runs without PostgreSQL and Redis on purpose.
pub const WITHOUT_SERVICES: &str = "TEST_WITHOUT_SERVICES";

/// The Redis a test needs, from `TEST_REDIS_URL`; `needed_for` says what the test checks there.
/// `None` means skipped: return early on it.
pub fn redis_for_test(needed_for: &str) -> Option<String> {
    service_url(
        &process_env,
        "TEST_REDIS_URL",
        "redis://127.0.0.1:6379",
        needed_for,
    )
}

/// A PostgreSQL server URL (any database; the test creates its own) for a test that needs
/// PostgreSQL itself rather than either backend, from `TEST_DATABASE_URL`. `None` means skipped.
pub fn postgres_for_test(needed_for: &str) -> Option<String> {
    service_url(
        &process_env,
        "TEST_DATABASE_URL",
        "postgres://postgres:postgres@127.0.0.1:5432/postgres",
        needed_for,
    )
}

/// A tool the test needs could not be used: on CI this fails the test; elsewhere it prints one
/// line and the caller returns. `why` says what went wrong and how to get the tool.
pub fn unavailable(needed_for: &str, why: &str) {
    unavailable_in(&process_env, needed_for, why);
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn is_set(env: &dyn Fn(&str) -> Option<String>, name: &str) -> bool {
    env(name).is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn service_url(
    env: &dyn Fn(&str) -> Option<String>,
    var: &str,
    example: &str,
    needed_for: &str,
) -> Option<String> {
    if let Some(url) = env(var) {
        return Some(url);
    }
    if is_set(env, "CI") && !is_set(env, WITHOUT_SERVICES) {
        panic!(
            "{var} is not set, and on CI a test that needs it ({needed_for}) must not pass without \
             running: set {var}={example}, or {WITHOUT_SERVICES}=1 for a pass that runs without \
             services on purpose"
        );
    }
    eprintln!("skipped: {needed_for} needs {var} (e.g. {var}={example})");
    None
}

fn unavailable_in(env: &dyn Fn(&str) -> Option<String>, needed_for: &str, why: &str) {
    if is_set(env, "CI") {
        panic!("{needed_for} cannot run, and on CI it must not pass without running: {why}");
    }
    eprintln!("skipped: {needed_for} cannot run here: {why}");
}

#[cfg(test)]
mod tests {
    use super::{service_url, unavailable_in};

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn redis(vars: &[(&str, &str)]) -> Option<String> {
        service_url(&env(vars), "TEST_REDIS_URL", "redis://127.0.0.1:6379", "x")
    }

    #[test]
    fn a_service_test_gets_its_url_or_skips_outside_ci() {
        let url = "redis://127.0.0.1:6379";
        assert_eq!(redis(&[("TEST_REDIS_URL", url)]).as_deref(), Some(url));
        assert_eq!(
            redis(&[("TEST_REDIS_URL", url), ("CI", "true")]).as_deref(),
            Some(url)
        );
        assert_eq!(redis(&[]), None);
        assert_eq!(redis(&[("CI", "false")]), None);
        assert_eq!(redis(&[("CI", "true"), ("TEST_WITHOUT_SERVICES", "1")]), None);
    }

    #[test]
    #[should_panic(expected = "TEST_REDIS_URL is not set")]
    fn on_ci_a_service_test_without_its_service_fails() {
        redis(&[("CI", "true")]);
    }

    #[test]
    fn a_missing_tool_skips_outside_ci() {
        unavailable_in(&env(&[]), "x", "python3 is missing");
        unavailable_in(&env(&[("TEST_WITHOUT_SERVICES", "1")]), "x", "python3 is missing");
    }

    #[test]
    #[should_panic(expected = "cannot run, and on CI it must not pass without running")]
    fn on_ci_a_missing_tool_fails_even_without_services() {
        unavailable_in(
            &env(&[("CI", "true"), ("TEST_WITHOUT_SERVICES", "1")]),
            "x",
            "python3 is missing",
        );
    }
}
