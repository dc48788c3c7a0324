//! How a task repeats, in words: "every weekday", "every mon, wed and fri", "every month on the 1st".
//!
//! The phrase becomes a preset name or an RRULE string that [`RecurrenceRule`] accepts — the same
//! value a REST client would send — so a phrase can never produce a rule the API would refuse.
//! A simple phrase maps to its preset (`every week` → `weekly`, which repeats on the due date's
//! weekday); anything more specific becomes an RRULE.

use std::fmt::Write as _;

use chrono::Weekday;

use super::QuickAddError;
use super::tokens::{
    Unit, at, count, day_of_month, month, ordinal, starts_with, weekday, weekday_any, words,
};
use crate::recurrence::{RecurrenceRule, weekday_code};

const EXAMPLES: &str = "\"daily\", \"every weekday\", \"every mon, wed and fri\", \"every 2 weeks\", \
\"every month on the 1st\", \"every last friday of the month\" or an RRULE like FREQ=WEEKLY;BYDAY=MO";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    freq: Freq,
    interval: u32,
    by_day: Vec<(Option<i8>, Weekday)>,
    by_month_day: Vec<i8>,
    by_month: Option<u32>,
    count: Option<u32>,
}

impl Rule {
    fn new(freq: Freq, interval: u32) -> Self {
        Self {
            freq,
            interval,
            by_day: Vec::new(),
            by_month_day: Vec::new(),
            by_month: None,
            count: None,
        }
    }

    fn days(mut self, days: Vec<Weekday>) -> Self {
        let mut days = days;
        days.sort_by_key(Weekday::num_days_from_monday);
        days.dedup();
        self.by_day = days.into_iter().map(|d| (None, d)).collect();
        self
    }

    /// A preset when the rule is exactly one, else the RRULE in the canonical order.
    fn render(&self) -> String {
        let plain = self.interval == 1
            && self.by_month_day.is_empty()
            && self.by_month.is_none()
            && self.count.is_none();
        let weekdays: Vec<(Option<i8>, Weekday)> = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ]
        .into_iter()
        .map(|d| (None, d))
        .collect();
        if plain && self.freq == Freq::Weekly && self.by_day == weekdays {
            return "weekdays".to_owned();
        }
        if plain && self.by_day.is_empty() {
            return match self.freq {
                Freq::Daily => "daily",
                Freq::Weekly => "weekly",
                Freq::Monthly => "monthly",
                Freq::Yearly => "yearly",
            }
            .to_owned();
        }
        let freq = match self.freq {
            Freq::Daily => "DAILY",
            Freq::Weekly => "WEEKLY",
            Freq::Monthly => "MONTHLY",
            Freq::Yearly => "YEARLY",
        };
        let mut s = format!("FREQ={freq}");
        if self.interval != 1 {
            let _ = write!(s, ";INTERVAL={}", self.interval);
        }
        if let Some(m) = self.by_month {
            let _ = write!(s, ";BYMONTH={m}");
        }
        if !self.by_month_day.is_empty() {
            let days: Vec<String> = self.by_month_day.iter().map(i8::to_string).collect();
            let _ = write!(s, ";BYMONTHDAY={}", days.join(","));
        }
        if !self.by_day.is_empty() {
            let days: Vec<String> = self
                .by_day
                .iter()
                .map(|(n, d)| {
                    format!(
                        "{}{}",
                        n.map(|n| n.to_string()).unwrap_or_default(),
                        weekday_code(*d)
                    )
                })
                .collect();
            let _ = write!(s, ";BYDAY={}", days.join(","));
        }
        if let Some(c) = self.count {
            let _ = write!(s, ";COUNT={c}");
        }
        s
    }
}

const WEEKEND: [Weekday; 2] = [Weekday::Sat, Weekday::Sun];
const WORKWEEK: [Weekday; 5] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
];

