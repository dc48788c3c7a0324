//! Dates and times: "next friday 5pm", "in 3 days", "dec 5", "tonight", "2026-12-01 14:30".
//!
//! Parsing is two steps. The words first become a [`When`] — what was said, independent of the clock —
//! which is then resolved against `now` on the user's local calendar. Recognising a phrase (the offline
//! agent must find where a date ends inside a sentence) therefore needs no clock at all.
//!
//! Resolution rules (documented in the module docs of `quick_add`): a date without a time is due at
//! 23:59 local; a time without a date is today, or tomorrow once past; a bare hour 1–7 without am/pm
//! means the afternoon; `midnight` is the end of the named day.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use chrono_tz::Tz;

use super::QuickAddError;
use super::tokens::{Unit, amount, at, day_of_month, month, number, ordinal, starts_with, weekday};
use crate::recurrence::local_instant;

/// A part of the day, alone ("tomorrow morning") or qualifying an hour ("at 9 in the evening").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Morning,
    Afternoon,
    Evening,
    Night,
}

impl Part {
    fn parse(w: &str) -> Option<Self> {
        Some(match w {
            "morning" => Self::Morning,
            "afternoon" => Self::Afternoon,
            "evening" => Self::Evening,
            "night" => Self::Night,
            _ => return None,
        })
    }

    fn hour(self) -> u32 {
        match self {
            Self::Morning => 9,
            Self::Afternoon => 15,
            Self::Evening => 18,
            Self::Night => 20,
        }
    }
}

/// The day a phrase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Day {
    /// Today plus this many days ("today", "tomorrow", "the day after tomorrow").
    Ahead(u32),
    /// The next such weekday; today counts only for "this friday".
    Weekday {
        day: Weekday,
        include_today: bool,
    },
    NextWeek,
    /// The Saturday of next week.
    NextWeekend,
    NextMonth,
    NextYear,
    EndOfWeek,
    EndOfMonth {
        next: bool,
    },
    EndOfYear,
    Weekend,
    /// A month and day ("dec 5"); without a year, the next one still ahead.
    Calendar {
        month: u32,
        day: u32,
        year: Option<i32>,
    },
    Date(NaiveDate),
    /// A day of the month ("the 15th"): the next one still ahead.
    Nth(u32),
}

/// The time of day a phrase names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    At {
        hour: u32,
        minute: u32,
        second: u32,
        /// `Some(true)` for pm, `Some(false)` for am.
        pm: Option<bool>,
        /// Written as 24-hour time (`17:00`, `07:30`): no am/pm guessing.
        literal: bool,
    },
    /// The end of the named day: 00:00 of the next.
    Midnight,
    EndOfDay,
}

/// An offset from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offset {
    /// Minutes and hours: elapsed time.
    Exact { minutes: u64 },
    /// Days, weeks, months and years: on the local calendar, keeping the local time.
    Calendar { months: u32, days: u64 },
}

/// What a date/time phrase said, before it is resolved against a clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct When {
    day: Option<Day>,
    clock: Option<Clock>,
    part: Option<Part>,
    offset: Option<Offset>,
}

impl When {
    /// Whether the phrase fixes a time of day (explicitly, or by counting from now).
    pub(crate) fn names_time(&self) -> bool {
        self.clock.is_some() || self.part.is_some() || self.offset.is_some()
    }
}

fn set<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// Parses a whole phrase; on failure, the index of the first word that could not be placed.
pub(crate) fn recognise(words: &[String]) -> Result<When, usize> {
    let mut when = When::default();
    let mut i = 0;
    let mut after_at = false;
    while i < words.len() {
        let w = at(words, i);
        if matches!(w, "at" | "on" | "by" | "around") {
            if i + 1 >= words.len() {
                return Err(i);
            }
            after_at = matches!(w, "at" | "around");
            i += 1;
            continue;
        }
        // A bare hour may follow a day: "friday 5" (but "dec 5" is read as a date first).
        let used = step(words, i, after_at || when.day.is_some(), &mut when).ok_or(i)?;
        after_at = false;
        i += used;
    }
    let consistent = match when.offset {
        None => when.day.is_some() || when.clock.is_some() || when.part.is_some(),
        Some(Offset::Exact { .. }) => when.day.is_none() && when.clock.is_none() && when.part.is_none(),
        Some(Offset::Calendar { .. }) => when.day.is_none(),
    };
    if consistent { Ok(when) } else { Err(0) }
}

