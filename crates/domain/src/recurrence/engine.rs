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

const MAX_YEAR: i32 = 9_000;

/// Days one evaluation may look at: a little over three Gregorian cycles. Enough to find that a rule
/// never matches (one cycle) from a start years back; a crafted rule gets an error, not a hang.
pub const MAX_STEPS: usize = 500_000;

/// A rule whose evaluation needed more than [`MAX_STEPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this rule is too expensive to evaluate; simplify it")]
pub struct TooExpensive;

/// The steps one evaluation has spent.
#[derive(Debug, Default)]
struct Budget {
    used: usize,
}

impl Budget {
    fn charge(&mut self, days: usize) -> Result<(), TooExpensive> {
        self.used = self.used.saturating_add(days);
        if self.used > MAX_STEPS {
            return Err(TooExpensive);
        }
        Ok(())
    }
}

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

/// Whether `date` is the n-th (or n-th from last) `weekday` of the `len` days starting at `first`.
///
/// Same weekdays are seven days apart, so a date's rank among them follows from its index in the
/// scope: O(1) per date instead of filtering the whole month or year for every (date, BYDAY) pair.
fn nth_weekday(date: NaiveDate, spec: &WeekdayNum, first: NaiveDate, len: i64) -> bool {
    if date.weekday() != spec.weekday {
        return false;
    }
    let Some(n) = spec.ordinal else {
        return true;
    };
    let index = (date - first).num_days();
    let n = i64::from(n);
    if n > 0 {
        index / 7 + 1 == n
    } else {
        -((len - 1 - index) / 7 + 1) == n
    }
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

    /// The rule as an RFC 5545 `RRULE` for a `DTSTART` at this schedule's start (in its time zone
    /// or UTC): presets spelt out, and every end as a UTC `UNTIL` (RFC 5545 wants `UNTIL` in UTC
    /// beside a zoned or UTC `DTSTART`), the series' end date included when the rule has no
    /// `COUNT`. For calendar feeds.
    pub fn rfc5545_rule(&self) -> RRule {
        let mut rule = self.rule.clone();
        let until = match rule.until {
            None => None,
            Some(Until::Utc(t)) => Some(t),
            Some(Until::Date(d)) => Some(self.instant(d)),
            Some(Until::Local(t)) => Some(local_instant(self.tz, t.date(), t.time())),
        };
        rule.until = match (until, self.ends_at, rule.count) {
            (Some(u), Some(end), _) => Some(u.min(end)),
            (Some(u), None, _) => Some(u),
            (None, Some(end), None) => Some(end),
            (None, _, _) => None,
        }
        .map(Until::Utc);
        rule
    }

    fn time_of_day(&self) -> NaiveTime {
        self.start_local.time()
    }

    /// The UTC instant of `date` at the series' local time of day.
    pub fn instant(&self, date: NaiveDate) -> DateTime<Utc> {
        local_instant(self.tz, date, self.time_of_day())
    }

    /// The candidate dates of period `p` (counted in units of the frequency from the start), sorted.
    /// Every day looked at is charged to `budget`.
    fn period(&self, p: u32, budget: &mut Budget) -> Result<Vec<NaiveDate>, TooExpensive> {
        let r = &self.rule;
        let start = self.start_local.date();
        let month_ok =
            |d: &NaiveDate| r.by_month.is_empty() || r.by_month.iter().any(|&m| u32::from(m) == d.month());
        let candidates: Vec<NaiveDate> = match r.freq {
            Frequency::Daily => {
                budget.charge(1)?;
                start
                    .checked_add_days(Days::new(u64::from(p)))
                    .into_iter()
                    .filter(|d| month_ok(d))
                    .filter(|d| r.by_month_day.is_empty() || month_day_matches(*d, &r.by_month_day))
                    .filter(|d| r.by_day.is_empty() || r.by_day.iter().any(|b| b.weekday == d.weekday()))
                    .collect()
            }
            Frequency::Weekly => {
                budget.charge(7)?;
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
                    return Ok(Vec::new());
                };
                if !month_ok(&first) {
                    budget.charge(1)?;
                    return Ok(Vec::new());
                }
                self.month_candidates(first.year(), first.month(), budget)?
            }
            Frequency::Yearly => {
                let Some(year) = i32::try_from(p).ok().and_then(|p| start.year().checked_add(p)) else {
                    return Ok(Vec::new());
                };
                self.year_candidates(year, budget)?
            }
        };
        Ok(select_positions(candidates, &r.by_set_pos))
    }

    /// Days of one month selected by BYMONTHDAY / BYDAY (ordinals within the month), or the start's day.
    fn month_candidates(
        &self,
        year: i32,
        month: u32,
        budget: &mut Budget,
    ) -> Result<Vec<NaiveDate>, TooExpensive> {
        let r = &self.rule;
        if r.by_month_day.is_empty() && r.by_day.is_empty() {
            budget.charge(1)?;
            return Ok(NaiveDate::from_ymd_opt(year, month, self.start_local.day())
                .into_iter()
                .collect());
        }
        let days = month_days(year, month);
        budget.charge(days.len())?;
        let (Some(&first), len) = (days.first(), i64::try_from(days.len()).unwrap_or(0)) else {
            return Ok(Vec::new());
        };
        Ok(days
            .into_iter()
            .filter(|d| r.by_month_day.is_empty() || month_day_matches(*d, &r.by_month_day))
            .filter(|d| r.by_day.is_empty() || r.by_day.iter().any(|b| nth_weekday(*d, b, first, len)))
            .collect())
    }

    fn year_candidates(&self, year: i32, budget: &mut Budget) -> Result<Vec<NaiveDate>, TooExpensive> {
        let r = &self.rule;
        let ordinal_in_year = r.by_month.is_empty() && r.by_month_day.is_empty() && !r.by_day.is_empty();
        if ordinal_in_year {
            let days: Vec<NaiveDate> = (1..=12).flat_map(|m| month_days(year, m)).collect();
            budget.charge(days.len())?;
            let (Some(&first), len) = (days.first(), i64::try_from(days.len()).unwrap_or(0)) else {
                return Ok(Vec::new());
            };
            return Ok(days
                .into_iter()
                .filter(|d| r.by_day.iter().any(|b| nth_weekday(*d, b, first, len)))
                .collect());
        }
        let months: Vec<u32> = if !r.by_month.is_empty() {
            r.by_month.iter().map(|&m| u32::from(m)).collect()
        } else if r.by_month_day.is_empty() {
            vec![self.start_local.month()]
        } else {
            (1..=12).collect()
        };
        let mut out = Vec::new();
        for m in months {
            out.extend(self.month_candidates(year, m, budget)?);
        }
        Ok(out)
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

    /// Every occurrence in order, the start first, up to `UNTIL` or the series' end. Ends with
    /// [`TooExpensive`] when the evaluation looks at more than [`MAX_STEPS`] days.
    pub fn occurrences(&self) -> Occurrences<'_> {
        let start_date = self.start_local.date();
        Occurrences {
            schedule: self,
            first: self.within_end(start_date, self.start).then_some(self.start),
            period: 0,
            empty: 0,
            pending: Vec::new().into_iter(),
            done: false,
            budget: Budget::default(),
        }
    }

    /// The first occurrence strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, TooExpensive> {
        for at in self.occurrences() {
            let at = at?;
            if at > t {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }

    /// Periods in a row without a date after which the rule can never match again: one Gregorian
    /// cycle (400 years = 4 800 months = 20 871 weeks = 146 097 days), after which the calendar
    /// repeats. With an `INTERVAL` the periods visited repeat within as many visits.
    fn empty_period_cap(&self) -> u32 {
        match self.rule.freq {
            Frequency::Daily => 146_097,
            Frequency::Weekly => 20_871,
            Frequency::Monthly => 4_800,
            Frequency::Yearly => 400,
        }
    }
}

