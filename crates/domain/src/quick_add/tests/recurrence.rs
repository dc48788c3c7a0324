use crate::RecurrenceRule;
use crate::quick_add::{QuickAddError, is_recurrence, parse_recurrence};

const CASES: &[(&str, &str)] = &[
    ("daily", "daily"),
    ("every day", "daily"),
    ("Every Day.", "daily"),
    ("every weekday", "weekdays"),
    ("weekdays", "weekdays"),
    ("weekly", "weekly"),
    ("every week", "weekly"),
    ("every monday", "FREQ=WEEKLY;BYDAY=MO"),
    ("every monday and wednesday", "FREQ=WEEKLY;BYDAY=MO,WE"),
    ("every mon, wed and fri", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
    ("every fri, mon & wed", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
    ("on mondays and thursdays", "FREQ=WEEKLY;BYDAY=MO,TH"),
    ("every other monday", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"),
    ("every other day", "FREQ=DAILY;INTERVAL=2"),
    ("every 2 days", "FREQ=DAILY;INTERVAL=2"),
    ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
    ("biweekly", "FREQ=WEEKLY;INTERVAL=2"),
    (
        "every 2 weeks on tuesday and thursday",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
    ),
    ("weekly on friday", "FREQ=WEEKLY;BYDAY=FR"),
    ("monthly", "monthly"),
    ("every month", "monthly"),
    ("every month on the 1st", "FREQ=MONTHLY;BYMONTHDAY=1"),
    ("monthly on the 15th", "FREQ=MONTHLY;BYMONTHDAY=15"),
    ("every month on the 1st and 15th", "FREQ=MONTHLY;BYMONTHDAY=1,15"),
    ("the 1st of every month", "FREQ=MONTHLY;BYMONTHDAY=1"),
    ("every month on the last day", "FREQ=MONTHLY;BYMONTHDAY=-1"),
    ("the last day of every month", "FREQ=MONTHLY;BYMONTHDAY=-1"),
    ("every last friday of the month", "FREQ=MONTHLY;BYDAY=-1FR"),
    ("every first monday of the month", "FREQ=MONTHLY;BYDAY=1MO"),
    ("every second tuesday of the month", "FREQ=MONTHLY;BYDAY=2TU"),
    ("every 2nd tuesday of the month", "FREQ=MONTHLY;BYDAY=2TU"),
    ("every 3 months", "FREQ=MONTHLY;INTERVAL=3"),
    ("every 2nd month", "FREQ=MONTHLY;INTERVAL=2"),
    ("every second tuesday", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"),
    (
        "every 4th thursday of november",
        "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
    ),
    ("once a week", "weekly"),
    ("quarterly", "FREQ=MONTHLY;INTERVAL=3"),
    ("yearly", "yearly"),
    ("annually", "yearly"),
    ("every year", "yearly"),
    ("every year on dec 25", "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25"),
    ("every weekend", "FREQ=WEEKLY;BYDAY=SA,SU"),
    ("every day for 10 times", "FREQ=DAILY;COUNT=10"),
    ("FREQ=WEEKLY;BYDAY=TU", "FREQ=WEEKLY;BYDAY=TU"),
    ("RRULE:FREQ=MONTHLY;BYDAY=-1FR", "RRULE:FREQ=MONTHLY;BYDAY=-1FR"),
];

#[test]
fn turns_phrases_into_rules_the_api_accepts() {
    let mut failures = Vec::new();
    for (phrase, expected) in CASES {
        match parse_recurrence(phrase) {
            Ok(got) if got == *expected => {
                if let Err(e) = got.parse::<RecurrenceRule>() {
                    failures.push(format!("{phrase:?}: {got} does not parse: {e}"));
                }
            }
            other => failures.push(format!("{phrase:?}: expected {expected}, got {other:?}")),
        }
        assert!(is_recurrence(phrase), "{phrase}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(CASES.len() >= 20);
}

#[test]
fn refuses_what_it_cannot_represent() {
    for phrase in [
        "every blue moon",
        "sometimes",
        "every hour",
        "every monday at 9am",
        "tomorrow",
    ] {
        let err = parse_recurrence(phrase).unwrap_err();
        assert!(
            matches!(err, QuickAddError::NotUnderstood { .. }),
            "{phrase}: {err:?}"
        );
        assert!(err.to_string().contains("every weekday"), "{phrase}: {err}");
    }
    let err = parse_recurrence("FREQ=HOURLY").unwrap_err();
    assert!(err.to_string().contains("too frequent"), "{err}");
    assert_eq!(
        parse_recurrence("").unwrap_err(),
        QuickAddError::Empty { what: "repetition" }
    );
}
