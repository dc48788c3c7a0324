//! How a task repeats: a preset or an RFC 5545 RRULE, an anchor, and an optional end.
//!
//! Parsing is strict and total: any string either becomes a valid [`RRule`] or a [`ValidationError`] that
//! says what is wrong — never a panic. A parsed rule prints back in a canonical form that parses to the
//! same rule, so what is stored is what was meant.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::ValidationError;

mod engine;
mod reach;

pub use engine::{MAX_STEPS, Occurrences, Schedule, TooExpensive, local_instant};

const FIELD: &str = "recurrence.rule";
pub const MAX_INTERVAL: u16 = 1000;
pub const MAX_COUNT: u32 = 10_000;
const MAX_RULE_LEN: usize = 500;
/// The most values one BY… list may hold (31 days of a month; no useful rule needs more).
pub const MAX_LIST_LEN: usize = 31;

/// How often a rule repeats. Sub-daily frequencies make no sense for tasks and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Frequency {
    fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly => "WEEKLY",
            Self::Monthly => "MONTHLY",
            Self::Yearly => "YEARLY",
        }
    }
}

/// A `BYDAY` entry: a weekday, optionally the n-th of the month/year (`-1FR` = last Friday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdayNum {
    pub ordinal: Option<i8>,
    pub weekday: Weekday,
}

/// `UNTIL`: a date, a UTC date-time (`…Z`) or a floating local date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Date(NaiveDate),
    Utc(DateTime<Utc>),
    Local(NaiveDateTime),
}

/// A parsed RFC 5545 recurrence rule (the subset that makes sense for tasks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRule {
    pub freq: Frequency,
    pub interval: u16,
    pub by_day: Vec<WeekdayNum>,
    pub by_month_day: Vec<i8>,
    pub by_month: Vec<u8>,
    pub by_set_pos: Vec<i16>,
    pub count: Option<u32>,
    pub until: Option<Until>,
    pub week_start: Option<Weekday>,
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::new(FIELD, message)
}

