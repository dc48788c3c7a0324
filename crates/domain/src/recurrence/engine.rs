//! Evaluating a recurrence rule: the dates a series falls on, in the user's time zone.
//!
//! Dates are computed on the local calendar and given the series' local time of day, then converted
//! to UTC — so a 09:00 task stays at 09:00 local across DST changes. A local time that does not exist
//! (the spring-forward gap) is read with the offset before the gap, moving it forward by the gap; an ambiguous one (fall back) takes the earlier
//! instant. The first instance is always the start itself (RFC 5545 DTSTART).
//!
//! `COUNT` is left to the caller, which knows a task's position in its series even when the series'
//! start moved; `UNTIL` and the series' end date are applied here.

use chrono::{
    DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use super::{Frequency, Preset, RRule, RecurrenceRule, Until, WeekdayNum};

/// How many empty periods in a row end the search (e.g. `BYMONTH=2;BYMONTHDAY=30` never matches).
const MAX_EMPTY_PERIODS: u32 = 2_000;
const MAX_YEAR: i32 = 9_000;

/// The UTC instant of a local `date` and `time` in `tz`. An ambiguous time (fall back) takes the
/// earlier instant; a time inside a DST gap is read with the offset before the gap (RFC 5545), so
/// 02:30 on a spring-forward night becomes 03:30.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => (1..=6)
            .find_map(|h| tz.from_local_datetime(&(local - TimeDelta::hours(h))).earliest())
            .map_or_else(
                || local.and_utc(),
                |before| {
                    local.and_utc() - TimeDelta::seconds(i64::from(before.offset().fix().local_minus_utc()))
                },
            ),
    }
}

/// A rule anchored at a start instant in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    rule: RRule,
    tz: Tz,
    start_local: NaiveDateTime,
    start: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
}

fn weekday_num(weekday: Weekday) -> WeekdayNum {
    WeekdayNum {
        ordinal: None,
        weekday,
    }
}

