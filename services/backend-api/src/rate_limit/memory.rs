//! The per-process backend: a table of records per budget, behind one mutex. It is the only backend
//! without `REDIS_URL`, and the fallback while Redis is unreachable — so it must stand on its own:
//! each table holds at most `max_keys` records, evicting forgotten ones first, then the least
//! recently used.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::AuthLimitConfig;
use super::limits::{Budget, Kind, longest_wait};

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u32,
    last: Instant,
}

/// Records of one budget.
#[derive(Debug)]
struct Table {
    entries: HashMap<String, Entry>,
    budget: Budget,
}

impl Table {
    fn new(budget: Budget) -> Self {
        Self {
            entries: HashMap::new(),
            budget,
        }
    }

    fn wait(&self, key: &str, now: Instant) -> Option<std::time::Duration> {
        let entry = self.entries.get(key)?;
        self.budget
            .wait(entry.count, now.saturating_duration_since(entry.last))
    }

    fn add(&mut self, key: &str, now: Instant, max_keys: usize) {
        if self.budget.is_off() {
            return;
        }
        let count = match self.entries.get(key) {
            Some(e) => self
                .budget
                .counted(e.count, now.saturating_duration_since(e.last)),
            None => 1,
        };
        if !self.entries.contains_key(key) && self.entries.len() >= max_keys {
            self.evict(now, max_keys);
        }
        self.entries.insert(key.to_owned(), Entry { count, last: now });
    }

    fn give_back(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.count = Budget::given_back(e.count);
        }
    }

    fn clear(&mut self, key: &str) {
        self.entries.remove(key);
    }

    fn evict(&mut self, now: Instant, max_keys: usize) {
        let budget = self.budget;
        self.entries
            .retain(|_, e| budget.live_count(e.count, now.saturating_duration_since(e.last)) > 0);
        if self.entries.len() >= max_keys
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
    login_addresses: Table,
    registration_addresses: Table,
}

impl Tables {
    fn of(&mut self, kind: Kind) -> &mut Table {
        match kind {
            Kind::Account => &mut self.accounts,
            Kind::LoginAddress => &mut self.login_addresses,
            Kind::RegistrationAddress => &mut self.registration_addresses,
        }
    }
}

/// Budgets kept in this process.
#[derive(Debug)]
pub struct MemoryLimits {
    tables: Mutex<Tables>,
    max_keys: usize,
}

