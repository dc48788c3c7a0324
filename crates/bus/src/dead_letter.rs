//! Where the in-process bus puts what it gives up on.
//!
//! A trait, so the bus stays transport only: the single binary hands it a sink that writes to the
//! database (`taskflow_host::StoreDeadLetters`), tests can hand it one that records in memory.

use std::future::Future;
use std::pin::Pin;

pub use taskflow_domain::DeadLetter;

pub type SinkFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Keeps dead letters; an `Err` is logged by the bus (the letter's reason, id and topic are in the log).
pub trait DeadLetterSink: Send + Sync {
    fn record<'a>(&'a self, letter: &'a DeadLetter) -> SinkFuture<'a>;
}
