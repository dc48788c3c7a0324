//! Words and the vocabulary every quick-add recogniser shares.
//!
//! One tokenizer means "Dec 5," "dec 5" and "DEC  5." are the same input to every phrase parser, and
//! one table of weekdays, months, numbers and units means the phrases agree on what a word means.

use chrono::Weekday;

/// Lower-case words, split on whitespace and commas, with surrounding punctuation and quotes dropped.
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| {
            w.trim_matches(|c: char| {
                matches!(
                    c,
                    '.' | '!' | '?' | ';' | '"' | '\'' | '(' | ')' | '[' | ']' | '“' | '”' | '‘' | '’'
                )
            })
            .to_lowercase()
        })
        .map(|w| match w.as_str() {
            "&" | "+" => "and".to_owned(),
            "@" => "at".to_owned(),
            _ => w,
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `words[i..]` starts with `phrase` (space-separated), returning its length in words.
pub(crate) fn starts_with(words: &[String], i: usize, phrase: &str) -> Option<usize> {
    let mut n = 0;
    for (k, part) in phrase.split(' ').enumerate() {
        if words.get(i + k).map(String::as_str) != Some(part) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// The word at `i`, or "" past the end.
pub(crate) fn at(words: &[String], i: usize) -> &str {
    words.get(i).map_or("", String::as_str)
}

pub(crate) fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "wed" | "weds" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// A weekday written singular or plural ("monday", "mondays").
pub(crate) fn weekday_any(w: &str) -> Option<Weekday> {
    weekday(w).or_else(|| w.strip_suffix('s').and_then(weekday))
}

pub(crate) fn month(w: &str) -> Option<u32> {
    Some(match w {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sep" | "sept" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

/// A count: digits (at most six) or a small number word. "a"/"an" are handled by callers, where they mean one.
pub(crate) fn number(w: &str) -> Option<u32> {
    if !w.is_empty() && w.len() <= 6 && w.bytes().all(|b| b.is_ascii_digit()) {
        return w.parse().ok();
    }
    Some(match w {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "fifteen" => 15,
        "twenty" => 20,
        "thirty" => 30,
        "forty-five" => 45,
        _ => return None,
    })
}

/// A count, where "a", "an" and "one" all mean one.
pub(crate) fn count(w: &str) -> Option<u32> {
    match w {
        "a" | "an" => Some(1),
        _ => number(w),
    }
}

/// A day of the month written as an ordinal ("1st", "22nd", "first") — 1..=31.
pub(crate) fn ordinal(w: &str) -> Option<u32> {
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| w.strip_suffix(s))
        .filter(|d| !d.is_empty() && d.len() <= 2 && d.bytes().all(|b| b.is_ascii_digit()));
    let n = match digits {
        Some(d) => d.parse().ok()?,
        None => match w {
            "first" => 1,
            "second" => 2,
            "third" => 3,
            "fourth" => 4,
            "fifth" => 5,
            _ => return None,
        },
    };
    (1..=31).contains(&n).then_some(n)
}

/// A day of the month as an ordinal or a bare number 1..=31.
pub(crate) fn day_of_month(w: &str) -> Option<u32> {
    ordinal(w).or_else(|| {
        (w.len() <= 2)
            .then(|| number(w))
            .flatten()
            .filter(|n| (1..=31).contains(n))
    })
}

/// A span of time a phrase can count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl Unit {
    pub(crate) fn parse(w: &str) -> Option<Self> {
        Some(match w {
            "minute" | "minutes" | "min" | "mins" | "m" => Self::Minutes,
            "hour" | "hours" | "hr" | "hrs" | "h" => Self::Hours,
            "day" | "days" | "d" => Self::Days,
            "week" | "weeks" | "wk" | "wks" | "w" => Self::Weeks,
            "month" | "months" | "mo" | "mos" => Self::Months,
            "year" | "years" | "yr" | "yrs" | "y" => Self::Years,
            _ => return None,
        })
    }

    /// Minutes in one unit, for units of fixed length.
    pub(crate) fn minutes(self) -> Option<u32> {
        match self {
            Self::Minutes => Some(1),
            Self::Hours => Some(60),
            Self::Days => Some(1_440),
            Self::Weeks => Some(10_080),
            Self::Months | Self::Years => None,
        }
    }
}

/// An amount and a unit: "3 days", "a week", "half an hour", "2h", "a fortnight". Returns words used.
pub(crate) fn amount(words: &[String], i: usize) -> Option<(u32, Unit, usize)> {
    let w = at(words, i);
    if let Some(n) = starts_with(words, i, "half an hour") {
        return Some((30, Unit::Minutes, n));
    }
    if let Some(n) = starts_with(words, i, "a couple of") {
        let unit = Unit::parse(at(words, i + n))?;
        return Some((2, unit, n + 1));
    }
    if matches!(w, "fortnight" | "fortnights") {
        return None;
    }
    if let Some(n) = count(w) {
        let next = at(words, i + 1);
        if matches!(next, "fortnight" | "fortnights") {
            return Some((n.checked_mul(2)?, Unit::Weeks, 2));
        }
        return Some((n, Unit::parse(next)?, 2));
    }
    // "2h", "30min", "3days"
    let split = w.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = w.split_at(split);
    Some((number(digits)?, Unit::parse(unit)?, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_normalises() {
        assert_eq!(
            words("  Next FRIDAY, 5 p.m.!! "),
            vec!["next", "friday", "5", "p.m"]
        );
        assert_eq!(words("mon & wed"), vec!["mon", "and", "wed"]);
        assert_eq!(words("\"it's\""), vec!["it's"]);
    }

    #[test]
    fn reads_amounts() {
        let w = words("in 3 days");
        assert_eq!(amount(&w, 1), Some((3, Unit::Days, 2)));
        let w = words("2h");
        assert_eq!(amount(&w, 0), Some((2, Unit::Hours, 1)));
        let w = words("half an hour");
        assert_eq!(amount(&w, 0), Some((30, Unit::Minutes, 3)));
        assert_eq!(ordinal("31st"), Some(31));
        assert_eq!(ordinal("32nd"), None);
        assert_eq!(day_of_month("15"), Some(15));
    }
}
