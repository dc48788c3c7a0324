use chrono::{DateTime, Days, LocalResult, SecondsFormat, TimeZone, Utc};
use proptest::prelude::*;

use super::TZ;
use crate::quick_add::{is_when, parse_recurrence, parse_reminder, parse_when};

const VOCABULARY: &[&str] = &[
    "in",
    "at",
    "on",
    "the",
    "next",
    "this",
    "every",
    "other",
    "and",
    "of",
    "before",
    "a",
    "an",
    "day",
    "days",
    "week",
    "month",
    "year",
    "hours",
    "minutes",
    "monday",
    "fri",
    "dec",
    "may",
    "1st",
    "31st",
    "last",
    "5pm",
    "12am",
    "0:00",
    "23:59",
    "99:99",
    "noon",
    "midnight",
    "tomorrow",
    "tonight",
    "morning",
    "end",
    "weekend",
    "2026-02-29",
    "2026-12-01t25:00",
    "999999",
    "0",
    "-1",
    "times",
    "for",
    "from",
    "now",
    "half",
    "weekday",
    "second",
    "ß",
    "🙂",
    "",
];

fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 1970..2100, microsecond precision (what the system stores).
    (0i64..4_102_444_800, 0u32..1_000_000)
        .prop_map(|(s, us)| DateTime::from_timestamp(s, us * 1_000).unwrap_or(DateTime::UNIX_EPOCH))
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,80}", now in arb_instant()) {
        let _ = parse_when(&s, now, TZ);
        let _ = parse_reminder(&s, now, TZ);
        let _ = parse_recurrence(&s);
        let _ = is_when(&s);
    }

    #[test]
    fn never_panics_on_near_miss_phrases(
        words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..7),
        now in arb_instant(),
    ) {
        let s = words.join(" ");
        let _ = parse_when(&s, now, TZ);
        let _ = parse_reminder(&s, now, TZ);
        let _ = parse_recurrence(&s);
    }

    #[test]
    fn rfc3339_instants_round_trip(t in arb_instant(), now in arb_instant()) {
        let utc = t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        prop_assert_eq!(parse_when(&utc, now, TZ), Ok(t));
        let local = t.with_timezone(&TZ).to_rfc3339();
        prop_assert_eq!(parse_when(&local, now, TZ), Ok(t));
    }

    #[test]
    fn in_n_days_is_n_local_days_later_at_the_same_local_time(n in 0u64..3_000, now in arb_instant()) {
        let got = parse_when(&format!("in {n} days"), now, TZ).unwrap().with_timezone(&TZ);
        let start = now.with_timezone(&TZ);
        let expected_date = start.date_naive().checked_add_days(Days::new(n)).unwrap();
        prop_assert_eq!(got.date_naive(), expected_date);
        let wall = expected_date.and_time(start.time());
        if let LocalResult::None = TZ.from_local_datetime(&wall) {
            // The same wall time does not exist that day (spring forward): it moves forward by the gap.
            prop_assert!(got.time() > start.time());
        } else {
            prop_assert_eq!(got.time(), start.time());
        }
    }
}
