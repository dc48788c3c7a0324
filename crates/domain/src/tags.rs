//! Tag normalisation: `#Work`, ` work ` and `WORK` are the same tag.

use crate::ValidationError;

pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;

/// Normalises one tag: trimmed, a leading `#` dropped, lower-cased, inner whitespace turned into `-`.
pub fn normalise_tag(raw: &str) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_prefix('#').unwrap_or(trimmed).trim();
    let tag: String = trimmed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase();
    if tag.is_empty() {
        return Err(ValidationError::new("tags", "a tag must not be empty"));
    }
    if tag.chars().count() > MAX_TAG_CHARS {
        return Err(ValidationError::new(
            "tags",
            format!("a tag must be at most {MAX_TAG_CHARS} characters"),
        ));
    }
    if let Some(bad) = tag
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':')))
    {
        return Err(ValidationError::new(
            "tags",
            format!("a tag may contain letters, digits and - _ . / : only, not {bad:?}"),
        ));
    }
    Ok(tag)
}

/// Normalises a tag list: each tag normalised, duplicates dropped (first occurrence kept), at most [`MAX_TAGS`].
pub fn normalise_tags(raw: &[String]) -> Result<Vec<String>, ValidationError> {
    // Counted as sent, duplicates included, so the documented `maxItems` is the rule.
    if raw.len() > MAX_TAGS {
        return Err(ValidationError::new(
            "tags",
            format!("at most {MAX_TAGS} tags are allowed"),
        ));
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len().min(MAX_TAGS));
    for t in raw {
        let tag = normalise_tag(t)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::new(
            "tags",
            format!("at most {MAX_TAGS} tags are allowed"),
        ));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_case_hash_and_spaces() {
        assert_eq!(normalise_tag(" #Deep Work ").as_deref(), Ok("deep-work"));
        let tags = normalise_tags(&["Work".into(), "#work".into(), "home".into()]);
        assert_eq!(tags, Ok(vec!["work".to_string(), "home".to_string()]));
    }

    #[test]
    fn rejects_empty_and_punctuation() {
        assert!(normalise_tag("  # ").is_err());
        assert!(normalise_tag("a,b").is_err());
        assert!(normalise_tag(&"x".repeat(51)).is_err());
    }

    #[test]
    fn caps_the_number_of_tags_as_sent() {
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(normalise_tags(&many).is_err());
        // The documented `maxItems` counts what was sent, duplicates included.
        let dupes: Vec<String> = (0..21).map(|_| "same".to_string()).collect();
        assert!(normalise_tags(&dupes).is_err());
        let dupes: Vec<String> = (0..20).map(|_| "same".to_string()).collect();
        assert_eq!(normalise_tags(&dupes).map(|t| t.len()), Ok(1));
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(raw in "\\PC{0,60}") {
            if let Ok(tag) = normalise_tag(&raw) {
                prop_assert_eq!(normalise_tag(&tag), Ok(tag.clone()));
            }
        }
    }
}
