//! TaskFlow's domain: the task model and the rules every service agrees on.
//!
//! This crate is deliberately pure — no HTTP, SQL or Dapr — so the same rules hold in the REST API, the
//! assistant's tools and the event consumers, and so they can be tested exhaustively without I/O.

pub mod dead_letter;
pub mod error;
pub mod events;
pub mod json_size;
pub mod predecessor_fields;
pub mod quick_add;
pub mod recurrence;
pub mod reminder;
pub mod series;
pub mod tags;
pub mod task;
pub mod text;
pub mod time;
pub mod user;
pub mod webhook;

pub use dead_letter::DeadLetter;
pub use error::ValidationError;
pub use events::{EventType, TaskEvent};
pub use recurrence::{RRule, Recurrence, RecurrenceAnchor, RecurrenceInput, RecurrenceRule};
pub use reminder::ReminderSpec;
pub use task::{Category, CreateTask, NewTask, Priority, Reminder, Task, TaskChanges, TaskUpdate};