/// Reads one component at `i`, returning the words it used.
fn step(words: &[String], i: usize, after_at: bool, when: &mut When) -> Option<usize> {
    if let Some((offset, n)) = offset(words, i) {
        set(&mut when.offset, offset)?;
        return Some(n);
    }
    if let Some((day, part, n)) = day(words, i) {
        set(&mut when.day, day)?;
        if let Some(p) = part {
            set(&mut when.part, p)?;
        }
        if let Some((clock, m)) = iso_time_suffix(at(words, i)) {
            set(&mut when.clock, clock)?;
            return Some(n.max(m));
        }
        return Some(n);
    }
    if let Some((clock, n)) = clock(words, i, after_at) {
        set(&mut when.clock, clock)?;
        return Some(n);
    }
    let part_at = |k: usize| Part::parse(at(words, k));
    if let Some(n) = starts_with(words, i, "in the").filter(|_| part_at(i + 2).is_some()) {
        set(&mut when.part, part_at(i + n)?)?;
        return Some(n + 1);
    }
    if let Some(p) = part_at(i) {
        set(&mut when.part, p)?;
        return Some(1);
    }
    None
}

fn offset(words: &[String], i: usize) -> Option<(Offset, usize)> {
    let (n, unit, used, extra) = if at(words, i) == "in" {
        let (n, unit, used) = amount(words, i + 1)?;
        (n, unit, used, 1)
    } else {
        let (n, unit, used) = amount(words, i)?;
        let tail = ["from now", "from today", "later"]
            .iter()
            .find_map(|p| starts_with(words, i + used, p))?;
        (n, unit, used, tail)
    };
    let n64 = u64::from(n);
    let offset = match unit {
        Unit::Minutes | Unit::Hours => Offset::Exact {
            minutes: n64 * u64::from(unit.minutes()?),
        },
        Unit::Days => Offset::Calendar { months: 0, days: n64 },
        Unit::Weeks => Offset::Calendar {
            months: 0,
            days: n64 * 7,
        },
        Unit::Months => Offset::Calendar { months: n, days: 0 },
        Unit::Years => Offset::Calendar {
            months: n.checked_mul(12)?,
            days: 0,
        },
    };
    Some((offset, used + extra))
}

fn year(w: &str) -> Option<i32> {
    (w.len() == 4)
        .then(|| number(w))
        .flatten()
        .and_then(|y| i32::try_from(y).ok())
        .filter(|y| *y >= 1000)
}

/// "dec 5", "december the 5th 2027" at `i` (the month word).
fn month_first(words: &[String], i: usize) -> Option<(Day, usize)> {
    let m = month(at(words, i))?;
    let skip = usize::from(at(words, i + 1) == "the");
    let d = day_of_month(at(words, i + 1 + skip))?;
    let y = year(at(words, i + 2 + skip));
    let n = 2 + skip + usize::from(y.is_some());
    Some((
        Day::Calendar {
            month: m,
            day: d,
            year: y,
        },
        n,
    ))
}

/// "5 december", "5th of dec 2027" at `i` (the day word).
fn day_first(words: &[String], i: usize) -> Option<(Day, usize)> {
    let d = day_of_month(at(words, i))?;
    let skip = usize::from(at(words, i + 1) == "of");
    let m = month(at(words, i + 1 + skip))?;
    let y = year(at(words, i + 2 + skip));
    let n = 2 + skip + usize::from(y.is_some());
    Some((
        Day::Calendar {
            month: m,
            day: d,
            year: y,
        },
        n,
    ))
}

