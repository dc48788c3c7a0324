//! Quick-add: dates, repetitions and reminders written the way people say them.
//!
//! The assistant's tools, the offline agent and any client that lets users type "next friday 5pm"
//! share these parsers, so a phrase means the same thing everywhere. They are pure: `now` and the
//! user's time zone are arguments, and every phrase either parses or returns a [`QuickAddError`]
//! naming the word that was not understood — never a panic.
//!
//! Decisions a user would otherwise have to guess:
//! - All date arithmetic happens on the user's local calendar and is converted to UTC with the same
//!   rule as recurrences ([`crate::recurrence::local_instant`]): a time in a spring-forward gap moves
//!   forward by the gap, an ambiguous fall-back time takes the earlier instant.
//! - A date without a time ("tomorrow", "dec 5") means **23:59 that day**, so a task due tomorrow is
//!   not overdue until tomorrow is over.
//! - A time without a date ("5pm", "at 9") means today at that time, or tomorrow once it has passed.
//! - A bare hour without am/pm: 1–7 is the afternoon ("at 5" is 17:00), 8–12 the morning/noon;
//!   24-hour forms (`17:00`, `07:30`) are taken literally. `morning` is 09:00, `afternoon` 15:00,
//!   `evening` 18:00, `tonight`/`night` 20:00, `noon` 12:00, `midnight` the end of the named day.
//! - A bare weekday, "next friday" and "on friday" mean the next such day strictly after today;
//!   "this friday" includes today. `next week` is next Monday, `next month` the 1st of next month,
//!   `end of week` and `this week` Sunday, `weekend` the coming Saturday (today on a weekend),
//!   `next weekend` the Saturday of next week.
//! - A bare hour counts as a time after "at" or after a day ("at 5", "friday 5"); elsewhere a number
//!   is part of a date ("dec 5").
//! - "dec 5" and "the 15th" without a year or month mean the next such date still ahead.
//! - "in 2 hours" is elapsed time; "in 3 days" keeps the current local time of day on the local
//!   calendar (also across a DST change).
//! - Numeric dates like 12/05 are refused: they read differently in the US and elsewhere.

mod recurrence_phrase;
mod reminder_phrase;
mod tokens;
mod when;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use recurrence_phrase::{is_recurrence, parse_recurrence};
pub use reminder_phrase::{is_relative_reminder, parse_reminder};

use crate::ValidationError;

/// Longer input is refused before parsing: no real phrase is this long.
pub const MAX_PHRASE_CHARS: usize = 200;

const WHEN_EXAMPLES: &str =
    "\"tomorrow 5pm\", \"next friday\", \"in 3 days\", \"dec 5\" or 2026-12-01T17:00:00Z";

/// A phrase that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuickAddError {
    #[error("no {what} was given")]
    Empty { what: &'static str },
    #[error("could not understand {word:?} in {phrase:?} as {what}; try {examples}")]
    NotUnderstood {
        what: &'static str,
        phrase: String,
        /// The first word that did not fit.
        word: String,
        examples: &'static str,
    },
    /// The phrase was understood but names something impossible ("feb 30", "in 90000 years").
    #[error("{0}")]
    Invalid(String),
}

impl QuickAddError {
    /// The same problem as a validation error on `field`, for APIs that report bad input by field.
    pub fn into_validation(self, field: &str) -> ValidationError {
        ValidationError::new(field, self.to_string())
    }
}

fn clean(text: &str) -> &str {
    text.trim().trim_end_matches(['.', '!', '?', ';', ',']).trim()
}

/// Reads a date and/or time phrase (or an RFC 3339 instant) as an instant, for a user in `tz` at `now`.
pub fn parse_when(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, QuickAddError> {
    let text = clean(text);
    if text.is_empty() {
        return Err(QuickAddError::Empty { what: "date or time" });
    }
    if text.chars().count() > MAX_PHRASE_CHARS {
        return Err(QuickAddError::Invalid(format!(
            "a date must be at most {MAX_PHRASE_CHARS} characters"
        )));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(crate::time::truncate(t.with_timezone(&Utc)));
    }
    let words = tokens::words(text);
    let parsed = when::recognise(&words).map_err(|i| QuickAddError::NotUnderstood {
        what: "a date or time",
        phrase: text.to_owned(),
        word: tokens::at(&words, i).to_owned(),
        examples: WHEN_EXAMPLES,
    })?;
    when::resolve(parsed, now, tz).map(crate::time::truncate)
}

/// Whether `text` reads as a date or time phrase. Needs no clock: it checks the words, not the date
/// (so "feb 30" is recognised here and refused by [`parse_when`]).
pub fn is_when(text: &str) -> bool {
    let text = clean(text);
    if text.is_empty() || text.chars().count() > MAX_PHRASE_CHARS {
        return false;
    }
    DateTime::parse_from_rfc3339(text).is_ok() || when::recognise(&tokens::words(text)).is_ok()
}

/// Whether a date phrase fixes a time of day ("friday 3pm", "in 2 hours", an RFC 3339 instant) rather
/// than only a day ("friday", "dec 5") — which [`parse_when`] reads as 23:59.
pub fn names_time_of_day(text: &str) -> bool {
    let text = clean(text);
    DateTime::parse_from_rfc3339(text).is_ok()
        || when::recognise(&tokens::words(text)).is_ok_and(|w| w.names_time())
}

/// Whether `text` reads as a reminder: relative to the due date, or a date or time.
pub fn is_reminder(text: &str) -> bool {
    is_relative_reminder(text) || is_when(text)
}
