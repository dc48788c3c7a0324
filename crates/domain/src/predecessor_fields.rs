//! The predecessors' names for a task's fields, accepted on create and update so that a frontend
//! written for them keeps working: `due_date` (a serde alias of `due_at`, see `task.rs`),
//! `recurring_rule` with `recurring_end_date`, and `reminder_at`.
//!
//! Each is folded into TaskFlow's own field before validation, so every rule applies to both
//! spellings alike. Sending both names of one field is refused (422 naming the old one): which one
//! was meant cannot be known. `null` in an old field means what it meant there: no value on create,
//! "clear it" on update.

use chrono::{DateTime, Utc};

use crate::ValidationError;
use crate::recurrence::{RecurrenceInput, RecurrenceObject};
use crate::reminder::ReminderSpec;

/// `recurrence` as sent, or built from `recurring_rule` (any rule `recurrence` takes, such as the
/// predecessors' `daily`, `weekly`, `monthly`, `yearly`) and `recurring_end_date`.
///
/// Each argument is absent (`None`), `null` (`Some(None)`) or a value.
pub fn recurrence(
    recurrence: Option<Option<&RecurrenceInput>>,
    recurring_rule: Option<Option<&str>>,
    recurring_end_date: Option<Option<DateTime<Utc>>>,
) -> Result<Option<Option<RecurrenceInput>>, ValidationError> {
    let ends_at = recurring_end_date.flatten();
    match (recurrence, recurring_rule) {
        // Both cleared: one meaning, whichever name.
        (Some(None), Some(None)) if ends_at.is_none() => Ok(Some(None)),
        (Some(_), Some(_)) => Err(both("recurring_rule", "recurrence")),
        (Some(_), None) if ends_at.is_some() => Err(ValidationError::new(
            "recurring_end_date",
            "send the end of the series as recurrence.ends_at, or with recurring_rule",
        )),
        (current, None) => {
            if ends_at.is_some() {
                return Err(ValidationError::new(
                    "recurring_end_date",
                    "recurring_end_date needs recurring_rule",
                ));
            }
            Ok(current.map(|r| r.cloned()))
        }
        (None, Some(None)) if ends_at.is_some() => Err(ValidationError::new(
            "recurring_end_date",
            "recurring_end_date needs recurring_rule",
        )),
        (None, Some(None)) => Ok(Some(None)),
        (None, Some(Some(rule))) => Ok(Some(Some(RecurrenceInput::Full(RecurrenceObject {
            rule: rule.to_owned(),
            anchor: None,
            ends_at,
        })))),
    }
}

/// `reminders` as sent, or the one absolute reminder `reminder_at` names (`null`: none).
pub fn reminders(
    reminders: Option<&[ReminderSpec]>,
    reminder_at: Option<Option<DateTime<Utc>>>,
) -> Result<Option<Vec<ReminderSpec>>, ValidationError> {
    match (reminders, reminder_at) {
        (Some(_), Some(Some(_))) => Err(both("reminder_at", "reminders")),
        (Some(specs), _) => Ok(Some(specs.to_vec())),
        (None, None) => Ok(None),
        (None, Some(None)) => Ok(Some(Vec::new())),
        (None, Some(Some(at))) => Ok(Some(vec![ReminderSpec {
            remind_at: Some(at),
            minutes_before_due: None,
        }])),
    }
}

fn both(old: &str, new: &str) -> ValidationError {
    ValidationError::new(
        old,
        format!("{old} is the old name of {new}; send one of them, not both"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_recurring_rule_with_its_end_becomes_a_recurrence() {
        let end = at("2030-06-01T00:00:00Z");
        let got = recurrence(None, Some(Some("weekly")), Some(Some(end))).unwrap();
        let Some(Some(RecurrenceInput::Full(o))) = got else {
            panic!("{got:?}")
        };
        assert_eq!(
            (o.rule.as_str(), o.anchor, o.ends_at),
            ("weekly", None, Some(end))
        );
    }

    #[test]
    fn nulls_mean_no_value_and_clearing() {
        assert!(recurrence(None, None, Some(None)).unwrap().is_none());
        assert!(matches!(
            recurrence(None, Some(None), Some(None)).unwrap(),
            Some(None)
        ));
        assert_eq!(reminders(None, Some(None)).unwrap(), Some(Vec::new()));
        assert_eq!(reminders(None, None).unwrap(), None);
    }

    #[test]
    fn both_names_of_one_field_are_refused_naming_the_old_one() {
        let rule = RecurrenceInput::Rule("daily".into());
        let err = recurrence(Some(Some(&rule)), Some(Some("daily")), None).unwrap_err();
        assert_eq!(err.field, "recurring_rule");
        assert!(matches!(
            recurrence(Some(None), Some(None), None).unwrap(),
            Some(None)
        ));
        let spec = ReminderSpec {
            remind_at: None,
            minutes_before_due: Some(5),
        };
        let err = reminders(
            Some(std::slice::from_ref(&spec)),
            Some(Some(at("2030-01-01T00:00:00Z"))),
        )
        .unwrap_err();
        assert_eq!(err.field, "reminder_at");
        assert_eq!(
            reminders(Some(std::slice::from_ref(&spec)), Some(None)).unwrap(),
            Some(vec![spec])
        );
    }

    #[test]
    fn an_end_date_without_a_rule_is_refused() {
        let end = Some(Some(at("2030-06-01T00:00:00Z")));
        assert_eq!(
            recurrence(None, None, end).unwrap_err().field,
            "recurring_end_date"
        );
        assert_eq!(
            recurrence(None, Some(None), end).unwrap_err().field,
            "recurring_end_date"
        );
        let rule = RecurrenceInput::Rule("daily".into());
        assert_eq!(
            recurrence(Some(Some(&rule)), None, end).unwrap_err().field,
            "recurring_end_date"
        );
    }
}
