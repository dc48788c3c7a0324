//! The replay buffers: what each user's SSE clients may ask for again with `Last-Event-ID`.
//!
//! Every replica receives every user's events, so this memory is bounded in bytes, not in events: at
//! most `user_bytes` and `events` per user and `total_bytes` overall, oldest first out, and nothing
//! older than `age`. A timer sweeps aged entries even for users who never publish again and removes
//! idle users entirely. Entries are the same `Arc<Push>` the connections receive, and a replay walks
//! the buffer with a cursor (a sequence number) instead of copying it, so a reconnect costs nothing
//! until it is sent and an entry evicted meanwhile is simply gone (the client is told to resync).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hub::Push;

/// Fixed cost counted per entry on top of its bytes (the `Arc`, the ids, the deque slot).
pub const ENTRY_OVERHEAD: usize = 128;

/// The caps, from [`crate::HubConfig`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub events: usize,
    pub user_bytes: usize,
    pub total_bytes: usize,
    pub age: Duration,
}

/// Why an entry left the buffer (the `reason` label of `realtime_replay_evictions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    Age,
    UserCap,
    TotalCap,
}

impl Eviction {
    pub fn label(self) -> &'static str {
        match self {
            Self::Age => "age",
            Self::UserCap => "user_cap",
            Self::TotalCap => "total_cap",
        }
    }
}

#[derive(Default)]
struct UserBuffer {
    entries: VecDeque<Arc<Push>>,
    bytes: usize,
    /// The sequence number of the newest entry evicted: a replay still needing anything at or before
    /// it cannot be completed.
    evicted_through: u64,
}

/// Where a replay stands: the last sequence number sent, and the newest it must reach (what was
/// buffered when the client connected; later events reach it live).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    after: u64,
    until: u64,
}

/// The next step of a replay.
#[derive(Debug)]
pub enum Step {
    Event(Arc<Push>),
    Done,
    /// Something the replay still needed was evicted; carries the id the client may resume from.
    Resync(Option<String>),
}

/// What a reconnecting client gets.
#[derive(Debug)]
pub enum Resume {
    /// Nothing was missed.
    UpToDate,
    Replay(Cursor),
    /// The id is not (or no longer) buffered; carries the newest buffered id, if any.
    Resync(Option<String>),
}

#[derive(Default)]
pub struct Buffers {
    users: HashMap<Arc<str>, UserBuffer>,
    /// `(sequence of the oldest entry, user)` for each user with entries: the global eviction order.
    oldest: BTreeSet<(u64, Arc<str>)>,
    bytes: usize,
}

fn cost(push: &Push) -> usize {
    push.json.len() + push.id.len() + push.event_type.len() + ENTRY_OVERHEAD
}

impl Buffers {
    /// Bytes held by all buffers.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Users with a buffer.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Bytes held for `user`.
    pub fn user_bytes(&self, user: &str) -> usize {
        self.users.get(user).map_or(0, |b| b.bytes)
    }

    /// Appends `push` (its `seq` must be greater than every buffered one) and evicts what the caps
    /// require; returns how many entries left for which reason.
    pub fn push(&mut self, user: &str, push: Arc<Push>, limits: &Limits) -> Vec<Eviction> {
        let key: Arc<str> = match self.users.get_key_value(user) {
            Some((k, _)) => k.clone(),
            None => Arc::from(user),
        };
        let buffer = self.users.entry(key.clone()).or_default();
        if buffer.entries.is_empty() {
            self.oldest.insert((push.seq, key.clone()));
        }
        let size = cost(&push);
        buffer.bytes += size;
        self.bytes += size;
        buffer.entries.push_back(push);
        let mut evicted = Vec::new();
        while let Some(buffer) = self.users.get(&key) {
            let reason = if buffer.entries.len() > limits.events || buffer.bytes > limits.user_bytes {
                Eviction::UserCap
            } else if buffer
                .entries
                .front()
                .is_some_and(|p| p.at.elapsed() > limits.age)
            {
                Eviction::Age
            } else {
                break;
            };
            self.pop_front(&key);
            evicted.push(reason);
        }
        while self.bytes > limits.total_bytes {
            let Some((_, oldest)) = self.oldest.first().cloned() else {
                break;
            };
            self.pop_front(&oldest);
            evicted.push(Eviction::TotalCap);
        }
        evicted
    }

    fn pop_front(&mut self, user: &Arc<str>) {
        let Some(buffer) = self.users.get_mut(user) else {
            return;
        };
        let Some(front) = buffer.entries.pop_front() else {
            return;
        };
        self.oldest.remove(&(front.seq, user.clone()));
        let size = cost(&front);
        buffer.bytes -= size;
        self.bytes -= size;
        buffer.evicted_through = front.seq;
        if let Some(next) = buffer.entries.front() {
            self.oldest.insert((next.seq, user.clone()));
        }
    }

    /// Drops entries older than `age`, for every user; returns how many.
    pub fn expire(&mut self, age: Duration, now: Instant) -> usize {
        let mut expired = 0;
        while let Some((_, user)) = self.oldest.first().cloned() {
            let aged = self
                .users
                .get(&user)
                .and_then(|b| b.entries.front())
                .is_some_and(|p| now.saturating_duration_since(p.at) > age);
            if !aged {
                break;
            }
            self.pop_front(&user);
            expired += 1;
        }
        expired
    }

    /// Removes `user`'s buffer if it holds nothing (its replay cursors then resync, as they should:
    /// there is nothing left to replay).
    pub fn forget_if_empty(&mut self, user: &str) {
        if self.users.get(user).is_some_and(|b| b.entries.is_empty()) {
            self.users.remove(user);
        }
    }

    /// Removes every empty buffer for which `keep` is false.
    pub fn forget_empty(&mut self, keep: impl Fn(&str) -> bool) {
        self.users.retain(|user, b| !b.entries.is_empty() || keep(user));
    }

    /// Where a client that last saw `last_event_id` resumes.
    pub fn resume(&self, user: &str, last_event_id: &str) -> Resume {
        let Some(buffer) = self.users.get(user) else {
            return Resume::Resync(None);
        };
        let newest = buffer.entries.back();
        match buffer.entries.iter().rposition(|p| p.id == last_event_id) {
            Some(i) if i + 1 == buffer.entries.len() => Resume::UpToDate,
            Some(i) => Resume::Replay(Cursor {
                after: buffer.entries[i].seq,
                until: newest.map_or(0, |p| p.seq),
            }),
            None => Resume::Resync(newest.map(|p| p.id.clone())),
        }
    }

    /// The next event of a replay, advancing `cursor`.
    pub fn next(&self, user: &str, cursor: &mut Cursor) -> Step {
        let Some(buffer) = self.users.get(user) else {
            return Step::Resync(None);
        };
        if buffer.evicted_through > cursor.after {
            let i = buffer.entries.partition_point(|p| p.seq < cursor.until);
            let until = buffer.entries.get(i).filter(|p| p.seq == cursor.until);
            return Step::Resync(until.map(|p| p.id.clone()));
        }
        let i = buffer.entries.partition_point(|p| p.seq <= cursor.after);
        match buffer.entries.get(i) {
            Some(p) if p.seq <= cursor.until => {
                cursor.after = p.seq;
                Step::Event(p.clone())
            }
            _ => Step::Done,
        }
    }
}
