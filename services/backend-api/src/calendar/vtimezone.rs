//! A `VTIMEZONE` for a time zone, written from the tz database (chrono-tz) rather than a fixed
//! rule: each UTC-offset change in the years the feed needs is one `STANDARD` or `DAYLIGHT`
//! observance, so historical and future rule changes come out as the database has them. RFC 5545
//! requires the component for every `TZID=` a calendar uses.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

use super::ics::{Ics, local_stamp};

/// One period with a fixed UTC offset, starting at `at`.
struct Observance {
    at: DateTime<Utc>,
    from: i32,
    to: i32,
    daylight: bool,
}

fn offset_at(tz: Tz, at: DateTime<Utc>) -> (i32, bool) {
    let offset = tz.offset_from_utc_datetime(&at.naive_utc());
    (
        offset.fix().local_minus_utc(),
        offset.dst_offset() != TimeDelta::zero(),
    )
}

/// The first whole second in `(low, high]` with the offset of `high`, given that `low` has another.
fn change_between(tz: Tz, low: DateTime<Utc>, high: DateTime<Utc>) -> DateTime<Utc> {
    let target = offset_at(tz, high);
    let at = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or(high);
    let (mut low, mut high) = (low.timestamp(), high.timestamp());
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if offset_at(tz, at(mid)) == target {
            high = mid;
        } else {
            low = mid;
        }
    }
    at(high)
}

fn year_start(year: i32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The offset periods from the start of `first_year` to the start of `end_year`.
fn observances(tz: Tz, first_year: i32, end_year: i32) -> Vec<Observance> {
    let start = year_start(first_year);
    let end = year_start(end_year);
    let (offset, daylight) = offset_at(tz, start);
    let mut out = vec![Observance {
        at: start,
        from: offset,
        to: offset,
        daylight,
    }];
    let mut current = offset_at(tz, start);
    let mut day = start;
    while day < end {
        let next = day + TimeDelta::days(1);
        let seen = offset_at(tz, next);
        if seen != current {
            let at = change_between(tz, day, next);
            out.push(Observance {
                at,
                from: current.0,
                to: seen.0,
                daylight: seen.1,
            });
            current = seen;
        }
        day = next;
    }
    out
}

fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if sec == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{sec:02}")
    }
}

/// Writes the `VTIMEZONE` of `tz` covering `from` (a year earlier, for safety) to ten years after
/// `until`.
pub fn write(ics: &mut Ics, tz: Tz, from: DateTime<Utc>, until: DateTime<Utc>) {
    ics.raw("BEGIN", "VTIMEZONE");
    ics.raw("TZID", tz.name());
    for o in observances(tz, from.year() - 1, until.year() + 10) {
        let kind = if o.daylight { "DAYLIGHT" } else { "STANDARD" };
        ics.raw("BEGIN", kind);
        // DTSTART is the local time the period begins at, read with the offset before it.
        let local = (o.at + TimeDelta::seconds(i64::from(o.from))).naive_utc();
        ics.raw("DTSTART", &local_stamp(local));
        ics.raw("TZOFFSETFROM", &utc_offset(o.from));
        ics.raw("TZOFFSETTO", &utc_offset(o.to));
        if let Some(name) = tz.offset_from_utc_datetime(&o.at.naive_utc()).abbreviation() {
            ics.text("TZNAME", name);
        }
        ics.raw("END", kind);
    }
    ics.raw("END", "VTIMEZONE");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_changes_at_the_tz_database_instants() {
        let found = observances(chrono_tz::Europe::Berlin, 2026, 2027);
        let changes: Vec<(String, i32, i32)> = found
            .iter()
            .skip(1)
            .map(|o| (o.at.to_rfc3339(), o.from, o.to))
            .collect();
        assert_eq!(
            changes,
            vec![
                ("2026-03-29T01:00:00+00:00".to_owned(), 3600, 7200),
                ("2026-10-25T01:00:00+00:00".to_owned(), 7200, 3600),
            ]
        );
        assert!(found[1].daylight && !found[2].daylight);
    }

    #[test]
    fn a_zone_without_changes_has_one_period() {
        let found = observances(chrono_tz::Asia::Kolkata, 2026, 2030);
        assert_eq!(found.len(), 1);
        assert_eq!(utc_offset(found[0].to), "+0530");
    }
}