/// `2026-12-01`, optionally followed by `t14:30[:00]` in the same word.
fn iso_date(w: &str) -> Option<NaiveDate> {
    let date = w.split('t').next()?;
    if date.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

fn iso_time_suffix(w: &str) -> Option<(Clock, usize)> {
    iso_date(w)?;
    let (_, time) = w.split_once('t')?;
    let (hour, minute, second) = hms(time)?;
    Some((
        Clock::At {
            hour,
            minute,
            second,
            pm: None,
            literal: true,
        },
        1,
    ))
}

fn day(words: &[String], i: usize) -> Option<(Day, Option<Part>, usize)> {
    let w = at(words, i);
    let plain = |d: Day, n: usize| Some((d, None, n));
    match w {
        "today" | "tod" => return plain(Day::Ahead(0), 1),
        "tonight" => return Some((Day::Ahead(0), Some(Part::Night), 1)),
        "tomorrow" | "tmrw" | "tmr" | "tomorow" | "tommorow" | "tommorrow" => return plain(Day::Ahead(1), 1),
        "overmorrow" => return plain(Day::Ahead(2), 1),
        "weekend" => return plain(Day::Weekend, 1),
        "eow" => return plain(Day::EndOfWeek, 1),
        "eom" => return plain(Day::EndOfMonth { next: false }, 1),
        "eoy" => return plain(Day::EndOfYear, 1),
        _ => {}
    }
    for (phrase, d) in [
        ("the day after tomorrow", Day::Ahead(2)),
        ("day after tomorrow", Day::Ahead(2)),
        ("next week", Day::NextWeek),
        ("next month", Day::NextMonth),
        ("next year", Day::NextYear),
        ("this weekend", Day::Weekend),
        ("next weekend", Day::NextWeekend),
        ("this week", Day::EndOfWeek),
        ("the weekend", Day::Weekend),
        ("end of the week", Day::EndOfWeek),
        ("end of week", Day::EndOfWeek),
        ("end of this week", Day::EndOfWeek),
        ("end of the month", Day::EndOfMonth { next: false }),
        ("end of month", Day::EndOfMonth { next: false }),
        ("end of this month", Day::EndOfMonth { next: false }),
        ("end of next month", Day::EndOfMonth { next: true }),
        ("end of the year", Day::EndOfYear),
        ("end of year", Day::EndOfYear),
        ("end of this year", Day::EndOfYear),
    ] {
        if let Some(n) = starts_with(words, i, phrase) {
            return plain(d, n);
        }
    }
    if let Some(day) = weekday(w) {
        return plain(
            Day::Weekday {
                day,
                include_today: false,
            },
            1,
        );
    }
    let next = at(words, i + 1);
    match w {
        "this" => {
            if let Some(day) = weekday(next) {
                return plain(
                    Day::Weekday {
                        day,
                        include_today: true,
                    },
                    2,
                );
            }
            if let Some(p) = Part::parse(next) {
                return Some((Day::Ahead(0), Some(p), 2));
            }
            if next == "coming" {
                let day = weekday(at(words, i + 2))?;
                return plain(
                    Day::Weekday {
                        day,
                        include_today: false,
                    },
                    3,
                );
            }
            return None;
        }
        "next" | "coming" => {
            let day = weekday(next)?;
            return plain(
                Day::Weekday {
                    day,
                    include_today: false,
                },
                2,
            );
        }
        "the" => {
            if let Some((d, n)) = day_first(words, i + 1) {
                return plain(d, n + 1);
            }
            return plain(Day::Nth(ordinal(next)?), 2);
        }
        _ => {}
    }
    if let Some(d) = iso_date(w) {
        return plain(Day::Date(d), 1);
    }
    if let Some((d, n)) = month_first(words, i).or_else(|| day_first(words, i)) {
        return plain(d, n);
    }
    // A bare ordinal ("the 15th" without "the"); digits only, so "first" stays a word.
    if w.starts_with(|c: char| c.is_ascii_digit()) {
        return plain(Day::Nth(ordinal(w)?), 1);
    }
    None
}

/// `H:MM` or `H:MM:SS`.
fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let mut parts = s.split(':');
    let h = parts.next()?;
    let m = parts.next()?;
    let sec = parts.next().unwrap_or("00");
    if parts.next().is_some()
        || !(1..=2).contains(&h.len())
        || m.len() != 2
        || sec.len() != 2
        || ![h, m, sec].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?))
}

fn meridiem(w: &str) -> Option<bool> {
    match w.replace('.', "").as_str() {
        "am" | "a" => Some(false),
        "pm" | "p" => Some(true),
        _ => None,
    }
}