/// "monday", "mon, wed and fri", "mondays and thursdays".
fn weekday_list(words: &[String], i: usize) -> Option<(Vec<Weekday>, usize)> {
    let mut days = vec![weekday_any(at(words, i))?];
    let mut n = 1;
    loop {
        let skip = usize::from(matches!(at(words, i + n), "and" | "or"));
        match weekday_any(at(words, i + n + skip)) {
            Some(d) => {
                days.push(d);
                n += 1 + skip;
            }
            None => return Some((days, n)),
        }
    }
}

/// "1st", "last" as a position in the month; `max` bounds the ordinal.
fn position(w: &str, max: u32) -> Option<i8> {
    if w == "last" {
        return Some(-1);
    }
    ordinal(w)
        .filter(|n| *n <= max)
        .and_then(|n| i8::try_from(n).ok())
}

/// Words closing a monthly phrase: "of the month", "of every month", "of each month", "each month".
fn of_month(words: &[String], i: usize) -> usize {
    [
        "of the month",
        "of every month",
        "of each month",
        "of a month",
        "every month",
        "each month",
        "a month",
    ]
    .iter()
    .find_map(|p| starts_with(words, i, p))
    .unwrap_or(0)
}

/// A monthly day: "1st", "the 15th", "last day", "the last friday", "1st and 15th", "first monday".
fn month_position(words: &[String], i: usize) -> Option<(Rule, usize)> {
    let mut n = usize::from(at(words, i) == "the");
    let first = at(words, i + n);
    // "last friday", "2nd tuesday"
    if let Some(pos) = position(first, 5)
        && let Some(day) = weekday_any(at(words, i + n + 1))
    {
        let mut rule = Rule::new(Freq::Monthly, 1);
        rule.by_day = vec![(Some(pos), day)];
        return Some((rule, n + 2));
    }
    if first == "last" {
        let day = usize::from(at(words, i + n + 1) == "day");
        let mut rule = Rule::new(Freq::Monthly, 1);
        rule.by_month_day = vec![-1];
        return Some((rule, n + 1 + day));
    }
    let mut days = vec![i8::try_from(ordinal(first)?).ok()?];
    n += 1;
    loop {
        let mut k = i + n;
        if at(words, k) != "and" {
            break;
        }
        k += 1;
        k += usize::from(at(words, k) == "the");
        match ordinal(at(words, k)).and_then(|d| i8::try_from(d).ok()) {
            Some(d) => {
                days.push(d);
                n = k + 1 - i;
            }
            None => break,
        }
    }
    n += usize::from(at(words, i + n) == "day");
    days.sort_unstable();
    days.dedup();
    let mut rule = Rule::new(Freq::Monthly, 1);
    rule.by_month_day = days;
    Some((rule, n))
}

/// A yearly date: "dec 25", "december 25th", "25 december", "the 25th of december".
fn year_position(words: &[String], i: usize) -> Option<(u32, i8, usize)> {
    let skip = usize::from(at(words, i) == "the");
    let i = i + skip;
    if let Some(m) = month(at(words, i)) {
        let the = usize::from(at(words, i + 1) == "the");
        let d = day_of_month(at(words, i + 1 + the))?;
        return Some((m, i8::try_from(d).ok()?, skip + 2 + the));
    }
    let d = day_of_month(at(words, i))?;
    let of = usize::from(at(words, i + 1) == "of");
    let m = month(at(words, i + 1 + of))?;
    Some((m, i8::try_from(d).ok()?, skip + 2 + of))
}

/// "on monday and friday" after a weekly head, "on the 1st" after a monthly one, "on dec 25" after a
/// yearly one.
fn qualify(mut rule: Rule, words: &[String], i: usize) -> Option<(Rule, usize)> {
    let on = usize::from(at(words, i) == "on");
    match rule.freq {
        Freq::Weekly => {
            let (days, n) = weekday_list(words, i + on)?;
            rule = rule.days(days);
            Some((rule, on + n))
        }
        Freq::Monthly => {
            let (pos, n) = month_position(words, i + on)?;
            rule.by_day = pos.by_day;
            rule.by_month_day = pos.by_month_day;
            Some((rule, on + n))
        }
        Freq::Yearly => {
            let (m, d, n) = year_position(words, i + on)?;
            rule.by_month = Some(m);
            rule.by_month_day = vec![d];
            Some((rule, on + n))
        }
        Freq::Daily => None,
    }
}

