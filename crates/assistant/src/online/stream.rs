//! Reassembles a streamed Chat Completion (`stream: true`, Server-Sent Events) into one message,
//! passing each piece of text on as it arrives. Lines may be split anywhere across network chunks,
//! even inside a UTF-8 character; tool calls arrive as pieces keyed by their index.

use super::client::ModelError;
use super::wire::{ChatMessage, StreamChunk, WireFunction, WireToolCall};

#[derive(Debug, Default)]
pub struct StreamAssembler {
    pending: Vec<u8>,
    content: String,
    calls: Vec<WireToolCall>,
    done: bool,
}

impl StreamAssembler {
    /// Takes the next bytes of the body; `on_text` gets each new piece of the reply's text.
    pub fn feed(&mut self, bytes: &[u8], on_text: &mut dyn FnMut(&str)) -> Result<(), ModelError> {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = std::str::from_utf8(&line)
                .map_err(|_| ModelError::Malformed("a streamed line is not UTF-8".to_owned()))?
                .trim_end_matches(['\r', '\n']);
            self.line(line, on_text)?;
        }
        Ok(())
    }

    fn line(&mut self, line: &str, on_text: &mut dyn FnMut(&str)) -> Result<(), ModelError> {
        // Comments, `event:`/`id:` fields and blank separators carry nothing we need.
        let Some(data) = line.strip_prefix("data:") else {
            return Ok(());
        };
        let data = data.trim_start();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: StreamChunk = serde_json::from_str(data)
            .map_err(|e| ModelError::Malformed(format!("a streamed event is not a completion chunk: {e}")))?;
        for choice in chunk.choices {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                on_text(&text);
                self.content.push_str(&text);
            }
            for piece in choice.delta.tool_calls {
                while self.calls.len() <= piece.index {
                    self.calls.push(WireToolCall {
                        id: String::new(),
                        kind: "function".to_owned(),
                        function: WireFunction {
                            name: String::new(),
                            arguments: String::new(),
                        },
                    });
                }
                let call = &mut self.calls[piece.index];
                if let Some(id) = piece.id {
                    call.id = id;
                }
                if let Some(f) = piece.function {
                    if let Some(name) = f.name {
                        call.function.name.push_str(&name);
                    }
                    if let Some(args) = f.arguments {
                        call.function.arguments.push_str(&args);
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the server sent `[DONE]`.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The assembled assistant message.
    pub fn finish(mut self, on_text: &mut dyn FnMut(&str)) -> Result<ChatMessage, ModelError> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let line = String::from_utf8(rest)
                .map_err(|_| ModelError::Malformed("a streamed line is not UTF-8".to_owned()))?;
            self.line(line.trim_end(), on_text)?;
        }
        let calls: Vec<WireToolCall> = self
            .calls
            .into_iter()
            .enumerate()
            .filter(|(_, c)| !c.function.name.is_empty())
            .map(|(i, mut c)| {
                if c.id.is_empty() {
                    c.id = format!("call_{i}");
                }
                c
            })
            .collect();
        Ok(ChatMessage {
            role: "assistant".to_owned(),
            content: (!self.content.is_empty()).then_some(self.content),
            tool_calls: calls,
            tool_call_id: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(body: &str, split_every: usize) -> (ChatMessage, Vec<String>) {
        let mut pieces = Vec::new();
        let mut on_text = |t: &str| pieces.push(t.to_owned());
        let mut a = StreamAssembler::default();
        for chunk in body.as_bytes().chunks(split_every) {
            a.feed(chunk, &mut on_text).unwrap();
        }
        let msg = a.finish(&mut on_text).unwrap();
        (msg, pieces)
    }

    const TEXT: &str = concat!(
        ": keep-alive\n\n",
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"✅ Ad\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"ded 🔴\"}}]}\r\n\r\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn text_is_passed_on_piece_by_piece_however_the_bytes_are_split() {
        for split in [1, 2, 3, 7, 1000] {
            let (msg, pieces) = assemble(TEXT, split);
            assert_eq!(msg.content.as_deref(), Some("✅ Added 🔴"), "split {split}");
            assert_eq!(pieces, ["✅ Ad", "ded 🔴"], "split {split}");
            assert!(msg.tool_calls.is_empty());
        }
    }

    #[test]
    fn tool_calls_are_reassembled_from_their_pieces() {
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"add_task\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"title\\\":\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"milk\\\"}\"}},{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"get_stats\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: [DONE]\n",
        );
        let (msg, pieces) = assemble(body, 5);
        assert!(pieces.is_empty());
        assert_eq!(msg.tool_calls.len(), 2);
        assert_eq!(msg.tool_calls[0].id, "call_a");
        assert_eq!(msg.tool_calls[0].function.name, "add_task");
        assert_eq!(msg.tool_calls[0].function.arguments, "{\"title\":\"milk\"}");
        assert_eq!(msg.tool_calls[1].function.name, "get_stats");
    }

    #[test]
    fn a_chunk_that_is_not_json_is_malformed() {
        let mut a = StreamAssembler::default();
        let err = a.feed(b"data: {oops\n", &mut |_| {}).unwrap_err();
        assert!(matches!(err, ModelError::Malformed(_)));
    }
}
