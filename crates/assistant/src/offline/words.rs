//! An utterance as words: the original spelling for titles, a lower-case form for matching.
//!
//! Titles and phrases handed to the tools keep the user's spelling ("Fix Bug", "mon, wed and fri");
//! every decision is made on the lower-case form with punctuation trimmed.

/// One utterance split on whitespace.
#[derive(Debug, Clone)]
pub(crate) struct Words {
    raw: Vec<String>,
    low: Vec<String>,
}

const PUNCTUATION: &[char] = &[
    '.', ',', '!', '?', ';', ':', '"', '\'', '(', ')', '“', '”', '‘', '’', '`',
];

impl Words {
    pub(crate) fn new(text: &str) -> Self {
        let raw: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let low = raw
            .iter()
            .map(|w| {
                let w = w.trim_matches(PUNCTUATION).to_lowercase();
                if w == "&" { "and".to_owned() } else { w }
            })
            .collect();
        Self { raw, low }
    }

    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    /// The lower-case word at `i`, or "" past the end.
    pub(crate) fn low(&self, i: usize) -> &str {
        self.low.get(i).map_or("", String::as_str)
    }

    /// The original word at `i`, or "" past the end.
    pub(crate) fn raw(&self, i: usize) -> &str {
        self.raw.get(i).map_or("", String::as_str)
    }

    /// Whether the words at `i` are `phrase` (lower-case, space-separated); its length in words.
    pub(crate) fn is(&self, i: usize, phrase: &str) -> Option<usize> {
        let mut n = 0;
        for (k, part) in phrase.split(' ').enumerate() {
            if self.low(i + k) != part || i + k >= self.len() {
                return None;
            }
            n += 1;
        }
        Some(n)
    }

    /// The first of `phrases` found at `i`, as its length in words.
    pub(crate) fn any(&self, i: usize, phrases: &[&str]) -> Option<usize> {
        phrases.iter().find_map(|p| self.is(i, p))
    }

    /// Whether the words `start..end` are exactly `phrase`.
    pub(crate) fn exactly(&self, start: usize, end: usize, phrase: &str) -> bool {
        self.is(start, phrase) == Some(end.saturating_sub(start)) && end > start
    }

    /// The lower-case words `start..end` joined by spaces.
    pub(crate) fn low_text(&self, start: usize, end: usize) -> String {
        self.low.get(start..end).map(|w| w.join(" ")).unwrap_or_default()
    }

    /// The original words `start..end`, with punctuation and quotes trimmed from the ends.
    pub(crate) fn text(&self, start: usize, end: usize) -> String {
        let joined = self.raw.get(start..end).map(|w| w.join(" ")).unwrap_or_default();
        joined.trim_matches(PUNCTUATION).trim().to_owned()
    }

    /// A new utterance made of the words `start..end`.
    pub(crate) fn slice(&self, start: usize, end: usize) -> Self {
        let end = end.min(self.len());
        let start = start.min(end);
        Self {
            raw: self.raw[start..end].to_vec(),
            low: self.low[start..end].to_vec(),
        }
    }
}
