//! The rule every secret from the environment must pass before a service starts with it.
//!
//! A token signed with a secret anyone can read is a token anyone can forge, so a secret that is
//! short, that was ever published in this repository (the old compose defaults, example files,
//! benchmark scripts), that still says "change me", or that is a short pattern repeated, stops
//! the service with the variable's name instead of letting it run forgeable.

use crate::config::ConfigError;

/// Shorter secrets are refused: HS256 and the app tokens are only as strong as their key.
pub const MIN_SECRET_BYTES: usize = 32;

/// Estimated entropy a secret must carry. The estimate undercounts random text (32 random hex
/// characters, 128 real bits, estimate at about 115), so the bar sits below that.
const MIN_ESTIMATED_BITS: f64 = 96.0;

/// Values this repository once shipped as defaults or examples: public, hence forgeable.
const PUBLISHED: &[&str] = &[
    "local-only-jwt-secret-change-me-0123456789",
    "local-app-api-token-change-me",
    "local-dapr-api-token-change-me",
    "dev-only-dapr-run-secret-0123456789abcdef",
    "bench-run-jwt-secret-0123456789abcdef0123456789abcdef",
    "consistency-check-secret-0123456789abcdef",
];

/// Words that mark a value as an example someone forgot to replace.
const PLACEHOLDERS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "example",
    "placeholder",
];

/// Whether two secrets (tokens, hashes of tokens) are equal, in time independent of where they
/// differ, so a caller guessing one cannot learn it byte by byte from response times.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a secret read from the variable `name`; the error names the variable and never echoes the value.
pub fn check_secret(name: &'static str, value: &str) -> Result<(), ConfigError> {
    let refuse = |reason: &str| ConfigError::Invalid {
        name,
        value: "<redacted>".into(),
        reason: format!("{reason}; generate one with `openssl rand -hex 32`"),
    };
    if value.len() < MIN_SECRET_BYTES {
        return Err(refuse(&format!("must be at least {MIN_SECRET_BYTES} bytes")));
    }
    if PUBLISHED.contains(&value) {
        return Err(refuse(
            "is a value published in TaskFlow's repository, so anyone can forge with it",
        ));
    }
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|word| lower.contains(word)) {
        return Err(refuse("is a placeholder that was never replaced"));
    }
    if repeats_a_short_pattern(value.as_bytes()) {
        return Err(refuse("is a short pattern repeated"));
    }
    if estimated_bits(value.as_bytes()) < MIN_ESTIMATED_BITS {
        return Err(refuse(&format!(
            "looks too predictable (under {MIN_ESTIMATED_BITS:.0} bits of estimated entropy)"
        )));
    }
    Ok(())
}

/// True when the value is some block of at most 16 bytes repeated ("aaaa…", "abcabc…").
fn repeats_a_short_pattern(bytes: &[u8]) -> bool {
    (1..=16.min(bytes.len() / 2)).any(|period| bytes.iter().skip(period).zip(bytes).all(|(a, b)| a == b))
}

/// Length × Shannon entropy of the byte distribution: a generous upper bound that still catches
/// values built from very few distinct characters.
fn estimated_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for &byte in bytes {
        counts[usize::from(byte)] += 1;
    }
    let len = bytes.len() as f64;
    let per_byte: f64 = counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = count as f64 / len;
            -p * p.log2()
        })
        .sum();
    per_byte * len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_the_same_only_byte_for_byte() {
        assert!(same_secret(b"tf_pat_abc", b"tf_pat_abc"));
        assert!(!same_secret(b"tf_pat_abc", b"tf_pat_abd"));
        assert!(
            !same_secret(b"tf_pat_abc", b"tf_pat_ab"),
            "a prefix is not the secret"
        );
        assert!(!same_secret(b"", b"x"));
    }

    fn refused(value: &str) -> bool {
        check_secret("JWT_SECRET", value).is_err()
    }

    #[test]
    fn generated_secrets_pass() {
        assert!(!refused(
            "3f9c1e0b7a6d4c2e8f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e"
        ));
        assert!(!refused("test-secret-that-is-at-least-32-bytes-long"));
    }

    #[test]
    fn short_published_placeholder_and_repeated_secrets_are_refused() {
        assert!(refused("too-short"));
        for published in PUBLISHED {
            assert!(refused(published), "{published}");
        }
        assert!(refused("please-change-me-before-production-0123"));
        assert!(refused(&"a".repeat(64)));
        assert!(refused(&"abc123".repeat(8)));
        assert!(refused(
            &"ab"
                .repeat(10)
                .chars()
                .chain("ba".repeat(10).chars())
                .collect::<String>()
        ));
    }

    #[test]
    fn the_error_names_the_variable_and_hides_the_value() {
        let Err(error) = check_secret("APP_API_TOKEN", "local-app-api-token-change-me") else {
            panic!("a published token was accepted");
        };
        let text = error.to_string();
        assert!(text.contains("APP_API_TOKEN"), "{text}");
        assert!(!text.contains("local-app-api-token"), "{text}");
    }
}