impl MemoryLimits {
    pub fn new(config: &AuthLimitConfig) -> Self {
        let tables = Tables {
            accounts: Table::new(config.budget(Kind::Account)),
            login_addresses: Table::new(config.budget(Kind::LoginAddress)),
            registration_addresses: Table::new(config.budget(Kind::RegistrationAddress)),
        };
        Self {
            tables: Mutex::new(tables),
            max_keys: config.max_keys,
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // The tables hold counters only; one left by a panicking holder is still usable.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one attempt against every `(budget, key)`, or, when any of them is spent, none and
    /// says how long to wait. Atomic: the check and the count happen under one lock.
    pub fn attempt(&self, keys: &[(Kind, &str)], now: Instant) -> Result<(), std::time::Duration> {
        let mut t = self.tables();
        if let Some(wait) = longest_wait(keys.iter().map(|&(kind, key)| t.of(kind).wait(key, now))) {
            return Err(wait);
        }
        for &(kind, key) in keys {
            t.of(kind).add(key, now, self.max_keys);
        }
        Ok(())
    }

    /// A login succeeded: the account starts afresh and the address gets its attempt back.
    pub fn login_succeeded(&self, account: &str, address: &str) {
        let mut t = self.tables();
        t.accounts.clear(account);
        t.login_addresses.give_back(address);
    }

    #[cfg(test)]
    fn len(&self, kind: Kind) -> usize {
        self.tables().of(kind).entries.len()
    }

    #[cfg(test)]
    fn is_live(&self, kind: Kind, key: &str, now: Instant) -> bool {
        let mut t = self.tables();
        let table = t.of(kind);
        table.entries.get(key).is_some_and(|e| {
            table
                .budget
                .live_count(e.count, now.saturating_duration_since(e.last))
                > 0
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(account: u32, ip: u32, max_keys: usize) -> MemoryLimits {
        MemoryLimits::new(&AuthLimitConfig {
            account_failures: account,
            ip_failures: ip,
            ip_registrations: 2,
            max_keys,
            ..AuthLimitConfig::default()
        })
    }

    fn login(l: &MemoryLimits, ip: &str, account: &str, now: Instant) -> Result<(), Duration> {
        l.attempt(&[(Kind::Account, account), (Kind::LoginAddress, ip)], now)
    }

    #[test]
    fn lockouts_double_per_attempt_up_to_the_window_then_expire() {
        let l = limits(3, 0, 100);
        let mut now = Instant::now();
        for _ in 0..3 {
            login(&l, "1.2.3.4", "a@example.com", now).unwrap();
        }
        assert_eq!(
            login(&l, "1.2.3.4", "a@example.com", now).unwrap_err(),
            Duration::from_secs(60)
        );
        let mut expected = 60;
        for _ in 0..6 {
            now += Duration::from_secs(expected);
            login(&l, "1.2.3.4", "a@example.com", now).unwrap();
            expected = (expected * 2).min(900);
            assert_eq!(
                login(&l, "1.2.3.4", "a@example.com", now).unwrap_err(),
                Duration::from_secs(expected)
            );
        }
        assert_eq!(expected, 900, "capped at the window");
        // A whole window without attempts after the lockout forgets the account.
        now += Duration::from_secs(900 + 899);
        assert!(l.is_live(Kind::Account, "a@example.com", now));
        assert!(login(&l, "1.2.3.4", "a@example.com", now).is_ok());
        assert!(login(&l, "1.2.3.4", "a@example.com", now).is_err());
        now += Duration::from_secs(900 + 900);
        assert!(!l.is_live(Kind::Account, "a@example.com", now));
        login(&l, "1.2.3.4", "a@example.com", now).unwrap();
    }

    #[test]
    fn success_clears_the_account_but_only_gives_back_one_address_attempt() {
        let l = limits(2, 3, 100);
        let now = Instant::now();
        login(&l, "ip", "a@example.com", now).unwrap();
        login(&l, "ip", "a@example.com", now).unwrap();
        l.login_succeeded("a@example.com", "ip");
        login(&l, "ip", "a@example.com", now).unwrap();
        login(&l, "ip", "b@example.com", now).unwrap();
        // Three failures from "ip" now: its budget is spent, whatever the account.
        assert!(login(&l, "ip", "c@example.com", now).is_err());
        assert!(login(&l, "other", "c@example.com", now).is_ok());
    }

    #[test]
    fn a_refused_attempt_counts_against_no_budget() {
        let l = limits(1, 5, 100);
        let now = Instant::now();
        login(&l, "ip", "a@example.com", now).unwrap();
        for _ in 0..10 {
            assert!(login(&l, "ip", "a@example.com", now).is_err());
        }
        // The address spent one attempt, not eleven.
        for i in 0..4 {
            login(&l, "ip", &format!("u{i}@example.com"), now).unwrap();
        }
        assert!(login(&l, "ip", "z@example.com", now).is_err());
    }

    #[test]
    fn registrations_are_counted_per_address() {
        let l = limits(5, 5, 100);
        let now = Instant::now();
        let register = |ip| l.attempt(&[(Kind::RegistrationAddress, ip)], now);
        register("ip").unwrap();
        register("ip").unwrap();
        assert!(register("ip").is_err());
        assert!(register("ip2").is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let l = limits(5, 0, 10);
        let now = Instant::now();
        for i in 0..1000 {
            let _ = login(&l, "ip", &format!("u{i}@example.com"), now);
        }
        assert!(l.len(Kind::Account) <= 10);
    }

    #[test]
    fn a_zero_budget_is_off() {
        let l = limits(0, 0, 10);
        let now = Instant::now();
        for _ in 0..100 {
            login(&l, "ip", "a@example.com", now).unwrap();
        }
        assert_eq!(l.len(Kind::Account), 0);
    }
}
