//! Checks shared by every free-text field.
//!
//! PostgreSQL refuses NUL in text and control characters make titles unreadable, so both are turned
//! away here as validation errors instead of surfacing later as database failures.

use crate::ValidationError;

/// Trims `raw` and checks it is 1..=`max` characters with no control characters.
pub fn single_line(field: &str, raw: &str, max: usize) -> Result<String, ValidationError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// Checks multi-line text: at most `max` characters, no control characters besides tab and newlines.
/// Returns `None` for text that is empty once trimmed.
pub fn multi_line(field: &str, raw: &str, max: usize) -> Result<Option<String>, ValidationError> {
    let value = raw.trim();
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
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
