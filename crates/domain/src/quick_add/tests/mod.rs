//! Quick-add tables and properties, at a fixed `now` in a zone with DST.

mod properties;
mod recurrence;
mod reminder;
mod when;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

pub(super) const TZ: Tz = chrono_tz::America::New_York;

/// Wednesday 4 March 2026, 15:30 in New York (EST, four days before the switch to EDT).
pub(super) fn now() -> DateTime<Utc> {
    local("2026-03-04 15:30")
}

/// A New York wall-clock time as an instant (test inputs are never in a gap).
pub(super) fn local(s: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    TZ.from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}