fn unit_freq(w: &str) -> Option<Freq> {
    match Unit::parse(w)? {
        Unit::Days => Some(Freq::Daily),
        Unit::Weeks => Some(Freq::Weekly),
        Unit::Months => Some(Freq::Monthly),
        Unit::Years => Some(Freq::Yearly),
        Unit::Minutes | Unit::Hours => None,
    }
}

/// What follows "every": a unit, an interval and unit, weekdays, or a day of the month or year.
fn every(words: &[String], i: usize) -> Option<(Rule, usize)> {
    let w = at(words, i);
    match w {
        "weekday" | "workday" | "weekdays" | "workdays" => {
            return Some((Rule::new(Freq::Weekly, 1).days(WORKWEEK.to_vec()), 1));
        }
        "weekend" | "weekends" => return Some((Rule::new(Freq::Weekly, 1).days(WEEKEND.to_vec()), 1)),
        "fortnight" => return Some((Rule::new(Freq::Weekly, 2), 1)),
        _ => {}
    }
    if let Some(n) = starts_with(words, i, "business day") {
        return Some((Rule::new(Freq::Weekly, 1).days(WORKWEEK.to_vec()), n));
    }
    if let Some(freq) = unit_freq(w) {
        return Some((Rule::new(freq, 1), 1));
    }
    // "every second tuesday of the month" is monthly; "every second tuesday" every other week;
    // "every 4th thursday of november" yearly.
    if let Some((mut rule, n)) = month_position(words, i) {
        let of = of_month(words, i + n);
        if of > 0 {
            return Some((rule, n + of));
        }
        if at(words, i + n) == "of"
            && let Some(m) = month(at(words, i + n + 1))
        {
            rule.freq = Freq::Yearly;
            rule.by_month = Some(m);
            return Some((rule, n + 2));
        }
    }
    // "every other day", "every 3 weeks", "every second month", "every other monday"
    let interval = match w {
        "other" | "second" => Some(2),
        // "every 2nd month", "every third week"
        _ => count(w).or_else(|| ordinal(w).filter(|_| unit_freq(at(words, i + 1)).is_some())),
    };
    if let Some(interval) = interval {
        if let Some(freq) = unit_freq(at(words, i + 1)) {
            return Some((Rule::new(freq, interval), 2));
        }
        if let Some((days, n)) = weekday_list(words, i + 1) {
            return Some((Rule::new(Freq::Weekly, interval).days(days), 1 + n));
        }
    }
    if let Some((days, n)) = weekday_list(words, i) {
        return Some((Rule::new(Freq::Weekly, 1).days(days), n));
    }
    if let Some((m, d, n)) = year_position(words, i) {
        let mut rule = Rule::new(Freq::Yearly, 1);
        rule.by_month = Some(m);
        rule.by_month_day = vec![d];
        return Some((rule, n));
    }
    let (rule, n) = month_position(words, i)?;
    Some((rule, n + of_month(words, i + n)))
}

