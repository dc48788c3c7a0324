//! The write-time check that a rule repeats at all.
//!
//! Parsing refuses parts that can never match on their own; combinations can still be empty
//! (`BYMONTH=2;BYMONTHDAY=30`, a leap day every fourth year from an odd year, a 5th Monday in
//! February…). Such a rule would cost a full search every time it is evaluated and never give a
//! second task, so it is refused when it is stored. The search is bounded: the calendar repeats
//! every 400 years, and the engine gives up after one cycle of empty periods.

use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;

use super::{RecurrenceRule, Schedule, TooExpensive, invalid};
use crate::ValidationError;

impl From<TooExpensive> for ValidationError {
    fn from(e: TooExpensive) -> Self {
        invalid(e.to_string())
    }
}

impl RecurrenceRule {
    /// Refuses a rule that, from a series starting at `start`, gives no date after the start
    /// (`UNTIL` and `COUNT` aside: a series may end early on purpose) or is too expensive to evaluate.
    pub fn check_repeats(&self, start: DateTime<Utc>) -> Result<(), ValidationError> {
        let Self::Custom(rule) = self else {
            return Ok(());
        };
        let pattern = Self::Custom(super::RRule {
            until: None,
            ..rule.clone()
        });
        // Dates are matched on the user's calendar, which is at most a day away from UTC's.
        let day = Days::new(1);
        let starts = [
            Some(start),
            start.checked_sub_days(day),
            start.checked_add_days(day),
        ];
        for start in starts.into_iter().flatten() {
            let schedule = Schedule::new(&pattern, start, Tz::UTC, None);
            // The first date is the start itself; the rule repeats if there is a second.
            if schedule
                .occurrences()
                .nth(1)
                .transpose()
                .map_err(ValidationError::from)?
                .is_some()
            {
                return Ok(());
            }
        }
        Err(invalid(
            "this rule never gives a date after its first one (no match in a full 400-year calendar cycle)",
        ))
    }
}
