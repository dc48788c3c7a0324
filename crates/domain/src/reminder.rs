//! Reminder rules on a task: at an absolute instant, or a number of minutes before the due date.
//!
//! A relative reminder's instant is derived from the due date, so when the due date moves the reminder
//! moves with it; a relative reminder on a task without a due date is meaningless and refused.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::ValidationError;

pub const MAX_REMINDERS: usize = 10;
/// One year: a reminder further ahead than that of its due date is a typo.
pub const MAX_MINUTES_BEFORE_DUE: u32 = 525_600;

/// A reminder as a client sends it: exactly one of the two fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReminderSpec {
    /// Fire at this instant.
    #[serde(default)]
    pub remind_at: Option<DateTime<Utc>>,
    /// Fire this many minutes before the task's due date (0–525 600).
    #[serde(default, deserialize_with = "crate::task::whole_u32")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 525600))]
    pub minutes_before_due: Option<u32>,
}

impl ReminderSpec {
    /// The instant this reminder fires for a task due at `due_at`.
    pub fn fire_time(&self, due_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        match (self.remind_at, self.minutes_before_due, due_at) {
            (Some(at), _, _) => Some(at),
            (None, Some(m), Some(due)) => Some(due - TimeDelta::minutes(i64::from(m))),
            _ => None,
        }
    }
}

/// Checks a task's reminder list against its due date.
pub fn validate_reminders(
    specs: &[ReminderSpec],
    due_at: Option<DateTime<Utc>>,
) -> Result<Vec<ReminderSpec>, ValidationError> {
    if specs.len() > MAX_REMINDERS {
        return Err(ValidationError::new(
            "reminders",
            format!("at most {MAX_REMINDERS} reminders per task"),
        ));
    }
    let mut out: Vec<ReminderSpec> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let field = format!("reminders[{i}]");
        match (spec.remind_at, spec.minutes_before_due) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ValidationError::new(
                    field,
                    "set exactly one of remind_at or minutes_before_due",
                ));
            }
            (None, Some(m)) if m > MAX_MINUTES_BEFORE_DUE => {
                return Err(ValidationError::new(
                    format!("{field}.minutes_before_due"),
                    format!("at most {MAX_MINUTES_BEFORE_DUE} minutes (one year)"),
                ));
            }
            (None, Some(_)) if due_at.is_none() => {
                return Err(ValidationError::new(
                    format!("{field}.minutes_before_due"),
                    "a reminder relative to the due date needs the task to have a due_at",
                ));
            }
            _ => {}
        }
        let spec = ReminderSpec {
            remind_at: spec.remind_at.map(crate::time::truncate),
            ..spec.clone()
        };
        if !out.contains(&spec) {
            out.push(spec);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn relative_reminders_follow_the_due_date() {
        let spec = ReminderSpec {
            remind_at: None,
            minutes_before_due: Some(30),
        };
        assert_eq!(
            spec.fire_time(Some(at("2026-05-01T10:00:00Z"))),
            Some(at("2026-05-01T09:30:00Z"))
        );
        assert_eq!(
            spec.fire_time(Some(at("2026-05-02T10:00:00Z"))),
            Some(at("2026-05-02T09:30:00Z"))
        );
        assert_eq!(spec.fire_time(None), None);
    }

    #[test]
    fn refuses_ambiguous_or_unanchored_reminders() {
        let both = ReminderSpec {
            remind_at: Some(at("2026-05-01T10:00:00Z")),
            minutes_before_due: Some(5),
        };
        assert_eq!(
            validate_reminders(&[both], None).unwrap_err().field,
            "reminders[0]"
        );
        let relative = ReminderSpec {
            remind_at: None,
            minutes_before_due: Some(5),
        };
        let err = validate_reminders(std::slice::from_ref(&relative), None).unwrap_err();
        assert_eq!(err.field, "reminders[0].minutes_before_due");
        assert!(
            validate_reminders(&[relative.clone(), relative], Some(at("2026-05-01T10:00:00Z")))
                .unwrap()
                .len()
                == 1
        );
        let many = vec![
            ReminderSpec {
                remind_at: Some(at("2026-05-01T10:00:00Z")),
                minutes_before_due: None
            };
            11
        ];
        assert!(validate_reminders(&many, None).is_err());
    }
}
