//! The in-process bus's dead letters, kept in the database (`dead_letters` table) where `/ready`
//! counts them and an operator can read them.

use taskflow_bus::dead_letter::{DeadLetter, DeadLetterSink, SinkFuture};
use taskflow_store::Store;

/// A [`DeadLetterSink`] that records each letter in `store`.
#[derive(Clone)]
pub struct StoreDeadLetters(pub Store);

impl DeadLetterSink for StoreDeadLetters {
    fn record<'a>(&'a self, letter: &'a DeadLetter) -> SinkFuture<'a> {
        Box::pin(async move {
            self.0
                .dead_letters()
                .record(letter)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