fn clock(words: &[String], i: usize, after_at: bool) -> Option<(Clock, usize)> {
    let w = at(words, i);
    match w {
        "noon" | "midday" => {
            return Some((
                Clock::At {
                    hour: 12,
                    minute: 0,
                    second: 0,
                    pm: None,
                    literal: true,
                },
                1,
            ));
        }
        "midnight" => return Some((Clock::Midnight, 1)),
        "eod" | "cob" => return Some((Clock::EndOfDay, 1)),
        _ => {}
    }
    for phrase in ["end of day", "end of the day", "close of business"] {
        if let Some(n) = starts_with(words, i, phrase) {
            return Some((Clock::EndOfDay, n));
        }
    }
    // "5.30pm" is 5:30pm.
    let dotted = w
        .split_once('.')
        .filter(|(h, rest)| {
            (1..=2).contains(&h.len())
                && h.bytes().all(|b| b.is_ascii_digit())
                && rest.len() >= 2
                && rest.bytes().take(2).all(|b| b.is_ascii_digit())
        })
        .map(|(h, rest)| format!("{h}:{rest}"));
    let w = dotted.as_deref().unwrap_or(w);
    // The word itself may carry am/pm: "5pm", "5:30p.m".
    let compact = w.replace('.', "");
    let (body, mut pm) = match compact
        .strip_suffix("am")
        .map(|b| (b, false))
        .or_else(|| compact.strip_suffix("pm").map(|b| (b, true)))
    {
        Some((b, p)) if !b.is_empty() => (b.to_owned(), Some(p)),
        _ => (w.to_owned(), None),
    };
    let (hour, minute, second, colon) = match hms(&body) {
        Some((h, m, s)) => (h, m, s, true),
        None => {
            if body.is_empty() || body.len() > 2 || !body.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (body.parse().ok()?, 0, 0, false)
        }
    };
    let mut used = 1;
    if pm.is_none() {
        if let Some(p) = meridiem(at(words, i + 1)) {
            pm = Some(p);
            used = 2;
        } else if at(words, i + 1) == "o'clock" {
            used = 2;
        } else if !colon && !after_at {
            // A bare number is a time only after "at": "dec 5" is a date, "at 5" a time.
            return None;
        }
    }
    if pm.is_some() && !(1..=12).contains(&hour) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let literal = pm.is_none() && (hour == 0 || hour >= 13 || body.starts_with('0'));
    Some((
        Clock::At {
            hour,
            minute,
            second,
            pm,
            literal,
        },
        used,
    ))
}

/// The local time of day a phrase names, and whether it falls on the following day (midnight).
fn time_of_day(clock: Option<Clock>, part: Option<Part>) -> Option<(NaiveTime, bool)> {
    let t = |h, m, s| NaiveTime::from_hms_opt(h, m, s);
    match clock {
        Some(Clock::At {
            hour,
            minute,
            second,
            pm,
            literal,
        }) => {
            let h = match pm {
                Some(true) => hour % 12 + 12,
                Some(false) => hour % 12,
                None if literal => hour,
                None => match part {
                    Some(Part::Afternoon | Part::Evening | Part::Night) if hour < 12 => hour + 12,
                    Some(Part::Morning) => hour % 12,
                    Some(_) => hour,
                    // Nobody means 5 am by "at 5": hours 1-7 without am/pm are the afternoon.
                    None if (1..=7).contains(&hour) => hour + 12,
                    None => hour,
                },
            };
            Some((t(h, minute, second)?, false))
        }
        Some(Clock::Midnight) => Some((t(0, 0, 0)?, true)),
        Some(Clock::EndOfDay) => Some((t(23, 59, 0)?, false)),
        None => part.and_then(|p| Some((t(p.hour(), 0, 0)?, false))),
    }
}

fn out_of_range() -> QuickAddError {
    QuickAddError::Invalid("that date is too far away".to_owned())
}

fn add_days(d: NaiveDate, n: u64) -> Result<NaiveDate, QuickAddError> {
    d.checked_add_days(Days::new(n)).ok_or_else(out_of_range)
}

fn first_of_month(d: NaiveDate) -> Option<NaiveDate> {
    d.with_day(1)
}

fn last_of_month(d: NaiveDate) -> Option<NaiveDate> {
    first_of_month(d)?.checked_add_months(Months::new(1))?.pred_opt()
}

fn days_until(from: Weekday, to: Weekday) -> u64 {
    u64::from((to.num_days_from_monday() + 7 - from.num_days_from_monday()) % 7)
}

