use super::{TZ, local, now};
use crate::ReminderSpec;
use crate::quick_add::{QuickAddError, is_relative_reminder, parse_reminder};

fn before(minutes: u32) -> ReminderSpec {
    ReminderSpec {
        remind_at: None,
        minutes_before_due: Some(minutes),
    }
}

fn at(local_time: &str) -> ReminderSpec {
    ReminderSpec {
        remind_at: Some(local(local_time)),
        minutes_before_due: None,
    }
}

#[test]
fn reads_relative_and_absolute_reminders() {
    let cases = [
        ("30 minutes before", before(30)),
        ("15 min before due", before(15)),
        ("1 hour before", before(60)),
        ("an hour before", before(60)),
        ("half an hour before it's due", before(30)),
        ("2 days before", before(2_880)),
        ("a day before", before(1_440)),
        ("the day before", before(1_440)),
        ("2 weeks before the deadline", before(20_160)),
        ("at due time", before(0)),
        ("When due.", before(0)),
        ("tomorrow 9am", at("2026-03-05 09:00")),
        ("in 2 hours", at("2026-03-04 17:30")),
        ("friday at noon", at("2026-03-06 12:00")),
    ];
    for (phrase, expected) in cases {
        assert_eq!(
            parse_reminder(phrase, now(), TZ).as_ref(),
            Ok(&expected),
            "{phrase}"
        );
        assert_eq!(
            is_relative_reminder(phrase),
            expected.minutes_before_due.is_some(),
            "{phrase}"
        );
    }
}

#[test]
fn respects_the_reminder_limits() {
    for phrase in ["400 days before", "2 years before", "1 month before"] {
        let err = parse_reminder(phrase, now(), TZ).unwrap_err();
        assert!(
            matches!(&err, QuickAddError::Invalid(m) if m.contains("one year")),
            "{phrase}: {err:?}"
        );
    }
    assert_eq!(parse_reminder("52 weeks before", now(), TZ), Ok(before(524_160)));
    let err = parse_reminder("whenever", now(), TZ).unwrap_err();
    assert!(
        matches!(&err, QuickAddError::NotUnderstood { what: "a reminder", word, .. } if word == "whenever"),
        "{err:?}"
    );
    assert!(err.to_string().contains("30 minutes before"));
}
