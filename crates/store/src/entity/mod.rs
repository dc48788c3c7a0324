//! sea-orm entities: one module per table, mirroring the migrations.

pub mod task_reminders;
pub mod tasks;
pub mod users;