/// The RFC 5545 two-letter code of a weekday (`MO` … `SU`).
pub(crate) fn weekday_code(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

fn parse_weekday(code: &str) -> Option<Weekday> {
    Some(match code {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    })
}

fn parse_int<T: FromStr>(key: &str, value: &str) -> Result<T, ValidationError> {
    // `FromStr` for integers accepts a leading '+', which RFC 5545 allows too.
    value
        .parse::<T>()
        .map_err(|_| invalid(format!("{key} must be a whole number, not {value:?}")))
}

/// A comma-separated BY… list: at most [`MAX_LIST_LEN`] values, none twice (a repeated value adds
/// nothing but evaluation work).
fn parse_list<T: PartialEq>(
    key: &str,
    value: &str,
    item: impl Fn(&str) -> Result<T, ValidationError>,
) -> Result<Vec<T>, ValidationError> {
    if value.is_empty() {
        return Err(invalid(format!("{key} needs at least one value")));
    }
    let mut items = Vec::new();
    for (raw, n) in value.split(',').zip(1..) {
        if n > MAX_LIST_LEN {
            return Err(invalid(format!("{key} can have at most {MAX_LIST_LEN} values")));
        }
        let parsed = item(raw)?;
        if items.contains(&parsed) {
            return Err(invalid(format!("{key} lists {raw} more than once")));
        }
        items.push(parsed);
    }
    Ok(items)
}

fn parse_by_day(value: &str) -> Result<WeekdayNum, ValidationError> {
    let split = value.len().saturating_sub(2);
    let (num, day) = (value.get(..split).unwrap_or(""), value.get(split..).unwrap_or(""));
    let weekday = parse_weekday(day)
        .ok_or_else(|| invalid(format!("BYDAY value {value:?} is not a weekday like MO or -1FR")))?;
    let ordinal = if num.is_empty() {
        None
    } else {
        let n: i8 = parse_int("BYDAY", num)?;
        if n == 0 || !(-53..=53).contains(&n) {
            return Err(invalid(format!(
                "BYDAY ordinal in {value:?} must be between -53 and 53, not 0"
            )));
        }
        Some(n)
    };
    Ok(WeekdayNum { ordinal, weekday })
}

fn parse_until(value: &str) -> Result<Until, ValidationError> {
    let bad = || {
        invalid(format!(
            "UNTIL must look like 20261231 or 20261231T235959Z, not {value:?}"
        ))
    };
    if value.len() == 8 {
        return NaiveDate::parse_from_str(value, "%Y%m%d")
            .map(Until::Date)
            .map_err(|_| bad());
    }
    if let Some(local) = value.strip_suffix('Z') {
        let t = NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
        return Ok(Until::Utc(t.and_utc()));
    }
    NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S")
        .map(Until::Local)
        .map_err(|_| bad())
}

impl FromStr for RRule {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.len() > MAX_RULE_LEN {
            return Err(invalid(format!(
                "a rule must be at most {MAX_RULE_LEN} characters"
            )));
        }
        let upper = raw.trim().to_ascii_uppercase();
        let body = upper.strip_prefix("RRULE:").unwrap_or(&upper);
        if body.is_empty() {
            return Err(invalid("the rule is empty"));
        }

        let mut freq = None;
        let mut interval = None;
        let mut by_day = None;
        let mut by_month_day = None;
        let mut by_month = None;
        let mut by_set_pos = None;
        let mut count = None;
        let mut until = None;
        let mut week_start = None;

        for part in body.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| invalid(format!("{part:?} is not a KEY=VALUE pair")))?;
            let seen =
                match key {
                    "FREQ" => freq
                        .replace(match value {
                            "DAILY" => Frequency::Daily,
                            "WEEKLY" => Frequency::Weekly,
                            "MONTHLY" => Frequency::Monthly,
                            "YEARLY" => Frequency::Yearly,
                            "SECONDLY" | "MINUTELY" | "HOURLY" => {
                                return Err(invalid(format!("FREQ={value} is too frequent for a task")));
                            }
                            _ => {
                                return Err(invalid(format!(
                                    "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, not {value:?}"
                                )));
                            }
                        })
                        .is_some(),
                    "INTERVAL" => {
                        let n: u16 = parse_int(key, value)?;
                        if n == 0 || n > MAX_INTERVAL {
                            return Err(invalid(format!("INTERVAL must be between 1 and {MAX_INTERVAL}")));
                        }
                        interval.replace(n).is_some()
                    }
                    "BYDAY" => by_day.replace(parse_list(key, value, parse_by_day)?).is_some(),
                    "BYMONTHDAY" => by_month_day
                        .replace(parse_list(key, value, |v| {
                            let n: i8 = parse_int(key, v)?;
                            if n == 0 || !(-31..=31).contains(&n) {
                                return Err(invalid("BYMONTHDAY values must be 1..31 or -31..-1"));
                            }
                            Ok(n)
                        })?)
                        .is_some(),
                    "BYMONTH" => by_month
                        .replace(parse_list(key, value, |v| {
                            let n: u8 = parse_int(key, v)?;
                            if !(1..=12).contains(&n) {
                                return Err(invalid("BYMONTH values must be 1..12"));
                            }
                            Ok(n)
                        })?)
                        .is_some(),
                    "BYSETPOS" => by_set_pos
                        .replace(parse_list(key, value, |v| {
                            let n: i16 = parse_int(key, v)?;
                            if n == 0 || !(-366..=366).contains(&n) {
                                return Err(invalid("BYSETPOS values must be 1..366 or -366..-1"));
                            }
                            Ok(n)
                        })?)
                        .is_some(),
                    "COUNT" => {
                        let n: u32 = parse_int(key, value)?;
                        if n == 0 || n > MAX_COUNT {
                            return Err(invalid(format!("COUNT must be between 1 and {MAX_COUNT}")));
                        }
                        count.replace(n).is_some()
                    }
                    "UNTIL" => until.replace(parse_until(value)?).is_some(),
                    "WKST" => week_start
                        .replace(parse_weekday(value).ok_or_else(|| {
                            invalid(format!("WKST must be a weekday like MO, not {value:?}"))
                        })?)
                        .is_some(),
                    "BYHOUR" | "BYMINUTE" | "BYSECOND" | "BYYEARDAY" | "BYWEEKNO" => {
                        return Err(invalid(format!("{key} is not supported for tasks")));
                    }
                    _ => return Err(invalid(format!("{key:?} is not an RRULE part"))),
                };
            if seen {
                return Err(invalid(format!("{key} appears more than once")));
            }
        }

        let freq = freq.ok_or_else(|| invalid("FREQ is required, e.g. FREQ=WEEKLY"))?;
        let rule = RRule {
            freq,
            interval: interval.unwrap_or(1),
            by_day: by_day.unwrap_or_default(),
            by_month_day: by_month_day.unwrap_or_default(),
            by_month: by_month.unwrap_or_default(),
            by_set_pos: by_set_pos.unwrap_or_default(),
            count,
            until,
            week_start,
        };
        rule.check_combination()?;
        Ok(rule)
    }
}

