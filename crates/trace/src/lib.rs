//! W3C trace context (`traceparent`) and the trace a piece of work belongs to.
//!
//! One trace id follows a change from the REST call that made it, through its outbox row and
//! CloudEvent, into every consumer's span and log lines, the audit row, the next recurring task and
//! the WebSocket push. The HTTP middleware and the bus's handler dispatch open a [`scope`]; code
//! that writes outbox rows reads [`current`]. A task-local (not a global) keeps concurrent requests
//! and concurrent in-process deliveries apart, and vanishes when the scoped future ends.
//!
//! This crate is tiny on purpose: `runtime` (HTTP), `store` (outbox rows) and `bus` (consumers)
//! all need it, and none of them may depend on another for it.

use std::fmt;
use std::future::Future;

/// A position in a distributed trace: the trace, the current span in it, and the sampling flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

fn hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn nonzero<const N: usize>() -> [u8; N] {
    loop {
        let id: [u8; N] = rand::random();
        if id.iter().any(|b| *b != 0) {
            return id;
        }
    }
}

impl TraceContext {
    /// Parses a `traceparent` header value. `None` for anything malformed (wrong length, upper-case
    /// hex, all-zero ids, version `ff`), as the W3C spec requires: the caller then starts a new trace.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let mut parts = header.splitn(5, '-');
        let version = parts.next()?;
        let trace_id = hex_bytes::<16>(parts.next()?)?;
        let span_id = hex_bytes::<8>(parts.next()?)?;
        let flags = hex_bytes::<1>(parts.next()?)?[0];
        let rest = parts.next();
        let [version] = hex_bytes::<1>(version)?;
        // Version 00 has exactly four fields; a later version may append more after a dash.
        if version == 0xff || (version == 0 && rest.is_some()) {
            return None;
        }
        if trace_id.iter().all(|b| *b == 0) || span_id.iter().all(|b| *b == 0) {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A new trace (sampled), for work nobody upstream traced.
    pub fn new_root() -> Self {
        Self {
            trace_id: nonzero(),
            span_id: nonzero(),
            flags: 0x01,
        }
    }

    /// A new span in the same trace: what this process does on behalf of `self`.
    pub fn child(&self) -> Self {
        Self {
            span_id: nonzero(),
            ..*self
        }
    }

    /// The child of the caller's context when `header` is a valid `traceparent`, else a new trace.
    pub fn continue_from(header: Option<&str>) -> Self {
        header
            .and_then(Self::parse)
            .map_or_else(Self::new_root, |parent| parent.child())
    }

    /// 32 lower-case hex digits.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// 16 lower-case hex digits.
    pub fn span_id(&self) -> String {
        hex(&self.span_id)
    }

    pub fn sampled(&self) -> bool {
        self.flags & 0x01 == 0x01
    }

    /// The `traceparent` value (version 00).
    pub fn header(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{:02x}", self.trace_id(), self.span_id(), self.flags)
    }
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// Runs `work` as part of `ctx`: [`current`] answers `ctx` inside it (not in tasks it spawns).
pub async fn scope<F: Future>(ctx: TraceContext, work: F) -> F::Output {
    CURRENT.scope(ctx, work).await
}

/// The trace the running work belongs to, if any scope was opened.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|c| *c).ok()
}

/// Wraps `work` to run in the caller's current trace, for work handed to `spawn`: a task-local does
/// not cross into a new task by itself. `spawn(inherit(async move { … }))`.
pub fn inherit<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let ctx = current();
    async move {
        match ctx {
            Some(ctx) => scope(ctx, work).await,
            None => work.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_prints_a_valid_header() {
        let ctx = TraceContext::parse(SAMPLE).unwrap();
        assert_eq!(ctx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id(), "00f067aa0ba902b7");
        assert!(ctx.sampled());
        assert_eq!(ctx.header(), SAMPLE);
        // A later version may carry more fields; the first four still count.
        let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert_eq!(TraceContext::parse(future).unwrap().trace_id(), ctx.trace_id());
    }

    #[test]
    fn refuses_malformed_headers() {
        for bad in [
            "",
            "garbage",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_child_keeps_the_trace_and_a_bad_parent_starts_a_new_one() {
        let parent = TraceContext::parse(SAMPLE).unwrap();
        let child = TraceContext::continue_from(Some(SAMPLE));
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.span_id(), parent.span_id());
        let fresh = TraceContext::continue_from(Some("nonsense"));
        assert_ne!(fresh.trace_id(), parent.trace_id());
        assert_eq!(TraceContext::parse(&fresh.header()), Some(fresh));
    }

    #[tokio::test]
    async fn current_is_scoped_to_the_work() {
        assert_eq!(current(), None);
        let ctx = TraceContext::new_root();
        let seen = scope(ctx, async { current() }).await;
        assert_eq!(seen, Some(ctx));
        assert_eq!(current(), None);
    }

    #[tokio::test]
    async fn spawned_work_inherits_the_trace_only_when_asked() {
        let ctx = TraceContext::new_root();
        let (plain, inherited) = scope(ctx, async {
            let plain = tokio::spawn(async { current() });
            let inherited = tokio::spawn(inherit(async { current() }));
            (plain.await.unwrap(), inherited.await.unwrap())
        })
        .await;
        assert_eq!(plain, None);
        assert_eq!(inherited, Some(ctx));
    }
}
