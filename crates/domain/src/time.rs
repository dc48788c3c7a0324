//! Timestamps as the system stores them.
//!
//! PostgreSQL keeps microseconds; SQLite keeps what it is given. Truncating every timestamp we create to
//! microseconds makes a value read back from either database equal to the one written, which keyset
//! cursors and optimistic concurrency rely on.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// The current time, truncated to microseconds.
pub fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// `t` truncated to microseconds.
pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}
