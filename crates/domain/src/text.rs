//! Checks shared by every free-text field.
//!
//! PostgreSQL refuses NUL in text and control characters make titles unreadable, so both are turned
//! away here as validation errors instead of surfacing later as database failures.

use crate::ValidationError;

/// Unicode `White_Space` characters that are not control characters: with [`CONTROL_CLASS`], what
/// the OpenAPI patterns below need to say "blank".
pub const BLANK_CLASS: &str = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Unicode control characters (category Cc), as a regex class body.
pub const CONTROL_CLASS: &str = r"\x00-\x1f\x7f-\x9f";

/// The OpenAPI pattern equivalent to [`single_line`] (with `maxLength` for the bound): no control
/// character anywhere, at least one character that is not blank.
pub const SINGLE_LINE_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$";
/// The OpenAPI pattern equivalent to [`multi_line`]: no control character but tab, LF and CR.
pub const MULTI_LINE_PATTERN: &str = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$";

/// The OpenAPI pattern equivalent to [`multi_line`] text that must not be blank (`None`).
pub const MULTI_LINE_NON_BLANK_PATTERN: &str = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$";

/// Checks single-line text as sent: at most `max` characters, no control characters (not even
/// around it), not blank. Returns it trimmed.
///
/// The rules apply to the text as sent rather than once trimmed, so that a JSON-schema pattern and
/// `maxLength` ([`SINGLE_LINE_PATTERN`]) state them exactly.
pub fn single_line(field: &str, raw: &str, max: usize) -> Result<String, ValidationError> {
    if raw.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    Ok(value.to_owned())
}

/// Checks multi-line text as sent: at most `max` characters, no control characters besides tab and
/// newlines ([`MULTI_LINE_PATTERN`]). Returns it trimmed, or `None` when it is blank.
pub fn multi_line(field: &str, raw: &str, max: usize) -> Result<Option<String>, ValidationError> {
    if raw.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    let value = raw.trim();
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// Checks a query or filter string: no NUL (databases refuse it), bounded length.
pub fn filter_value(field: &str, raw: &str, max: usize) -> Result<(), ValidationError> {
    if raw.contains('\0') {
        return Err(ValidationError::new(field, "must not contain NUL characters"));
    }
    if raw.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_rules_apply_to_the_text_as_sent() {
        assert_eq!(single_line("t", "  Buy milk ", 20).unwrap(), "Buy milk");
        assert_eq!(single_line("t", "\u{3000}x\u{a0}", 20).unwrap(), "x");
        for bad in [
            "",
            "   ",
            "\u{2028}\u{a0}",
            "\tx",
            "x\n",
            "a\u{1}b",
            "x\u{85}",
            "a\u{7f}",
        ] {
            assert!(single_line("t", bad, 20).is_err(), "{bad:?}");
        }
        assert!(single_line("t", &format!(" {}", "x".repeat(20)), 20).is_err());
        assert!(single_line("t", &"é".repeat(20), 20).is_ok());
    }

    #[test]
    fn multi_line_allows_tab_and_newlines_only() {
        assert_eq!(
            multi_line("d", "a\n\tb\r\n", 20).unwrap().as_deref(),
            Some("a\n\tb")
        );
        assert_eq!(multi_line("d", " \n ", 20).unwrap(), None);
        for bad in ["\u{b}", "x\u{c}", "\u{85}", "\u{0}"] {
            assert!(multi_line("d", bad, 20).is_err(), "{bad:?}");
        }
    }

    /// The OpenAPI patterns say exactly what the server accepts: schemathesis checks both ways
    /// (valid data accepted, invalid data refused).
    mod patterns_agree {
        use super::*;
        use proptest::prelude::*;

        fn matches(pattern: &str, s: &str, max: usize) -> bool {
            let re = regex::Regex::new(pattern).unwrap();
            re.is_match(s) && s.chars().count() <= max
        }

        // Blank, control and ordinary characters, around the edges of the classes.
        fn text() -> impl Strategy<Value = String> {
            let interesting = prop::sample::select(vec![
                ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{0}', '\u{1f}', '\u{1c}', '\u{7f}', '\u{85}',
                '\u{9f}', '\u{a0}', '\u{a1}', '\u{1680}', '\u{2000}', '\u{200a}', '\u{200b}', '\u{2028}',
                '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}', '\u{feff}', 'a', 'Z', '0', '-', 'é', '😀',
            ]);
            prop::collection::vec(prop_oneof![interesting, any::<char>()], 0..8)
                .prop_map(|v| v.into_iter().collect())
        }

        proptest! {
            #[test]
            fn single_line_pattern(s in text()) {
                prop_assert_eq!(matches(SINGLE_LINE_PATTERN, &s, 5), single_line("f", &s, 5).is_ok(), "{:?}", s);
            }

            #[test]
            fn multi_line_non_blank_pattern(s in text()) {
                let accepted = matches!(multi_line("f", &s, 5), Ok(Some(_)));
                prop_assert_eq!(matches(MULTI_LINE_NON_BLANK_PATTERN, &s, 5), accepted, "{:?}", s);
            }

            #[test]
            fn multi_line_pattern(s in text()) {
                prop_assert_eq!(matches(MULTI_LINE_PATTERN, &s, 5), multi_line("f", &s, 5).is_ok(), "{:?}", s);
            }
        }
    }
}