impl RRule {
    /// The RFC 5545 constraints between parts.
    fn check_combination(&self) -> Result<(), ValidationError> {
        if self.count.is_some() && self.until.is_some() {
            return Err(invalid("COUNT and UNTIL cannot both be set"));
        }
        if self.by_day.iter().any(|d| d.ordinal.is_some())
            && !matches!(self.freq, Frequency::Monthly | Frequency::Yearly)
        {
            return Err(invalid(
                "numbered BYDAY values like -1FR need FREQ=MONTHLY or FREQ=YEARLY",
            ));
        }
        if self.freq == Frequency::Weekly && !self.by_month_day.is_empty() {
            return Err(invalid("BYMONTHDAY cannot be used with FREQ=WEEKLY"));
        }
        if !self.by_set_pos.is_empty()
            && self.by_day.is_empty()
            && self.by_month_day.is_empty()
            && self.by_month.is_empty()
        {
            return Err(invalid("BYSETPOS needs another BY… part to select from"));
        }
        self.check_reachable()
    }

    /// Whether numbered BYDAY values count within a month (else within the year).
    fn ordinals_in_month(&self) -> bool {
        self.freq == Frequency::Monthly || !self.by_month.is_empty() || !self.by_month_day.is_empty()
    }

    /// The most dates one period of this rule can select before BYSETPOS: what BYSETPOS can reach.
    fn max_candidates(&self) -> usize {
        // Per month: each BYMONTHDAY value is one day; a plain weekday is up to 5 days, a numbered one 1.
        let weekdays = |per_weekday: usize| -> usize {
            self.by_day
                .iter()
                .map(|d| if d.ordinal.is_some() { 1 } else { per_weekday })
                .sum()
        };
        let in_month = || -> usize {
            let by_month_day = (!self.by_month_day.is_empty()).then_some(self.by_month_day.len());
            let by_day = (!self.by_day.is_empty()).then(|| weekdays(5));
            match (by_month_day, by_day) {
                (None, None) => 1,
                (Some(a), Some(b)) => a.min(b),
                (Some(n), None) | (None, Some(n)) => n,
            }
            .min(31)
        };
        match self.freq {
            Frequency::Daily => 1,
            Frequency::Weekly if self.by_day.is_empty() => 1,
            Frequency::Weekly => self.by_day.len().min(7),
            Frequency::Monthly => in_month(),
            Frequency::Yearly if !self.ordinals_in_month() && !self.by_day.is_empty() => {
                weekdays(53).min(366)
            }
            Frequency::Yearly => {
                let months = match (self.by_month.len(), self.by_month_day.is_empty()) {
                    (0, true) => 1,
                    (0, false) => 12,
                    (n, _) => n,
                };
                (months * in_month()).min(366)
            }
        }
    }

    /// Refuses parts that can never select a date: a BYDAY number beyond its month or year, a
    /// BYSETPOS beyond the dates a period can have.
    fn check_reachable(&self) -> Result<(), ValidationError> {
        let (scope, most) = if self.ordinals_in_month() {
            ("month", 5)
        } else {
            ("year", 53)
        };
        if let Some(d) = self
            .by_day
            .iter()
            .find(|d| d.ordinal.is_some_and(|n| n.unsigned_abs() > most))
        {
            return Err(invalid(format!(
                "BYDAY {}{} can never match: a {scope} has at most {most} of each weekday",
                d.ordinal.unwrap_or_default(),
                weekday_code(d.weekday)
            )));
        }
        let reach = self.max_candidates();
        if let Some(p) = self
            .by_set_pos
            .iter()
            .find(|p| usize::from(p.unsigned_abs()) > reach)
        {
            let period = match self.freq {
                Frequency::Daily => "day",
                Frequency::Weekly => "week",
                Frequency::Monthly => "month",
                Frequency::Yearly => "year",
            };
            let dates = if reach == 1 { "date" } else { "dates" };
            return Err(invalid(format!(
                "BYSETPOS={p} can never match: this rule selects at most {reach} {dates} per {period}"
            )));
        }
        Ok(())
    }
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(",")
}