/// The dates of a schedule, one evaluation with its own budget of [`MAX_STEPS`].
#[derive(Debug)]
pub struct Occurrences<'a> {
    schedule: &'a Schedule,
    first: Option<DateTime<Utc>>,
    period: u32,
    empty: u32,
    pending: std::vec::IntoIter<NaiveDate>,
    done: bool,
    budget: Budget,
}

impl Occurrences<'_> {
    /// How many days this evaluation has looked at so far (what [`MAX_STEPS`] bounds).
    pub fn steps(&self) -> usize {
        self.budget.used
    }

    fn next_date(&mut self) -> Result<Option<DateTime<Utc>>, TooExpensive> {
        let s = self.schedule;
        let start_date = s.start_local.date();
        loop {
            if let Some(date) = self.pending.next() {
                if date <= start_date {
                    continue;
                }
                let at = s.instant(date);
                if !s.within_end(date, at) {
                    return Ok(None);
                }
                return Ok(Some(at));
            }
            let dates = s.period(self.period, &mut self.budget)?;
            if dates.first().is_some_and(|d| d.year() > MAX_YEAR) {
                return Ok(None);
            }
            self.empty = if dates.is_empty() { self.empty + 1 } else { 0 };
            if self.empty >= s.empty_period_cap() {
                return Ok(None);
            }
            self.pending = dates.into_iter();
            let Some(next) = self.period.checked_add(u32::from(s.rule.interval)) else {
                return Ok(None);
            };
            self.period = next;
        }
    }
}

impl Iterator for Occurrences<'_> {
    type Item = Result<DateTime<Utc>, TooExpensive>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        if self.done {
            return None;
        }
        let next = self.next_date();
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next.transpose()
    }
}

#[cfg(test)]
mod tests;
