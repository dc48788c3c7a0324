//! Calendar feed tokens: `tf_cal_` and 64 hex digits of a 32-byte random secret. Only the SHA-256
//! of the token is stored; checking one hashes it and compares in constant time. A token is not a
//! JWT, so the bearer-token verifier refuses it everywhere: it opens the feed and nothing else.

use sha2::{Digest, Sha256};

pub const PREFIX: &str = "tf_cal_";
const SECRET_BYTES: usize = 32;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new token, to show once.
pub fn generate() -> String {
    let mut secret = [0u8; SECRET_BYTES];
    rand::fill(&mut secret);
    format!("{PREFIX}{}", hex(&secret))
}

/// What is stored for `token`: lowercase hex SHA-256.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `token` is the one whose hash is `stored`, in time independent of where they differ.
pub fn matches(token: &str, stored: &str) -> bool {
    taskflow_runtime::secret::same_secret(hash(token).as_bytes(), stored.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_its_hash() {
        let token = generate();
        assert!(token.starts_with(PREFIX) && token.len() == PREFIX.len() + 64);
        assert!(matches(&token, &hash(&token)));
        assert!(!matches(&generate(), &hash(&token)));
        assert_ne!(generate(), token);
    }
}
