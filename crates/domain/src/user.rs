//! Account rules: names, e-mail addresses, passwords and time zones.

use crate::{ValidationError, text};

pub const MAX_NAME_CHARS: usize = 100;
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Argon2 hashes whatever it is given; an unbounded password is a denial-of-service lever.
pub const MAX_PASSWORD_CHARS: usize = 1024;

pub fn validate_name(raw: &str) -> Result<String, ValidationError> {
    text::single_line("name", raw, MAX_NAME_CHARS)
}

/// The OpenAPI pattern equivalent to [`normalise_email`] (with `maxLength` 254): optional blanks
/// around `local@domain`, a local part of 1–64 characters that are not `@`, blank or control, and at
/// least two dot-separated labels that do not start or end with `-`.
pub const EMAIL_PATTERN: &str = r"^[\t-\r\x85 \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{1,64}@[^@.\-\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^@.\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@.\-\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?(?:\.[^@.\-\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^@.\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@.\-\x00-\x1f\x7f-\x9f \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?)+[\t-\r\x85 \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_EMAIL_LOCAL_CHARS: usize = 64;

/// Normalises an e-mail address for storage and comparison: trimmed and lower-cased. The bounds
/// apply to the address as sent ([`EMAIL_PATTERN`] states the same rules).
pub fn normalise_email(raw: &str) -> Result<String, ValidationError> {
    let bad = |why: &str| Err(ValidationError::new("email", why.to_owned()));
    if raw.chars().count() > MAX_EMAIL_CHARS {
        return bad("must be at most 254 characters");
    }
    let email = raw.trim();
    if email.is_empty() {
        return bad("must not be empty");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return bad("is not an e-mail address");
    };
    if local.is_empty() || local.chars().count() > MAX_EMAIL_LOCAL_CHARS || domain.contains('@') {
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
    Ok(email.to_lowercase())
}

/// The OpenAPI pattern equivalent to [`validate_password`] (with `minLength` 8, `maxLength` 1024).
pub const PASSWORD_PATTERN: &str = r"^[^\x00]*$";

pub fn validate_password(password: &str) -> Result<(), ValidationError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ValidationError::new(
            "password",
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
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

/// Checks an IANA time-zone name such as `Europe/Berlin`, spelt exactly (the OpenAPI document lists
/// them all, from [`chrono_tz::TZ_VARIANTS`]).
pub fn validate_timezone(raw: &str) -> Result<String, ValidationError> {
    raw.parse::<chrono_tz::Tz>()
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

    mod patterns_agree {
        use super::*;
        use proptest::prelude::*;

        fn address() -> impl Strategy<Value = String> {
            let piece = prop::sample::select(vec![
                "a", "Z", "0", "-", ".", "@", " ", "\t", "\u{85}", "\u{a0}", "\u{3000}", "\u{1}", "é", "İ",
                "x.y", "@b.co", "-", "ab", ".c", "\u{200b}",
            ]);
            prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
        }

        proptest! {
            #[test]
            fn email_pattern(s in address()) {
                let re = regex::Regex::new(EMAIL_PATTERN).unwrap();
                let by_pattern = re.is_match(&s) && s.chars().count() <= MAX_EMAIL_CHARS;
                prop_assert_eq!(by_pattern, normalise_email(&s).is_ok(), "{:?}", s);
            }

            #[test]
            fn password_pattern(s in "[a\u{0}é]{0,12}") {
                let re = regex::Regex::new(PASSWORD_PATTERN).unwrap();
                let n = s.chars().count();
                prop_assert_eq!(re.is_match(&s) && (8..=1024).contains(&n), validate_password(&s).is_ok());
            }
        }
    }
}
