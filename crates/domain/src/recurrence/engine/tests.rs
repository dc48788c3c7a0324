use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::Schedule;
use crate::recurrence::{RRule, RecurrenceRule};

fn tz(name: &str) -> Tz {
    name.parse().unwrap()
}

fn local(tz: Tz, s: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    tz.from_local_datetime(&naive)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn schedule(rule: &str, start: &str, zone: &str) -> Schedule {
    let tz = tz(zone);
    Schedule::new(
        &rule.parse::<RecurrenceRule>().unwrap(),
        local(tz, start),
        tz,
        None,
    )
}

/// The first `n` occurrences as local "YYYY-MM-DD HH:MM".
fn dates(s: &Schedule, zone: &str, n: usize) -> Vec<String> {
    let tz = tz(zone);
    s.occurrences()
        .map(Result::unwrap)
        .take(n)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .collect()
}

#[test]
fn monthly_from_the_31st_clamps_without_drifting() {
    let s = schedule("monthly", "2026-01-31 09:00", "UTC");
    assert_eq!(
        dates(&s, "UTC", 6),
        [
            "2026-01-31 09:00",
            "2026-02-28 09:00",
            "2026-03-31 09:00",
            "2026-04-30 09:00",
            "2026-05-31 09:00",
            "2026-06-30 09:00"
        ]
    );
    let leap = schedule("monthly", "2028-01-31 09:00", "UTC");
    assert_eq!(dates(&leap, "UTC", 3)[1], "2028-02-29 09:00");
    let thirtieth = schedule("monthly", "2026-01-30 09:00", "UTC");
    assert_eq!(
        dates(&thirtieth, "UTC", 3),
        ["2026-01-30 09:00", "2026-02-28 09:00", "2026-03-30 09:00"]
    );
}

#[test]
fn plain_rfc_monthly_skips_short_months_as_the_standard_says() {
    let s = schedule("FREQ=MONTHLY", "2026-01-31 09:00", "UTC");
    assert_eq!(
        dates(&s, "UTC", 3),
        ["2026-01-31 09:00", "2026-03-31 09:00", "2026-05-31 09:00"]
    );
    let clamped = schedule(
        "FREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1",
        "2026-01-31 09:00",
        "UTC",
    );
    assert_eq!(dates(&clamped, "UTC", 2)[1], "2026-02-28 09:00");
}

#[test]
fn yearly_from_february_29th_lands_on_the_28th_in_common_years() {
    let s = schedule("yearly", "2028-02-29 08:00", "UTC");
    assert_eq!(
        dates(&s, "UTC", 5),
        [
            "2028-02-29 08:00",
            "2029-02-28 08:00",
            "2030-02-28 08:00",
            "2031-02-28 08:00",
            "2032-02-29 08:00"
        ]
    );
}

#[test]
fn nine_oclock_stays_nine_oclock_across_dst() {
    // New York springs forward on 8 March 2026 and falls back on 1 November 2026.
    let ny = schedule("daily", "2026-03-07 09:00", "America/New_York");
    let utc: Vec<u32> = ny
        .occurrences()
        .map(Result::unwrap)
        .take(3)
        .map(|t| t.hour())
        .collect();
    assert_eq!(utc, [14, 13, 13]);
    assert!(
        dates(&ny, "America/New_York", 3)
            .iter()
            .all(|d| d.ends_with("09:00"))
    );
    let autumn = schedule("daily", "2026-10-31 09:00", "America/New_York");
    assert_eq!(
        autumn
            .occurrences()
            .map(Result::unwrap)
            .take(2)
            .map(|t| t.hour())
            .collect::<Vec<_>>(),
        [13, 14]
    );
    // London: BST begins 29 March 2026.
    let london = schedule("daily", "2026-03-28 09:00", "Europe/London");
    assert_eq!(
        london
            .occurrences()
            .map(Result::unwrap)
            .take(2)
            .map(|t| t.hour())
            .collect::<Vec<_>>(),
        [9, 8]
    );
    // Karachi has no DST: always UTC+5.
    let karachi = schedule("weekly", "2026-03-01 09:00", "Asia/Karachi");
    assert!(
        karachi
            .occurrences()
            .map(Result::unwrap)
            .take(52)
            .all(|t| t.hour() == 4)
    );
}

#[test]
fn a_time_inside_the_spring_forward_gap_moves_forward_by_the_gap() {
    let s = schedule("daily", "2026-03-07 02:30", "America/New_York");
    assert_eq!(
        dates(&s, "America/New_York", 3),
        ["2026-03-07 02:30", "2026-03-08 03:30", "2026-03-09 02:30"]
    );
}

#[test]
fn by_day_ordinals_and_set_positions() {
    let last_friday = schedule("FREQ=MONTHLY;BYDAY=-1FR", "2026-01-30 17:00", "UTC");
    assert_eq!(
        dates(&last_friday, "UTC", 4),
        [
            "2026-01-30 17:00",
            "2026-02-27 17:00",
            "2026-03-27 17:00",
            "2026-04-24 17:00"
        ]
    );
    let last_workday = schedule(
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "2026-01-30 17:00",
        "UTC",
    );
    assert_eq!(
        dates(&last_workday, "UTC", 4)[1..],
        ["2026-02-27 17:00", "2026-03-31 17:00", "2026-04-30 17:00"]
    );
    let mwf = schedule("FREQ=WEEKLY;BYDAY=MO,WE,FR", "2026-11-25 08:00", "UTC");
    assert_eq!(
        dates(&mwf, "UTC", 4),
        [
            "2026-11-25 08:00",
            "2026-11-27 08:00",
            "2026-11-30 08:00",
            "2026-12-02 08:00"
        ]
    );
    let fortnightly = schedule("FREQ=WEEKLY;INTERVAL=2", "2026-11-23 08:00", "UTC");
    assert_eq!(
        dates(&fortnightly, "UTC", 3),
        ["2026-11-23 08:00", "2026-12-07 08:00", "2026-12-21 08:00"]
    );
    let weekdays = schedule("weekdays", "2026-11-27 08:00", "UTC");
    assert_eq!(
        dates(&weekdays, "UTC", 3),
        ["2026-11-27 08:00", "2026-11-30 08:00", "2026-12-01 08:00"]
    );
    let thanksgiving = schedule("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", "2026-11-26 12:00", "UTC");
    assert_eq!(
        dates(&thanksgiving, "UTC", 3),
        ["2026-11-26 12:00", "2027-11-25 12:00", "2028-11-23 12:00"]
    );
}

#[test]
fn until_and_the_series_end_stop_it() {
    let s = schedule("FREQ=DAILY;UNTIL=20260105", "2026-01-01 09:00", "UTC");
    assert_eq!(s.occurrences().map(Result::unwrap).count(), 5);
    let s = schedule("FREQ=DAILY;UNTIL=20260103T090000Z", "2026-01-01 09:00", "UTC");
    assert_eq!(s.occurrences().map(Result::unwrap).count(), 3);
    let tz = tz("UTC");
    let ended = Schedule::new(
        &"daily".parse().unwrap(),
        local(tz, "2026-01-01 09:00"),
        tz,
        Some(local(tz, "2026-01-03 10:00")),
    );
    assert_eq!(ended.occurrences().map(Result::unwrap).count(), 3);
    assert_eq!(ended.next_after(local(tz, "2026-01-03 09:00")), Ok(None));
}

#[test]
fn a_rule_that_never_matches_ends_instead_of_looping() {
    let s = schedule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "2026-01-01 09:00", "UTC");
    assert_eq!(
        s.occurrences().map(Result::unwrap).count(),
        1,
        "only the start itself"
    );
}