/// The start of a phrase: a single word, "every …", "on mondays", or "the 1st of every month".
fn head(words: &[String], i: usize) -> Option<(Rule, usize)> {
    let w = at(words, i);
    let single = match w {
        "daily" | "everyday" | "nightly" => Some(Rule::new(Freq::Daily, 1)),
        "weekly" => Some(Rule::new(Freq::Weekly, 1)),
        "monthly" => Some(Rule::new(Freq::Monthly, 1)),
        "yearly" | "annually" => Some(Rule::new(Freq::Yearly, 1)),
        "weekdays" | "workdays" => Some(Rule::new(Freq::Weekly, 1).days(WORKWEEK.to_vec())),
        "weekends" => Some(Rule::new(Freq::Weekly, 1).days(WEEKEND.to_vec())),
        "biweekly" | "fortnightly" => Some(Rule::new(Freq::Weekly, 2)),
        "bimonthly" => Some(Rule::new(Freq::Monthly, 2)),
        "quarterly" => Some(Rule::new(Freq::Monthly, 3)),
        _ => None,
    };
    if let Some(rule) = single {
        return Some((rule, 1));
    }
    if matches!(w, "every" | "each") {
        let (rule, n) = every(words, i + 1)?;
        return Some((rule, n + 1));
    }
    for phrase in ["once a", "once every", "once per", "one time per"] {
        if let Some(n) = starts_with(words, i, phrase) {
            let freq = unit_freq(at(words, i + n))?;
            return Some((Rule::new(freq, 1), n + 1));
        }
    }
    let on = usize::from(w == "on");
    // "mondays and thursdays": plural weekdays alone mean every such day.
    let first = at(words, i + on);
    if weekday(first).is_none()
        && let Some((days, n)) = weekday_list(words, i + on)
    {
        return Some((Rule::new(Freq::Weekly, 1).days(days), on + n));
    }
    // "the 1st of every month", "the last friday of each month"
    let (rule, n) = month_position(words, i + on)?;
    let of = of_month(words, i + on + n);
    (of > 0).then_some((rule, on + n + of))
}

/// "for 10 times", "10 times", "for 5 occurrences".
fn count_tail(words: &[String], i: usize) -> Option<(u32, usize)> {
    let f = usize::from(at(words, i) == "for");
    let n = count(at(words, i + f)).filter(|n| *n > 0)?;
    matches!(at(words, i + f + 1), "times" | "time" | "occurrences").then_some((n, f + 2))
}

fn phrase(words: &[String]) -> Result<Rule, usize> {
    let mut i = 0;
    while matches!(
        at(words, i),
        "repeat" | "repeats" | "repeating" | "recur" | "recurs" | "recurring" | "and"
    ) {
        i += 1;
    }
    let (mut rule, n) = head(words, i).ok_or(i)?;
    i += n;
    let has_position = !rule.by_day.is_empty() || !rule.by_month_day.is_empty();
    if !has_position
        && i < words.len()
        && let Some((qualified, n)) = qualify(rule.clone(), words, i)
    {
        rule = qualified;
        i += n;
    }
    if let Some((c, n)) = count_tail(words, i) {
        rule.count = Some(c);
        i += n;
    }
    if i == words.len() { Ok(rule) } else { Err(i) }
}

/// Turns a repetition phrase, a preset or an RRULE into a string [`RecurrenceRule`] accepts.
pub fn parse_recurrence(text: &str) -> Result<String, QuickAddError> {
    let trimmed = text.trim().trim_end_matches(['.', '!', '?', ';']).trim();
    if trimmed.is_empty() {
        return Err(QuickAddError::Empty { what: "repetition" });
    }
    if trimmed.chars().count() > super::MAX_PHRASE_CHARS {
        return Err(QuickAddError::Invalid(format!(
            "a repetition must be at most {} characters",
            super::MAX_PHRASE_CHARS
        )));
    }
    match trimmed.parse::<RecurrenceRule>() {
        // A preset in its canonical name ("Annually" → "yearly"); an RRULE exactly as written.
        Ok(RecurrenceRule::Preset(p)) => return Ok(p.as_str().to_owned()),
        Ok(RecurrenceRule::Custom(_)) => return Ok(trimmed.to_owned()),
        Err(e) if trimmed.contains('=') => return Err(QuickAddError::Invalid(e.message)),
        Err(_) => {}
    }
    let words = words(trimmed);
    let rule = phrase(&words).map_err(|i| QuickAddError::NotUnderstood {
        what: "a repetition",
        phrase: trimmed.to_owned(),
        word: at(&words, i).to_owned(),
        examples: EXAMPLES,
    })?;
    let rendered = rule.render();
    rendered
        .parse::<RecurrenceRule>()
        .map_err(|e| QuickAddError::Invalid(e.message))?;
    Ok(rendered)
}

/// Whether `text` is a repetition phrase (or a preset or RRULE).
pub fn is_recurrence(text: &str) -> bool {
    parse_recurrence(text).is_ok()
}
