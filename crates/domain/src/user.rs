//! Account rules: names, e-mail addresses, passwords and time zones.

use crate::{ValidationError, text};

pub const MAX_NAME_CHARS: usize = 100;
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Argon2 hashes whatever it is given; an unbounded password is a denial-of-service lever.
pub const MAX_PASSWORD_BYTES: usize = 1024;

pub fn validate_name(raw: &str) -> Result<String, ValidationError> {
    text::single_line("name", raw, MAX_NAME_CHARS)
}

/// Normalises an e-mail address for storage and comparison: trimmed and lower-cased.
pub fn normalise_email(raw: &str) -> Result<String, ValidationError> {
    let email = raw.trim().to_lowercase();
    let bad = |why: &str| Err(ValidationError::new("email", why.to_owned()));
    if email.is_empty() {
        return bad("must not be empty");
    }
    if email.len() > 254 {
        return bad("must be at most 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad("is not an e-mail address");
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return bad("is not an e-mail address");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return bad("has no valid domain");
    }
    Ok(email)
}

pub fn validate_password(password: &str) -> Result<(), ValidationError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ValidationError::new(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if password.contains('\0') {
        return Err(ValidationError::new(
            "password",
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// Checks an IANA time-zone name such as `Europe/Berlin` and returns its canonical spelling.
pub fn validate_timezone(raw: &str) -> Result<String, ValidationError> {
    raw.trim()
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| {
            ValidationError::new(
                "timezone",
                format!("{raw:?} is not an IANA time zone like Europe/Berlin"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email("  Ada@Example.COM ").as_deref(),
            Ok("ada@example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "a@-x.com",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
        assert!(validate_password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(validate_timezone("Asia/Karachi").as_deref(), Ok("Asia/Karachi"));
        assert!(validate_timezone("Mars/Olympus").is_err());
    }
}
