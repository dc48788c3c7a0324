//! When to be reminded: "30 minutes before", "a day before", "at due time", or a time ("tomorrow 9am").
//!
//! A phrase relative to the due date becomes `minutes_before_due`, so the reminder follows the task
//! when it is rescheduled; anything else is read as a date and time by [`super::parse_when`].

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::tokens::{amount, starts_with, words};
use super::{QuickAddError, parse_when};
use crate::reminder::{MAX_MINUTES_BEFORE_DUE, ReminderSpec};

const EXAMPLES: &str = "\"30 minutes before\", \"1 hour before\", \"a day before\", \"at due time\" or a time \
like \"tomorrow 9am\"";

const AT_DUE: [&str; 9] = [
    "at due time",
    "at the due time",
    "when due",
    "when it's due",
    "when it is due",
    "on time",
    "at the time",
    "at the same time",
    "when it's time",
];

const BEFORE: [&str; 4] = ["before", "early", "earlier", "ahead"];

const DUE_TAIL: [&str; 9] = [
    "due",
    "it's due",
    "it is due",
    "the due time",
    "the due date",
    "the deadline",
    "deadline",
    "the task",
    "it",
];

/// Whole-phrase match of `words` against a space-separated phrase.
fn is(words: &[String], phrase: &str) -> bool {
    starts_with(words, 0, phrase) == Some(words.len())
}

/// Minutes before the due date, if the phrase is relative to it.
fn relative(words: &[String]) -> Option<Result<u32, QuickAddError>> {
    if AT_DUE.iter().any(|p| is(words, p)) {
        return Some(Ok(0));
    }
    let (n, unit, used) = match ["the day before", "the night before", "the evening before"]
        .iter()
        .find_map(|p| starts_with(words, 0, p))
    {
        Some(_) => (1, super::tokens::Unit::Days, 2),
        None => amount(words, 0)?,
    };
    let before = words.get(used).map(String::as_str)?;
    if !BEFORE.contains(&before) {
        return None;
    }
    let rest = &words[used + 1..];
    if !rest.is_empty() && !DUE_TAIL.iter().any(|p| is(rest, p)) {
        return None;
    }
    let minutes = unit
        .minutes()
        .and_then(|per| n.checked_mul(per))
        .filter(|m| *m <= MAX_MINUTES_BEFORE_DUE);
    Some(minutes.ok_or_else(|| {
        QuickAddError::Invalid(format!(
            "a reminder can be at most one year ({MAX_MINUTES_BEFORE_DUE} minutes) before the due time, \
             counted in minutes, hours, days or weeks"
        ))
    }))
}

/// Whether `text` is a reminder relative to the due date ("30 minutes before", "at due time").
pub fn is_relative_reminder(text: &str) -> bool {
    matches!(relative(&words(text)), Some(Ok(_)))
}

/// Reads a reminder phrase: relative to the due date, or an instant via [`parse_when`].
pub fn parse_reminder(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<ReminderSpec, QuickAddError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(QuickAddError::Empty { what: "reminder" });
    }
    if trimmed.chars().count() > super::MAX_PHRASE_CHARS {
        return Err(QuickAddError::Invalid(format!(
            "a reminder must be at most {} characters",
            super::MAX_PHRASE_CHARS
        )));
    }
    if let Some(minutes) = relative(&words(trimmed)) {
        return Ok(ReminderSpec {
            remind_at: None,
            minutes_before_due: Some(minutes?),
        });
    }
    match parse_when(trimmed, now, tz) {
        Ok(at) => Ok(ReminderSpec {
            remind_at: Some(at),
            minutes_before_due: None,
        }),
        Err(QuickAddError::NotUnderstood { phrase, word, .. }) => Err(QuickAddError::NotUnderstood {
            what: "a reminder",
            phrase,
            word,
            examples: EXAMPLES,
        }),
        Err(e) => Err(e),
    }
}