fn arb_zone() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("UTC"),
        Just("America/New_York"),
        Just("Europe/London"),
        Just("Asia/Karachi"),
        Just("Australia/Sydney")
    ]
}

fn distinct<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn arb_rule() -> impl Strategy<Value = String> {
    let day = prop_oneof!["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
    (
        prop_oneof!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"],
        1u16..4,
        proptest::collection::vec(day, 0..3),
        proptest::collection::vec(prop_oneof![1i8..=31, -3i8..=-1], 0..3),
        proptest::collection::vec(1u8..=12, 0..3),
        proptest::option::of(20270101u32..20300101),
    )
        .prop_map(|(freq, interval, days, mdays, months, until)| {
            // BY… lists refuse a value given twice.
            let (days, mdays, months) = (distinct(days), distinct(mdays), distinct(months));
            let mut s = format!("FREQ={freq};INTERVAL={interval}");
            if !days.is_empty() {
                s += &format!(";BYDAY={}", days.join(","));
            }
            if !mdays.is_empty() && freq != "WEEKLY" {
                s += &format!(
                    ";BYMONTHDAY={}",
                    mdays
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
            if !months.is_empty() {
                s += &format!(
                    ";BYMONTH={}",
                    months
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
            if let Some(u) = until.filter(|u| NaiveDate::parse_from_str(&u.to_string(), "%Y%m%d").is_ok()) {
                s += &format!(";UNTIL={u}");
            }
            s
        })
}

fn arb_start() -> impl Strategy<Value = String> {
    (
        2024i32..2028,
        1u32..=12,
        1u32..=28,
        0u32..24,
        prop_oneof![Just(0u32), Just(30u32)],
    )
        .prop_map(|(y, m, d, h, min)| format!("{y}-{m:02}-{d:02} {h:02}:{min:02}"))
}

fn days_in(date: NaiveDate) -> u32 {
    super::days_in_month(date.year(), date.month())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_occurrence_matches_the_rule_in_local_time(rule in arb_rule(), start in arb_start(), zone in arb_zone()) {
        let parsed: RRule = rule.parse().unwrap();
        let tz = tz(zone);
        let Some(start_at) = tz.from_local_datetime(&chrono::NaiveDateTime::parse_from_str(&start, "%Y-%m-%d %H:%M").unwrap()).earliest() else {
            return Ok(());
        };
        let start_at = start_at.with_timezone(&Utc);
        let s = Schedule::new(&RecurrenceRule::Custom(parsed.clone()), start_at, tz, None);
        let start_local = start_at.with_timezone(&tz).naive_local();
        let occurrences: Vec<DateTime<Utc>> = s.occurrences().map(Result::unwrap).take(25).collect();
        prop_assert_eq!(occurrences.first().copied(), Some(start_at).filter(|_| !occurrences.is_empty()));
        for pair in occurrences.windows(2) {
            prop_assert!(pair[0] < pair[1], "not strictly increasing: {:?}", pair);
        }
        for at in occurrences.iter().skip(1) {
            let l = at.with_timezone(&tz).naive_local();
            let d = l.date();
            // Same wall-clock time, unless that time does not exist on that day.
            if l.time() != start_local.time() {
                prop_assert!(tz.from_local_datetime(&d.and_time(start_local.time())).earliest().is_none(), "{} at {}", rule, l);
            }
            if !parsed.by_month.is_empty() {
                prop_assert!(parsed.by_month.iter().any(|&m| u32::from(m) == d.month()), "{} month {}", rule, d);
            }
            if !parsed.by_month_day.is_empty() {
                let dim = i64::from(days_in(d));
                prop_assert!(parsed.by_month_day.iter().any(|&n| { let n = i64::from(n); i64::from(d.day()) == if n > 0 { n } else { dim + 1 + n } }), "{} day {}", rule, d);
            }
            if !parsed.by_day.is_empty() {
                prop_assert!(parsed.by_day.iter().any(|b| b.weekday == d.weekday()), "{} weekday {}", rule, d);
            }
            if let Some(super::Until::Date(u)) = parsed.until {
                prop_assert!(d <= u);
            }
        }
    }

    #[test]
    fn monthly_presets_hit_every_month_on_the_clamped_day(start in arb_start(), day in 1u32..=31, zone in arb_zone()) {
        let tz = tz(zone);
        let base = chrono::NaiveDateTime::parse_from_str(&start, "%Y-%m-%d %H:%M").unwrap();
        let Some(first) = NaiveDate::from_ymd_opt(base.year(), base.month(), day.min(days_in(base.date()))) else { return Ok(()); };
        let Some(start_at) = tz.from_local_datetime(&first.and_time(base.time())).earliest() else { return Ok(()); };
        let s = Schedule::new(&"monthly".parse().unwrap(), start_at.with_timezone(&Utc), tz, None);
        let months: Vec<NaiveDate> = s.occurrences().map(Result::unwrap).take(24).map(|t| t.with_timezone(&tz).date_naive()).collect();
        prop_assert_eq!(months.len(), 24);
        for pair in months.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let next_month = if a.month() == 12 { (a.year() + 1, 1) } else { (a.year(), a.month() + 1) };
            prop_assert_eq!((b.year(), b.month()), next_month, "skipped a month");
            prop_assert_eq!(b.day(), first.day().min(days_in(b)), "drifted");
        }
    }
}

#[test]
fn the_rfc5545_rule_spells_presets_and_ends_in_utc() {
    let berlin = tz("Europe/Berlin");
    // A preset becomes its rule; a date UNTIL becomes the last occurrence's instant in UTC.
    let s = schedule("monthly", "2027-01-31 09:00", "Europe/Berlin");
    assert_eq!(
        s.rfc5545_rule().to_string(),
        "FREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1"
    );
    let s = schedule("FREQ=WEEKLY;UNTIL=20270630", "2027-01-04 09:00", "Europe/Berlin");
    assert_eq!(s.rfc5545_rule().to_string(), "FREQ=WEEKLY;UNTIL=20270630T070000Z");
    // The series' end date is an UNTIL when the rule has no COUNT, and never with one.
    let start = local(berlin, "2027-01-04 09:00");
    let end = local(berlin, "2027-03-01 00:00");
    let rule = "daily".parse::<RecurrenceRule>().unwrap();
    let s = Schedule::new(&rule, start, berlin, Some(end));
    assert_eq!(s.rfc5545_rule().to_string(), "FREQ=DAILY;UNTIL=20270228T230000Z");
    let rule = "FREQ=DAILY;COUNT=3".parse::<RecurrenceRule>().unwrap();
    let s = Schedule::new(&rule, start, berlin, Some(end));
    assert_eq!(s.rfc5545_rule().to_string(), "FREQ=DAILY;COUNT=3");
}
