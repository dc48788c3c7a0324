//! A small RFC 5545 content-line writer: what every iCalendar consumer needs from the text, and
//! nothing more. Hand-written rather than a crate because the feed only ever writes, and this is
//! the whole of it (checked by the property tests below and by Python's `icalendar` in CI).
//!
//! - lines end in CRLF and are folded at 75 octets, never inside a UTF-8 character (RFC 5545 §3.1);
//! - TEXT values escape `\`, `;`, `,` and line breaks (§3.3.11); other control characters, which
//!   TEXT cannot carry, are dropped.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Octets a physical line may hold, CRLF excluded.
const LINE_OCTETS: usize = 75;

/// An iCalendar object being written, line by line.
#[derive(Debug, Default)]
pub struct Ics {
    out: String,
}

impl Ics {
    pub fn new() -> Self {
        Self::default()
    }

    /// A content line whose value is already in its iCalendar form (a date, a number, an RRULE);
    /// `name` may carry parameters (`DTSTART;TZID=Europe/Berlin`).
    pub fn raw(&mut self, name: &str, value: &str) {
        let mut line = String::with_capacity(name.len() + 1 + value.len());
        line.push_str(name);
        line.push(':');
        line.push_str(value);
        fold_into(&line, &mut self.out);
    }

    /// A TEXT property, escaped.
    pub fn text(&mut self, name: &str, value: &str) {
        self.raw(name, &escape_text(value));
    }

    /// A UTC DATE-TIME property (`…Z`).
    pub fn utc(&mut self, name: &str, at: DateTime<Utc>) {
        self.raw(name, &utc_stamp(at));
    }

    /// How many octets are written so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// `20261207T093000Z`.
pub fn utc_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// `20261207T093000` (a local time, for `TZID=`).
pub fn local_stamp(at: NaiveDateTime) -> String {
    at.format("%Y%m%dT%H%M%S").to_string()
}

/// A signed DURATION in whole days, minutes or seconds (`-PT15M`, `P1D`, `PT90S`).
pub fn duration(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    if s != 0 && s.is_multiple_of(86_400) {
        format!("{sign}P{}D", s / 86_400)
    } else if s.is_multiple_of(60) {
        format!("{sign}PT{}M", s / 60)
    } else {
        format!("{sign}PT{s}S")
    }
}

/// Escapes a TEXT value: `\` `;` `,` get a backslash, any line break becomes `\n`, and other control
/// characters except tab are dropped.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded: at most 75 octets per physical line, continuations starting with a space,
/// every line ended by CRLF.
fn fold_into(line: &str, out: &mut String) {
    let mut used = 0;
    for c in line.chars() {
        let width = c.len_utf8();
        if used + width > LINE_OCTETS {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += width;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unfold(text: &str) -> String {
        text.replace("\r\n ", "")
    }

    fn unescape(value: &str) -> String {
        let mut out = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') | Some('N') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    /// What a TEXT value can carry: line breaks as `\n`, no other control characters but tab.
    fn carried(value: &str) -> String {
        value
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect()
    }

    #[test]
    fn escapes_the_four_specials() {
        assert_eq!(escape_text("a,b;c\\d\ne\r\nf"), "a\\,b\\;c\\\\d\\ne\\nf");
    }

    #[test]
    fn folds_long_lines_between_characters() {
        let mut ics = Ics::new();
        ics.text("SUMMARY", &"é".repeat(60));
        let text = ics.finish();
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0].len(), 74, "SUMMARY: + 33 two-octet characters");
        assert!(lines[1].starts_with(' '));
        assert_eq!(unfold(&text), format!("SUMMARY:{}\r\n", "é".repeat(60)));
    }

    #[test]
    fn durations_are_rfc5545() {
        assert_eq!(duration(-900), "-PT15M");
        assert_eq!(duration(0), "PT0M");
        assert_eq!(duration(86_400 * 2), "P2D");
        assert_eq!(duration(-90), "-PT90S");
    }

    proptest! {
        #[test]
        fn every_physical_line_fits_and_unfolds_to_the_line(name in "[A-Z]{1,12}", value in any::<String>()) {
            let mut ics = Ics::new();
            ics.text(&name, &value);
            let text = ics.finish();
            prop_assert!(text.ends_with("\r\n"));
            for line in text.strip_suffix("\r\n").unwrap_or(&text).split("\r\n") {
                prop_assert!(line.len() <= LINE_OCTETS, "{} octets: {line:?}", line.len());
                prop_assert!(!line.contains('\r') && !line.contains('\n'));
            }
            let unfolded = unfold(&text);
            let value_part = unfolded
                .strip_prefix(&format!("{name}:"))
                .and_then(|v| v.strip_suffix("\r\n"))
                .unwrap_or_default();
            prop_assert_eq!(unescape(value_part), carried(&value));
        }

        #[test]
        fn escaped_text_has_no_bare_separators(value in any::<String>()) {
            let escaped = escape_text(&value);
            let mut chars = escaped.chars();
            while let Some(c) = chars.next() {
                prop_assert!(c != ';' && c != ',' && c != '\n' && c != '\r', "bare {c:?} in {escaped:?}");
                if c == '\\' {
                    let next = chars.next();
                    prop_assert!(matches!(next, Some('\\' | ';' | ',' | 'n')), "{escaped:?}");
                }
            }
        }
    }
}
