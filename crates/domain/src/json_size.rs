//! The size of a value as compact JSON, counted without building the text: the byte caps on pages,
//! chat summaries and MCP replies measure with it.

use serde::Serialize;

/// The length in bytes of `value` serialised as compact JSON; `usize::MAX` if it cannot be
/// serialised (so a cap check refuses it).
pub fn json_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::json_len;

    #[test]
    fn counts_what_serialising_writes() {
        let v = json!({"a": [1, "ü", null, {"b": "\"quoted\"\n"}], "c": 1.5});
        assert_eq!(json_len(&v), serde_json::to_vec(&v).unwrap().len());
    }
}