/// The RRULE a preset means for a series starting on `start` (local).
fn preset_rule(preset: Preset, start: NaiveDate) -> RRule {
    let base = RRule {
        freq: Frequency::Daily,
        interval: 1,
        by_day: Vec::new(),
        by_month_day: Vec::new(),
        by_month: Vec::new(),
        by_set_pos: Vec::new(),
        count: None,
        until: None,
        week_start: None,
    };
    // Day d of the month, or the month's last day when it is shorter: never drifts, never skips.
    let clamped_day = |d: u32| -> (Vec<i8>, Vec<i16>) {
        let d = i8::try_from(d).unwrap_or(28);
        if d <= 28 {
            (vec![d], Vec::new())
        } else {
            (vec![d, -1], vec![1])
        }
    };
    match preset {
        Preset::Daily => base,
        Preset::Weekdays => RRule {
            freq: Frequency::Weekly,
            by_day: [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]
            .map(weekday_num)
            .to_vec(),
            ..base
        },
        Preset::Weekly => RRule {
            freq: Frequency::Weekly,
            by_day: vec![weekday_num(start.weekday())],
            ..base
        },
        Preset::Monthly => {
            let (by_month_day, by_set_pos) = clamped_day(start.day());
            RRule {
                freq: Frequency::Monthly,
                by_month_day,
                by_set_pos,
                ..base
            }
        }
        Preset::Yearly => {
            let (by_month_day, by_set_pos) = clamped_day(start.day());
            let month = u8::try_from(start.month()).unwrap_or(1);
            RRule {
                freq: Frequency::Yearly,
                by_month: vec![month],
                by_month_day,
                by_set_pos,
                ..base
            }
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = first.and_then(|f| f.checked_add_months(Months::new(1)));
    match (first, next) {
        (Some(f), Some(n)) => u32::try_from((n - f).num_days()).unwrap_or(28),
        _ => 28,
    }
}

fn month_days(year: i32, month: u32) -> Vec<NaiveDate> {
    (1..=days_in_month(year, month))
        .filter_map(|d| NaiveDate::from_ymd_opt(year, month, d))
        .collect()
}

/// Whether `date` is the n-th (or n-th from last) `weekday` among `scope`.
fn nth_weekday(date: NaiveDate, spec: &WeekdayNum, scope: &[NaiveDate]) -> bool {
    if date.weekday() != spec.weekday {
        return false;
    }
    let Some(n) = spec.ordinal else {
        return true;
    };
    let same: Vec<&NaiveDate> = scope.iter().filter(|d| d.weekday() == spec.weekday).collect();
    let len = i64::try_from(same.len()).unwrap_or(0);
    let index = if n > 0 {
        i64::from(n) - 1
    } else {
        len + i64::from(n)
    };
    usize::try_from(index)
        .ok()
        .and_then(|i| same.get(i))
        .is_some_and(|d| **d == date)
}

fn month_day_matches(date: NaiveDate, by_month_day: &[i8]) -> bool {
    let dim = i64::from(days_in_month(date.year(), date.month()));
    let day = i64::from(date.day());
    by_month_day.iter().any(|&n| {
        let n = i64::from(n);
        if n > 0 { day == n } else { day == dim + 1 + n }
    })
}

fn select_positions(mut dates: Vec<NaiveDate>, by_set_pos: &[i16]) -> Vec<NaiveDate> {
    dates.sort();
    dates.dedup();
    if by_set_pos.is_empty() {
        return dates;
    }
    let len = i64::try_from(dates.len()).unwrap_or(0);
    let mut picked: Vec<NaiveDate> = by_set_pos
        .iter()
        .filter_map(|&p| {
            let index = if p > 0 {
                i64::from(p) - 1
            } else {
                len + i64::from(p)
            };
            usize::try_from(index).ok().and_then(|i| dates.get(i)).copied()
        })
        .collect();
    picked.sort();
    picked.dedup();
    picked
}

impl Schedule {
    pub fn new(rule: &RecurrenceRule, start: DateTime<Utc>, tz: Tz, ends_at: Option<DateTime<Utc>>) -> Self {
        let start_local = start.with_timezone(&tz).naive_local();
        let rule = match rule {
            RecurrenceRule::Preset(p) => preset_rule(*p, start_local.date()),
            RecurrenceRule::Custom(r) => r.clone(),
        };
        Self {
            rule,
            tz,
            start_local,
            start,
            ends_at,
        }
    }

    fn time_of_day(&self) -> NaiveTime {
        self.start_local.time()
    }

    /// The UTC instant of `date` at the series' local time of day.
    pub fn instant(&self, date: NaiveDate) -> DateTime<Utc> {
        local_instant(self.tz, date, self.time_of_day())
    }

    /// The candidate dates of period `p` (counted in units of the frequency from the start), sorted.
    fn period(&self, p: u32) -> Vec<NaiveDate> {
        let r = &self.rule;
        let start = self.start_local.date();
        let month_ok =
            |d: &NaiveDate| r.by_month.is_empty() || r.by_month.iter().any(|&m| u32::from(m) == d.month());
        let candidates: Vec<NaiveDate> = match r.freq {
            Frequency::Daily => start
                .checked_add_days(Days::new(u64::from(p)))
                .into_iter()
                .filter(|d| month_ok(d))
                .filter(|d| r.by_month_day.is_empty() || month_day_matches(*d, &r.by_month_day))
                .filter(|d| r.by_day.is_empty() || r.by_day.iter().any(|b| b.weekday == d.weekday()))
                .collect(),
            Frequency::Weekly => {
                let wkst = r.week_start.unwrap_or(Weekday::Mon);
                let back = (7 + start.weekday().num_days_from_monday() - wkst.num_days_from_monday()) % 7;
                let week = start
                    .checked_sub_days(Days::new(u64::from(back)))
                    .and_then(|w| w.checked_add_days(Days::new(7 * u64::from(p))));
                let days: Vec<Weekday> = if r.by_day.is_empty() {
                    vec![start.weekday()]
                } else {
                    r.by_day.iter().map(|b| b.weekday).collect()
                };
                week.map(|w| {
                    (0..7)
                        .filter_map(|i| w.checked_add_days(Days::new(i)))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .filter(|d| days.contains(&d.weekday()) && month_ok(d))
                .collect()
            }
            Frequency::Monthly => {
                let Some(first) = NaiveDate::from_ymd_opt(start.year(), start.month(), 1)
                    .and_then(|f| f.checked_add_months(Months::new(p)))
                else {
                    return Vec::new();
                };
                self.month_candidates(first.year(), first.month())
                    .into_iter()
                    .filter(|d| month_ok(d))
                    .collect()
            }
            Frequency::Yearly => {
                let Some(year) = i32::try_from(p).ok().and_then(|p| start.year().checked_add(p)) else {
                    return Vec::new();
                };
                self.year_candidates(year)
            }
        };
        select_positions(candidates, &r.by_set_pos)
    }

    /// Days of one month selected by BYMONTHDAY / BYDAY (ordinals within the month), or the start's day.
    fn month_candidates(&self, year: i32, month: u32) -> Vec<NaiveDate> {
        let r = &self.rule;
        let days = month_days(year, month);
        if r.by_month_day.is_empty() && r.by_day.is_empty() {
            return NaiveDate::from_ymd_opt(year, month, self.start_local.day())
                .into_iter()
                .collect();
        }
        days.iter()
            .copied()
            .filter(|d| r.by_month_day.is_empty() || month_day_matches(*d, &r.by_month_day))
            .filter(|d| r.by_day.is_empty() || r.by_day.iter().any(|b| nth_weekday(*d, b, &days)))
            .collect()
    }

    fn year_candidates(&self, year: i32) -> Vec<NaiveDate> {
        let r = &self.rule;
        let ordinal_in_year = r.by_month.is_empty() && r.by_month_day.is_empty() && !r.by_day.is_empty();
        if ordinal_in_year {
            let days: Vec<NaiveDate> = (1..=12).flat_map(|m| month_days(year, m)).collect();
            return days
                .iter()
                .copied()
                .filter(|d| r.by_day.iter().any(|b| nth_weekday(*d, b, &days)))
                .collect();
        }
        let months: Vec<u32> = if !r.by_month.is_empty() {
            r.by_month.iter().map(|&m| u32::from(m)).collect()
        } else if r.by_month_day.is_empty() {
            vec![self.start_local.month()]
        } else {
            (1..=12).collect()
        };
        months
            .into_iter()
            .flat_map(|m| self.month_candidates(year, m))
            .collect()
    }

    fn within_end(&self, date: NaiveDate, at: DateTime<Utc>) -> bool {
        if self.ends_at.is_some_and(|end| at > end) {
            return false;
        }
        match self.rule.until {
            None => true,
            Some(Until::Date(d)) => date <= d,
            Some(Until::Utc(t)) => at <= t,
            Some(Until::Local(t)) => date.and_time(self.time_of_day()) <= t,
        }
    }

    /// Every occurrence in order, the start first, up to `UNTIL` or the series' end.
    pub fn occurrences(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let start_date = self.start_local.date();
        let first = self.within_end(start_date, self.start).then_some(self.start);
        let mut p: u32 = 0;
        let mut empty: u32 = 0;
        let mut pending: std::vec::IntoIter<NaiveDate> = Vec::new().into_iter();
        let mut done = false;
        let rest = std::iter::from_fn(move || {
            while !done {
                if let Some(date) = pending.next() {
                    if date <= start_date {
                        continue;
                    }
                    let at = self.instant(date);
                    if !self.within_end(date, at) {
                        done = true;
                        return None;
                    }
                    return Some(at);
                }
                let dates = self.period(p);
                if dates.first().is_some_and(|d| d.year() > MAX_YEAR) {
                    done = true;
                    return None;
                }
                empty = if dates.is_empty() { empty + 1 } else { 0 };
                if empty > MAX_EMPTY_PERIODS {
                    done = true;
                    return None;
                }
                pending = dates.into_iter();
                p = match p.checked_add(u32::from(self.rule.interval)) {
                    Some(next) => next,
                    None => {
                        done = true;
                        return None;
                    }
                };
            }
            None
        });
        first.into_iter().chain(rest)
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.occurrences().find(|at| *at > t)
    }
}

#[cfg(test)]
mod tests;
