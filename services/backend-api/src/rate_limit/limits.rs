//! The decision rules, kept apart from where the counts live so that both backends decide alike:
//! the per-process tables (`memory.rs`) call these functions, and the Redis script (`shared.lua`)
//! is the same rules in Lua, given each budget's numbers by [`Budget`]. The unit tests below pin the
//! rules; the Redis tests hold the script to the same outcomes.
//!
//! A key's record is its count of attempts and the time of the last one. A count that reaches the
//! budget's limit locks the key for `lockout`, doubling with every further attempt, up to the window.
//! A record idle for its lockout and then a whole window is forgotten.

use std::time::Duration;

/// The three budgets: which one an attempt is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Failed logins per account (the normalised e-mail address).
    Account,
    /// Failed logins per client address.
    LoginAddress,
    /// Registrations per client address.
    RegistrationAddress,
}

impl Kind {
    /// The name used in Redis keys and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::LoginAddress => "login-ip",
            Self::RegistrationAddress => "register-ip",
        }
    }
}

/// Lockouts stop doubling after this many steps (2^16 lockouts is far beyond any window).
pub const MAX_DOUBLINGS: u32 = 16;

/// One budget: how many attempts, how long the first lockout, how long attempts are remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Attempts before the key is locked; 0 turns the budget off.
    pub limit: u32,
    /// The first lockout once the budget is spent; it doubles per further attempt.
    pub lockout: Duration,
    /// How long a record is remembered after its lockout.
    pub window: Duration,
}

impl Budget {
    pub fn is_off(&self) -> bool {
        self.limit == 0
    }

    /// The lockout a record of `count` attempts earns, counted from its last attempt: none under the
    /// budget, then `lockout` doubling per attempt, up to the window.
    pub fn lockout_after(&self, count: u32) -> Duration {
        if self.is_off() || count < self.limit {
            return Duration::ZERO;
        }
        let doublings = (count - self.limit).min(MAX_DOUBLINGS);
        self.lockout.saturating_mul(1 << doublings).min(self.window)
    }

    /// How long after its last attempt a record of `count` attempts is kept: its lockout, then a
    /// whole window. Also the TTL of the record in Redis.
    pub fn retention(&self, count: u32) -> Duration {
        self.lockout_after(count) + self.window
    }

    /// The count that still stands `idle` after the last attempt: the record's, or 0 once forgotten.
    pub fn live_count(&self, count: u32, idle: Duration) -> u32 {
        if idle < self.retention(count) { count } else { 0 }
    }

    /// How long a record of `count` attempts must still wait, `idle` after its last attempt.
    pub fn wait(&self, count: u32, idle: Duration) -> Option<Duration> {
        let lock = self.lockout_after(self.live_count(count, idle));
        (lock > idle).then(|| lock - idle)
    }

    /// The count after one more attempt, `idle` after the last one.
    pub fn counted(&self, count: u32, idle: Duration) -> u32 {
        self.live_count(count, idle).saturating_add(1)
    }

    /// The count after an attempt is given back (a login that succeeded).
    pub fn given_back(count: u32) -> u32 {
        count.saturating_sub(1)
    }
}

/// An attempt counts against several budgets at once (a login: its account and its address). It is
/// refused with the longest wait any of them asks for, and then counted against none.
pub fn longest_wait(waits: impl IntoIterator<Item = Option<Duration>>) -> Option<Duration> {
    waits.into_iter().flatten().max()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn budget(limit: u32) -> Budget {
        Budget {
            limit,
            lockout: 60 * S,
            window: 900 * S,
        }
    }

    #[test]
    fn no_lockout_under_the_budget_then_doubling_up_to_the_window() {
        let b = budget(5);
        for count in 0..5 {
            assert_eq!(b.lockout_after(count), Duration::ZERO, "{count}");
        }
        let locks: Vec<u64> = (5..12).map(|c| b.lockout_after(c).as_secs()).collect();
        assert_eq!(locks, [60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(b.lockout_after(u32::MAX), 900 * S, "no overflow");
    }

    #[test]
    fn a_zero_budget_never_locks() {
        let b = budget(0);
        assert!(b.is_off());
        assert_eq!(b.lockout_after(1000), Duration::ZERO);
        assert_eq!(b.wait(1000, Duration::ZERO), None);
    }

    #[test]
    fn the_wait_runs_from_the_last_attempt() {
        let b = budget(3);
        assert_eq!(b.wait(2, Duration::ZERO), None, "under the budget");
        assert_eq!(b.wait(3, Duration::ZERO), Some(60 * S));
        assert_eq!(b.wait(3, 45 * S), Some(15 * S));
        assert_eq!(b.wait(3, 60 * S), None, "the lockout is over");
        assert_eq!(b.wait(4, 60 * S), Some(60 * S), "a further attempt doubled it");
    }

    #[test]
    fn a_record_is_forgotten_after_its_lockout_and_a_whole_window() {
        let b = budget(3);
        assert_eq!(b.retention(2), 900 * S);
        assert_eq!(b.retention(3), 960 * S);
        assert_eq!(b.live_count(2, 899 * S), 2);
        assert_eq!(b.live_count(2, 900 * S), 0);
        assert_eq!(b.live_count(3, 959 * S), 3);
        assert_eq!(b.live_count(3, 960 * S), 0);
        // An attempt after a quiet window starts a new count; one within it adds to the old.
        assert_eq!(b.counted(3, 960 * S), 1);
        assert_eq!(b.counted(3, 61 * S), 4);
    }

    #[test]
    fn a_success_gives_back_one_attempt() {
        assert_eq!(Budget::given_back(3), 2);
        assert_eq!(Budget::given_back(0), 0);
    }

    #[test]
    fn an_attempt_waits_for_the_longest_of_its_budgets() {
        assert_eq!(longest_wait([None, None]), None);
        assert_eq!(longest_wait([Some(5 * S), None, Some(9 * S)]), Some(9 * S));
    }
}