impl fmt::Display for RRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FREQ={}", self.freq.as_str())?;
        if self.interval != 1 {
            write!(f, ";INTERVAL={}", self.interval)?;
        }
        if !self.by_month.is_empty() {
            write!(f, ";BYMONTH={}", join(&self.by_month, u8::to_string))?;
        }
        if !self.by_month_day.is_empty() {
            write!(f, ";BYMONTHDAY={}", join(&self.by_month_day, i8::to_string))?;
        }
        if !self.by_day.is_empty() {
            let days = join(&self.by_day, |d| {
                format!(
                    "{}{}",
                    d.ordinal.map(|n| n.to_string()).unwrap_or_default(),
                    weekday_code(d.weekday)
                )
            });
            write!(f, ";BYDAY={days}")?;
        }
        if !self.by_set_pos.is_empty() {
            write!(f, ";BYSETPOS={}", join(&self.by_set_pos, i16::to_string))?;
        }
        if let Some(n) = self.count {
            write!(f, ";COUNT={n}")?;
        }
        match self.until {
            Some(Until::Date(d)) => write!(f, ";UNTIL={}", d.format("%Y%m%d"))?,
            Some(Until::Utc(t)) => write!(f, ";UNTIL={}", t.format("%Y%m%dT%H%M%SZ"))?,
            Some(Until::Local(t)) => write!(f, ";UNTIL={}", t.format("%Y%m%dT%H%M%S"))?,
            None => {}
        }
        if let Some(d) = self.week_start {
            write!(f, ";WKST={}", weekday_code(d))?;
        }
        Ok(())
    }
}

/// Named schedules. `monthly` and `yearly` clamp to the month's last day (Jan 31 → Feb 28 → Mar 31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Daily,
    Weekdays,
    Weekly,
    Monthly,
    Yearly,
}

impl Preset {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekdays => "weekdays",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "daily" => Self::Daily,
            "weekdays" => Self::Weekdays,
            "weekly" => Self::Weekly,
            "monthly" => Self::Monthly,
            "yearly" | "annually" => Self::Yearly,
            _ => return None,
        })
    }
}

/// A preset name or a custom RRULE; serialised as that string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecurrenceRule {
    Preset(Preset),
    Custom(RRule),
}

impl FromStr for RecurrenceRule {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = Preset::parse(s) {
            return Ok(Self::Preset(p));
        }
        if !s.contains('=') {
            return Err(invalid(format!(
                "{s:?} is neither a preset (daily, weekdays, weekly, monthly, yearly) nor an RRULE like FREQ=WEEKLY;BYDAY=MO"
            )));
        }
        s.parse().map(Self::Custom)
    }
}

impl RecurrenceRule {
    /// The rule's `COUNT` (presets have none).
    pub fn count(&self) -> Option<u32> {
        match self {
            Self::Preset(_) => None,
            Self::Custom(r) => r.count,
        }
    }
}

impl fmt::Display for RecurrenceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Preset(p) => f.write_str(p.as_str()),
            Self::Custom(r) => r.fmt(f),
        }
    }
}

impl Serialize for RecurrenceRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecurrenceRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|e: ValidationError| serde::de::Error::custom(e.message))
    }
}

/// What the next occurrence counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecurrenceAnchor {
    /// The schedule: the next date follows the previous due date.
    #[default]
    Due,
    /// The completion: the next date counts from when the task was completed.
    Completion,
}

/// A task's recurrence as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recurrence {
    /// A preset (`daily`, `weekdays`, `weekly`, `monthly`, `yearly`) or an RFC 5545 RRULE.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "FREQ=WEEKLY;BYDAY=MO,WE"))]
    pub rule: RecurrenceRule,
    #[serde(default)]
    pub anchor: RecurrenceAnchor,
    /// No occurrence is created after this instant.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Where the schedule counts from: the series' first due date (set by the server).
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// This task's position in its series, from 1 (set by the server; `COUNT` limits it).
    #[serde(default = "first_occurrence")]
    pub occurrence: u32,
}

fn first_occurrence() -> u32 {
    1
}

/// What a client may send: a bare rule string, or the full object.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum RecurrenceInput {
    Rule(String),
    Full(RecurrenceObject),
}

/// The object form of a recurrence (`starts_at` and `occurrence` are the server's to set).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecurrenceObject {
    pub rule: String,
    #[serde(default)]
    pub anchor: Option<RecurrenceAnchor>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
}

impl RecurrenceInput {
    pub fn validate(&self) -> Result<Recurrence, ValidationError> {
        let (rule, anchor, ends_at) = match self {
            Self::Rule(rule) => (rule, None, None),
            Self::Full(o) => (&o.rule, o.anchor, o.ends_at),
        };
        Ok(Recurrence {
            rule: rule.parse()?,
            anchor: anchor.unwrap_or_default(),
            ends_at: ends_at.map(crate::time::truncate),
            starts_at: None,
            occurrence: 1,
        })
    }
}