/// The date a day phrase names; `later(d)` says whether `d` at the phrase's time is still ahead, for
/// phrases that name the next such date ("dec 5", "the 15th").
fn date_of(
    day: Day,
    today: NaiveDate,
    later: impl Fn(NaiveDate) -> bool,
) -> Result<NaiveDate, QuickAddError> {
    let wd = today.weekday();
    let no_such = |what: String| QuickAddError::Invalid(format!("there is no {what}"));
    Ok(match day {
        Day::Ahead(n) => add_days(today, u64::from(n))?,
        Day::Weekday { day, include_today } => {
            let ahead = days_until(wd, day);
            add_days(today, if ahead == 0 && !include_today { 7 } else { ahead })?
        }
        Day::NextWeek => add_days(today, 7 - u64::from(wd.num_days_from_monday()))?,
        Day::NextWeekend => add_days(today, 12 - u64::from(wd.num_days_from_monday()))?,
        Day::NextMonth => first_of_month(today)
            .and_then(|d| d.checked_add_months(Months::new(1)))
            .ok_or_else(out_of_range)?,
        Day::NextYear => NaiveDate::from_ymd_opt(today.year() + 1, 1, 1).ok_or_else(out_of_range)?,
        Day::EndOfWeek => add_days(today, days_until(wd, Weekday::Sun))?,
        Day::EndOfMonth { next } => {
            let month = if next {
                first_of_month(today).and_then(|d| d.checked_add_months(Months::new(1)))
            } else {
                Some(today)
            };
            month.and_then(last_of_month).ok_or_else(out_of_range)?
        }
        Day::EndOfYear => NaiveDate::from_ymd_opt(today.year(), 12, 31).ok_or_else(out_of_range)?,
        Day::Weekend => match wd {
            Weekday::Sat | Weekday::Sun => today,
            _ => add_days(today, days_until(wd, Weekday::Sat))?,
        },
        Day::Calendar {
            month,
            day,
            year: Some(y),
        } => NaiveDate::from_ymd_opt(y, month, day)
            .ok_or_else(|| no_such(format!("day {day} in month {month} of {y}")))?,
        Day::Calendar {
            month,
            day,
            year: None,
        } => (0..=8)
            .filter_map(|k| NaiveDate::from_ymd_opt(today.year() + k, month, day))
            .find(|d| *d >= today && later(*d))
            .ok_or_else(|| no_such(format!("day {day} in month {month}")))?,
        Day::Date(d) => d,
        Day::Nth(n) => (0..=12)
            .filter_map(|k| {
                first_of_month(today)?
                    .checked_add_months(Months::new(k))?
                    .with_day(n)
            })
            .find(|d| *d >= today && later(*d))
            .ok_or_else(|| no_such(format!("day {n} in the coming months")))?,
    })
}

/// The instant a phrase names, for a user in `tz` at `now`.
pub(crate) fn resolve(when: When, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, QuickAddError> {
    let local_now = now.with_timezone(&tz).naive_local();
    let today = local_now.date();
    let tod = time_of_day(when.clock, when.part);
    let invalid_time = || QuickAddError::Invalid("that is not a valid time of day".to_owned());
    if (when.clock.is_some() || when.part.is_some()) && tod.is_none() {
        return Err(invalid_time());
    }
    let instant =
        |date: NaiveDate, (time, next_day): (NaiveTime, bool)| -> Result<DateTime<Utc>, QuickAddError> {
            let date = if next_day { add_days(date, 1)? } else { date };
            Ok(local_instant(tz, date, time))
        };
    let end_of_day = (
        NaiveTime::from_hms_opt(23, 59, 0).ok_or_else(invalid_time)?,
        false,
    );
    match (when.offset, when.day) {
        (Some(Offset::Exact { minutes }), _) => {
            let minutes = i64::try_from(minutes).map_err(|_| out_of_range())?;
            TimeDelta::try_minutes(minutes)
                .and_then(|d| now.checked_add_signed(d))
                .ok_or_else(out_of_range)
        }
        (Some(Offset::Calendar { months, days }), _) => {
            let date = today
                .checked_add_months(Months::new(months))
                .ok_or_else(out_of_range)?;
            let date = add_days(date, days)?;
            instant(date, tod.unwrap_or((local_now.time(), false)))
        }
        (None, Some(day)) => {
            let time = tod.unwrap_or(end_of_day);
            let date = date_of(day, today, |d| instant(d, time).is_ok_and(|t| t > now))?;
            instant(date, time)
        }
        (None, None) => {
            let time = tod.ok_or_else(invalid_time)?;
            let today_at = instant(today, time)?;
            if today_at > now {
                Ok(today_at)
            } else {
                instant(add_days(today, 1)?, time)
            }
        }
    }
}
