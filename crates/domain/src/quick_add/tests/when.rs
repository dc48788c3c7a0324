use super::{TZ, local, now};
use crate::quick_add::{QuickAddError, is_when, parse_when};

/// (phrase, New York wall-clock time it must mean) with now = Wed 2026-03-04 15:30 EST.
const LOCAL_CASES: &[(&str, &str)] = &[
    ("today", "2026-03-04 23:59"),
    ("tonight", "2026-03-04 20:00"),
    ("tomorrow", "2026-03-05 23:59"),
    ("tomorrow 5pm", "2026-03-05 17:00"),
    ("Tomorrow at 5:30 PM.", "2026-03-05 17:30"),
    ("5pm tomorrow", "2026-03-05 17:00"),
    ("next friday 5pm", "2026-03-06 17:00"),
    ("  NEXT   Friday   5PM!! ", "2026-03-06 17:00"),
    ("friday", "2026-03-06 23:59"),
    ("by friday", "2026-03-06 23:59"),
    ("wednesday", "2026-03-11 23:59"),
    ("this wednesday", "2026-03-04 23:59"),
    ("this friday", "2026-03-06 23:59"),
    ("on monday", "2026-03-09 23:59"),
    ("in 3 days", "2026-03-07 15:30"),
    ("3 days from now", "2026-03-07 15:30"),
    ("in 2 hours", "2026-03-04 17:30"),
    ("in 2h", "2026-03-04 17:30"),
    ("in 30 minutes", "2026-03-04 16:00"),
    ("in half an hour", "2026-03-04 16:00"),
    // Crosses the switch to daylight time on 8 March: same local time, one hour less in UTC.
    ("in a week", "2026-03-11 15:30"),
    ("in 2 weeks at 10am", "2026-03-18 10:00"),
    ("in 1 month", "2026-04-04 15:30"),
    ("next week", "2026-03-09 23:59"),
    ("next month", "2026-04-01 23:59"),
    ("next year", "2027-01-01 23:59"),
    ("end of month", "2026-03-31 23:59"),
    ("end of next month", "2026-04-30 23:59"),
    ("end of week", "2026-03-08 23:59"),
    ("this weekend", "2026-03-07 23:59"),
    ("day after tomorrow", "2026-03-06 23:59"),
    ("dec 5", "2026-12-05 23:59"),
    ("5 december", "2026-12-05 23:59"),
    ("the 5th of december", "2026-12-05 23:59"),
    ("dec 5 at 9am", "2026-12-05 09:00"),
    ("december 5th 2027", "2027-12-05 23:59"),
    ("march 4", "2026-03-04 23:59"),
    ("march 4 at 9am", "2027-03-04 09:00"),
    ("the 1st", "2026-04-01 23:59"),
    ("on the 15th", "2026-03-15 23:59"),
    ("5pm", "2026-03-04 17:00"),
    ("5.30pm", "2026-03-04 17:30"),
    ("friday 5", "2026-03-06 17:00"),
    ("next weekend", "2026-03-14 23:59"),
    ("this week", "2026-03-08 23:59"),
    ("5:30 pm", "2026-03-04 17:30"),
    ("17:00", "2026-03-04 17:00"),
    ("at 5", "2026-03-04 17:00"),
    ("at 9", "2026-03-05 09:00"),
    ("noon", "2026-03-05 12:00"),
    ("midnight", "2026-03-05 00:00"),
    ("12am", "2026-03-05 00:00"),
    ("morning", "2026-03-05 09:00"),
    ("afternoon", "2026-03-05 15:00"),
    ("evening", "2026-03-04 18:00"),
    ("tomorrow morning", "2026-03-05 09:00"),
    ("friday afternoon", "2026-03-06 15:00"),
    ("at 9 in the evening", "2026-03-04 21:00"),
    ("tonight at 9", "2026-03-04 21:00"),
    ("eod", "2026-03-04 23:59"),
    ("2026-12-01", "2026-12-01 23:59"),
    ("2026-12-01 14:30", "2026-12-01 14:30"),
    ("2026-12-01T14:30", "2026-12-01 14:30"),
];