#[cfg(test)]
mod limits_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(s: &str) -> Result<RRule, ValidationError> {
        s.parse()
    }

    #[test]
    fn parses_the_rules_users_write() {
        let r = rule("RRULE:FREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1").unwrap();
        assert_eq!(r.freq, Frequency::Monthly);
        assert_eq!(r.by_month_day, vec![31, -1]);
        assert_eq!(r.by_set_pos, vec![1]);
        let r = rule("freq=monthly;byday=-1fr;count=12").unwrap();
        assert_eq!(
            r.by_day,
            vec![WeekdayNum {
                ordinal: Some(-1),
                weekday: Weekday::Fri
            }]
        );
        assert_eq!(r.count, Some(12));
        let r = rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20271231T235959Z").unwrap();
        assert_eq!(r.interval, 2);
        assert!(matches!(r.until, Some(Until::Utc(_))));
    }

    #[test]
    fn names_the_problem() {
        let cases = [
            ("BYDAY=MO", "FREQ is required"),
            ("FREQ=HOURLY", "too frequent"),
            ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
            ("FREQ=WEEKLY;BYDAY=XX", "weekday"),
            ("FREQ=WEEKLY;BYDAY=1MO", "numbered BYDAY"),
            ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
            ("FREQ=DAILY;COUNT=3;UNTIL=20270101", "COUNT and UNTIL"),
            ("FREQ=DAILY;FREQ=DAILY", "more than once"),
            ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS needs"),
            ("FREQ=DAILY;FOO=1", "not an RRULE part"),
            ("FREQ=DAILY;UNTIL=2027", "UNTIL"),
            ("FREQ=DAILY;INTERVAL=+", "whole number"),
        ];
        for (input, needle) in cases {
            let err = rule(input).expect_err(input);
            assert_eq!(err.field, FIELD);
            assert!(err.message.contains(needle), "{input}: {}", err.message);
        }
    }

    #[test]
    fn presets_and_custom_rules_round_trip_through_json() {
        for s in [
            "daily",
            "weekdays",
            "monthly",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29,-1;BYSETPOS=1",
        ] {
            let parsed: RecurrenceRule = s.parse().unwrap();
            let json = serde_json::to_string(&parsed).unwrap();
            let back: RecurrenceRule = serde_json::from_str(&json).unwrap();
            assert_eq!(back, parsed);
        }
        assert!("every day".parse::<RecurrenceRule>().is_err());
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
        let freq = prop_oneof!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"];
        let day = prop_oneof!["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
        (
            freq,
            proptest::option::of(1u16..=MAX_INTERVAL),
            proptest::collection::vec(day, 0..4),
            proptest::collection::vec(prop_oneof![1i8..=31, -31i8..=-1], 0..3),
            proptest::collection::vec(1u8..=12, 0..3),
            proptest::option::of(1u32..=MAX_COUNT),
        )
            .prop_map(|(freq, interval, days, mdays, months, count)| {
                // BY… lists refuse a value given twice.
                let (days, mdays, months) = (distinct(days), distinct(mdays), distinct(months));
                let mut s = format!("FREQ={freq}");
                if let Some(i) = interval {
                    s += &format!(";INTERVAL={i}");
                }
                if !days.is_empty() {
                    s += &format!(";BYDAY={}", days.join(","));
                }
                if !mdays.is_empty() && freq != "WEEKLY" {
                    s += &format!(";BYMONTHDAY={}", join(&mdays, i8::to_string));
                }
                if !months.is_empty() {
                    s += &format!(";BYMONTH={}", join(&months, u8::to_string));
                }
                if let Some(c) = count {
                    s += &format!(";COUNT={c}");
                }
                s
            })
    }

    proptest! {
        #[test]
        fn any_string_parses_or_errors_without_panicking(s in "\\PC{0,120}") {
            let _ = s.parse::<RecurrenceRule>();
        }

        #[test]
        fn near_miss_rules_never_panic(s in "(RRULE:)?(FREQ|BYDAY|BYMONTHDAY|BYSETPOS|COUNT|UNTIL|INTERVAL)=[-+0-9A-Z,]{0,12}(;[A-Z]{1,10}=[-+0-9A-Z,T]{0,16}){0,4}") {
            let _ = s.parse::<RRule>();
        }

        #[test]
        fn valid_rules_round_trip_through_their_canonical_form(s in arb_rule()) {
            let parsed: RRule = s.parse().unwrap();
            let printed = parsed.to_string();
            prop_assert_eq!(printed.parse::<RRule>().unwrap(), parsed);
        }
    }
}
