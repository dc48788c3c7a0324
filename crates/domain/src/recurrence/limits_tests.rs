//! Bounded work for any rule a user sends (issue 22, item 1): refusals at parse time, the
//! write-time "does it repeat" check, and the engine's step budget.

use chrono::{DateTime, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::{Frequency, MAX_LIST_LEN, MAX_STEPS, RRule, RecurrenceRule, Schedule, TooExpensive, WeekdayNum};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// The reviewer's rule: a year has no 366th "53rd Monday", and every copy multiplied the work.
fn crafted(len: usize) -> String {
    let mut s = "FREQ=YEARLY;BYSETPOS=366;BYDAY=53MO".to_owned();
    while s.len() + 5 <= len {
        s += ",53MO";
    }
    s
}

fn refused(rule: &str, needle: &str) {
    let err = rule.parse::<RRule>().expect_err(rule);
    assert_eq!(err.field, "recurrence.rule");
    assert!(err.message.contains(needle), "{rule}: {}", err.message);
}

#[test]
fn the_crafted_rule_is_refused_when_parsed() {
    for len in [40, 200, 500] {
        let rule = crafted(len);
        assert!(rule.parse::<RRule>().is_err(), "{rule}");
        assert!(rule.parse::<RecurrenceRule>().is_err(), "{rule}");
    }
    refused(&crafted(500), "more than once");
}

#[test]
fn parts_that_can_never_match_are_refused_with_a_reason() {
    refused("FREQ=WEEKLY;BYDAY=MO,TU,MO", "BYDAY lists MO more than once");
    refused(
        "FREQ=MONTHLY;BYMONTHDAY=1,2,1",
        "BYMONTHDAY lists 1 more than once",
    );
    refused("FREQ=YEARLY;BYMONTH=3,3", "BYMONTH lists 3 more than once");
    refused(
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1,1",
        "BYSETPOS lists 1 more than once",
    );
    refused(
        "FREQ=MONTHLY;BYDAY=6MO",
        "BYDAY 6MO can never match: a month has at most 5",
    );
    refused("FREQ=MONTHLY;BYDAY=-53FR", "a month has at most 5");
    refused("FREQ=YEARLY;BYMONTH=2;BYDAY=9SU", "a month has at most 5");
    refused(
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6",
        "BYSETPOS=6 can never match: this rule selects at most 5 dates per month",
    );
    refused(
        "FREQ=MONTHLY;BYMONTHDAY=1,15;BYSETPOS=-3",
        "at most 2 dates per month",
    );
    refused("FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=3", "at most 2 dates per week");
    refused("FREQ=DAILY;BYMONTH=1;BYSETPOS=2", "at most 1 date per day");
    refused(
        "FREQ=YEARLY;BYDAY=1MO,-1MO;BYSETPOS=366",
        "at most 2 dates per year",
    );
    refused(
        "FREQ=YEARLY;BYMONTH=1,2;BYMONTHDAY=1;BYSETPOS=3",
        "at most 2 dates per year",
    );
    let days: Vec<String> = (1..=32).map(|d| (d % 31 + 1).to_string()).collect();
    refused(
        &format!("FREQ=MONTHLY;BYMONTHDAY={}", days.join(",")),
        "at most 31 values",
    );
    assert_eq!(MAX_LIST_LEN, 31);
}

#[test]
fn rules_people_use_are_still_accepted() {
    for rule in [
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=MONTHLY;BYDAY=5FR",
        "FREQ=MONTHLY;BYDAY=-1SU,1SU",
        "FREQ=YEARLY;BYDAY=53MO",
        "FREQ=YEARLY;BYDAY=20MO",
        "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
        "FREQ=YEARLY;BYDAY=MO;BYSETPOS=53",
        "FREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1",
        "FREQ=MONTHLY;BYMONTHDAY=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=7",
    ] {
        let parsed: RecurrenceRule = rule.parse().unwrap_or_else(|e| panic!("{rule}: {e}"));
        parsed
            .check_repeats(at("2026-01-01T09:00:00Z"))
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
    }
}

#[test]
fn a_rule_that_never_repeats_is_refused_when_stored() {
    let start = at("2025-03-10T09:00:00Z");
    for rule in [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=DAILY;BYMONTH=6;BYMONTHDAY=31",
        // From 2025 every fourth year is never a leap year.
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=MONTHLY;BYMONTHDAY=1;BYDAY=2MO",
    ] {
        let parsed: RecurrenceRule = rule.parse().unwrap();
        let err = parsed.check_repeats(start).expect_err(rule);
        assert_eq!(err.field, "recurrence.rule");
        assert!(
            err.message.contains("never gives a date"),
            "{rule}: {}",
            err.message
        );
    }
    // A leap day every fourth year from a leap year repeats; UNTIL ending the series early is allowed.
    for rule in [
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=DAILY;UNTIL=20200101",
    ] {
        let parsed: RecurrenceRule = rule.parse().unwrap();
        parsed
            .check_repeats(at("2028-01-10T09:00:00Z"))
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
    }
}

fn weekday(ordinal: Option<i8>, weekday: Weekday) -> WeekdayNum {
    WeekdayNum { ordinal, weekday }
}

/// A rule built without the parser, as an old row or a future bug could hand the engine.
fn raw(freq: Frequency, by_day: Vec<WeekdayNum>, by_set_pos: Vec<i16>) -> RecurrenceRule {
    RecurrenceRule::Custom(RRule {
        freq,
        interval: 1,
        by_day,
        by_month_day: Vec::new(),
        by_month: Vec::new(),
        by_set_pos,
        count: None,
        until: None,
        week_start: None,
    })
}

#[test]
fn the_engine_bounds_the_crafted_rule_even_unparsed() {
    // 100 copies of 53MO: before, every day of every year was checked against every copy by
    // refiltering the whole year, for 2 000 empty years.
    let rule = raw(
        Frequency::Yearly,
        vec![weekday(Some(53), Weekday::Mon); 100],
        vec![366],
    );
    let schedule = Schedule::new(&rule, at("2026-01-05T09:00:00Z"), Tz::UTC, None);
    let mut dates = schedule.occurrences();
    assert_eq!(
        dates.next(),
        Some(Ok(at("2026-01-05T09:00:00Z"))),
        "the start itself"
    );
    assert_eq!(
        dates.next(),
        None,
        "no date in one 400-year cycle: it never matches"
    );
    assert!(dates.steps() <= 400 * 366, "one cycle of days: {}", dates.steps());
    assert_eq!(schedule.next_after(at("2026-01-05T09:00:00Z")), Ok(None));
}

#[test]
fn a_search_beyond_the_budget_is_an_error_not_a_hang() {
    let daily: RecurrenceRule = "FREQ=DAILY".parse().unwrap();
    let schedule = Schedule::new(&daily, at("2026-01-01T09:00:00Z"), Tz::UTC, None);
    // 3 000 years of days to walk through: more than the budget allows.
    assert_eq!(schedule.next_after(at("5026-01-01T00:00:00Z")), Err(TooExpensive));
    let mut dates = schedule.occurrences();
    let last = dates.by_ref().last();
    assert_eq!(last, Some(Err(TooExpensive)));
    assert!(dates.steps() <= MAX_STEPS + 366, "{}", dates.steps());
    assert!(TooExpensive.to_string().contains("too expensive"));
}

fn arb_weekday() -> impl Strategy<Value = WeekdayNum> {
    let day = proptest::sample::select(vec![
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]);
    let ordinal = proptest::option::of(prop_oneof![1i8..=53, -53i8..=-1]);
    (ordinal, day).prop_map(|(ordinal, weekday)| WeekdayNum { ordinal, weekday })
}

/// Any combination of parts, valid or not, straight to the engine.
fn arb_raw_rule() -> impl Strategy<Value = RRule> {
    (
        proptest::sample::select(vec![
            Frequency::Daily,
            Frequency::Weekly,
            Frequency::Monthly,
            Frequency::Yearly,
        ]),
        prop_oneof![Just(1u16), 1u16..=1000],
        proptest::collection::vec(arb_weekday(), 0..40),
        proptest::collection::vec(prop_oneof![1i8..=31, -31i8..=-1], 0..4),
        proptest::collection::vec(1u8..=12, 0..3),
        proptest::collection::vec(prop_oneof![1i16..=366, -366i16..=-1], 0..3),
    )
        .prop_map(
            |(freq, interval, by_day, by_month_day, by_month, by_set_pos)| RRule {
                freq,
                interval,
                by_day,
                by_month_day,
                by_month,
                by_set_pos,
                count: None,
                until: None,
                week_start: None,
            },
        )
}

fn arb_start() -> impl Strategy<Value = DateTime<Utc>> {
    // 1990..2060
    (631_152_000i64..2_871_763_200)
        .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or(DateTime::UNIX_EPOCH))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_rule_makes_the_engine_exceed_its_budget(rule in arb_raw_rule(), start in arb_start()) {
        let rule = RecurrenceRule::Custom(rule);
        let schedule = Schedule::new(&rule, start, Tz::UTC, None);
        let mut dates = schedule.occurrences();
        for date in dates.by_ref().take(50) {
            if date.is_err() {
                break;
            }
        }
        // One period may overshoot the budget before it is refused.
        prop_assert!(dates.steps() <= MAX_STEPS + 366, "{} steps", dates.steps());
    }

    #[test]
    fn an_accepted_rule_repeats(rule in arb_raw_rule(), start in arb_start()) {
        // Print and re-parse: what survives the parser and the write-time check gives a second date.
        let Ok(parsed) = rule.to_string().parse::<RecurrenceRule>() else { return Ok(()); };
        if parsed.check_repeats(start).is_err() {
            return Ok(());
        }
        let found = [start, start - chrono::Days::new(1), start + chrono::Days::new(1)]
            .into_iter()
            .any(|s| {
                let schedule = Schedule::new(&parsed, s, Tz::UTC, None);
                matches!(schedule.occurrences().nth(1), Some(Ok(_)))
            });
        prop_assert!(found, "{}", parsed);
    }
}