/// Cases whose answer is clearer in UTC: explicit offsets and DST edges.
const UTC_CASES: &[(&str, &str)] = &[
    ("2026-12-01T14:30:00Z", "2026-12-01T14:30:00Z"),
    ("2026-12-01T14:30:00+01:00", "2026-12-01T13:30:00Z"),
    // 02:30 on 8 March does not exist in New York: it is read with the offset before the gap (EST),
    // i.e. 03:30 EDT.
    ("sunday 2:30am", "2026-03-08T07:30:00Z"),
    // 01:30 on 1 November happens twice: the earlier (EDT) instant.
    ("2026-11-01 01:30", "2026-11-01T05:30:00Z"),
    // "in a week" keeps 15:30 local, which is 19:30 UTC once daylight time has begun.
    ("in a week", "2026-03-11T19:30:00Z"),
    ("tomorrow", "2026-03-06T04:59:00Z"),
];

#[test]
fn reads_the_phrases_people_write() {
    let mut failures = Vec::new();
    for (phrase, expected) in LOCAL_CASES {
        match parse_when(phrase, now(), TZ) {
            Ok(got) if got == local(expected) => {}
            other => failures.push(format!("{phrase:?}: expected {expected}, got {other:?}")),
        }
        assert!(is_when(phrase), "{phrase:?} should be recognised");
    }
    for (phrase, expected) in UTC_CASES {
        let expected: chrono::DateTime<chrono::Utc> = expected.parse().unwrap();
        match parse_when(phrase, now(), TZ) {
            Ok(got) if got == expected => {}
            other => failures.push(format!("{phrase:?}: expected {expected}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(LOCAL_CASES.len() + UTC_CASES.len() >= 40);
}

#[test]
fn says_what_it_did_not_understand() {
    let cases = [
        ("blah", "\"blah\""),
        ("tomorrow at", "\"at\""),
        ("12/05", "\"12/05\""),
        ("in 5 parsecs", "\"in\""),
        ("next", "\"next\""),
        ("at 25:00", "\"25:00\""),
        ("13pm", "\"13pm\""),
        ("tomorrow tomorrow", "\"tomorrow\""),
    ];
    for (phrase, word) in cases {
        let err = parse_when(phrase, now(), TZ).unwrap_err();
        assert!(
            matches!(err, QuickAddError::NotUnderstood { .. }),
            "{phrase}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(word), "{phrase}: {message}");
        assert!(message.contains("try"), "{phrase}: {message}");
        assert!(!is_when(phrase), "{phrase}");
    }
    assert_eq!(
        parse_when("  ", now(), TZ).unwrap_err(),
        QuickAddError::Empty { what: "date or time" }
    );
    for impossible in ["feb 30", "2026-02-30 10:00", "in 999999 years"] {
        let err = parse_when(impossible, now(), TZ).unwrap_err();
        assert!(
            matches!(err, QuickAddError::Invalid(_)) || matches!(err, QuickAddError::NotUnderstood { .. }),
            "{impossible}: {err:?}"
        );
    }
    assert!(matches!(
        parse_when("feb 30", now(), TZ).unwrap_err(),
        QuickAddError::Invalid(m) if m.contains("no day 30")
    ));
}

#[test]
fn tells_a_day_from_a_time_of_day() {
    use crate::quick_add::names_time_of_day;
    for timed in [
        "friday 3pm",
        "tonight",
        "in 2 hours",
        "in 3 days",
        "tomorrow morning",
        "2026-12-01T10:00:00Z",
        "at 9",
    ] {
        assert!(names_time_of_day(timed), "{timed}");
    }
    for day in [
        "friday",
        "dec 5",
        "next week",
        "the 1st",
        "2026-12-01",
        "nonsense",
    ] {
        assert!(!names_time_of_day(day), "{day}");
    }
}
