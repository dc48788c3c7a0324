//! Notifications: claiming due reminders exactly once, the user's inbox, and the e-mail queue.
//!
//! Firing is a conditional update (`fired_at IS NULL`) in the same transaction as the notification
//! row and the `reminder-due` outbox event. Two tickers racing for one reminder both try the update;
//! on PostgreSQL the loser waits on the row lock, then sees `fired_at` set and updates nothing; on
//! SQLite writers are serialised. Either way one notification, one event.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, TryInsertResult,
};
use serde::Serialize;
use taskflow_domain::events::ReminderFired;
use taskflow_domain::{Task, TaskEvent};
use uuid::Uuid;

use crate::entity::{notifications, task_reminders, tasks, users};
use crate::outbox::OutboxWriter;
use crate::{StoreError, paging};

/// A notification as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: Uuid,
    pub task_id: Uuid,
    pub reminder_id: Option<Uuid>,
    /// `reminder`, `due_soon`, or `webhook_disabled` (then `task_id` is the endpoint's id).
    pub kind: String,
    pub title: String,
    pub message: String,
    pub due_at: Option<DateTime<Utc>>,
    pub remind_at: DateTime<Utc>,
    /// Fired after its time (the service was down or behind).
    pub late: bool,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

fn notification(m: notifications::Model) -> Notification {
    Notification {
        id: m.id,
        task_id: m.task_id,
        reminder_id: m.reminder_id,
        kind: m.kind,
        title: m.title,
        message: m.message,
        due_at: m.due_at,
        remind_at: m.remind_at,
        late: m.late,
        created_at: m.created_at,
        read_at: m.read_at,
    }
}

/// A notification about to be created by a firing.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: Uuid,
    pub kind: &'static str,
    pub dedupe_key: String,
    pub reminder_id: Option<Uuid>,
    pub title: String,
    pub message: String,
    pub remind_at: DateTime<Utc>,
    pub late: bool,
    /// Queue an e-mail for it.
    pub email: bool,
}

/// The `reminder-due` event of a firing: which reminder, the notification it created, and whether late.
fn reminder_due(task: &Task, note: &NewNotification, now: DateTime<Utc>) -> TaskEvent {
    let fired = ReminderFired {
        notification_id: note.id,
        reminder_id: note.reminder_id,
        remind_at: note.remind_at,
        late: note.late,
    };
    TaskEvent::reminder_due(task, fired, now)
}

/// A reminder whose time has come, with its task.
#[derive(Debug, Clone)]
pub struct DueReminder {
    pub reminder_id: Uuid,
    pub remind_at: DateTime<Utc>,
    pub task: Task,
}

/// An e-mail waiting to be sent.
#[derive(Debug, Clone)]
pub struct PendingEmail {
    pub notification: Notification,
    pub to: String,
    pub attempts: i32,
}

#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub unread_only: bool,
    pub limit: u64,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPage {
    pub notifications: Vec<Notification>,
    pub next_cursor: Option<String>,
}

pub struct NotificationRepo<'a> {
    db: &'a DatabaseConnection,
    outbox: &'a OutboxWriter,
}

impl<'a> NotificationRepo<'a> {
    pub(crate) fn new(db: &'a DatabaseConnection, outbox: &'a OutboxWriter) -> Self {
        Self { db, outbox }
    }

    /// Unfired reminders due by `now` on pending tasks, oldest first.
    pub async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<DueReminder>, StoreError> {
        let rows = task_reminders::Entity::find()
            .filter(task_reminders::Column::FiredAt.is_null())
            .filter(task_reminders::Column::RemindAt.lte(now))
            .order_by_asc(task_reminders::Column::RemindAt)
            .limit(limit)
            .all(self.db)
            .await?;
        let mut due = Vec::with_capacity(rows.len());
        let tasks = crate::TaskRepo::new(self.db, self.outbox, crate::Quotas::default());
        for r in rows {
            match tasks.get(&r.user_id, r.task_id).await? {
                Some(task) if !task.completed => due.push(DueReminder {
                    reminder_id: r.id,
                    remind_at: r.remind_at,
                    task,
                }),
                _ => {}
            }
        }
        Ok(due)
    }

    /// Pending tasks due within each owner's default reminder window, with no reminder of their own.
    pub async fn due_soon(&self, now: DateTime<Utc>, limit: u64) -> Result<Vec<(Task, u32)>, StoreError> {
        let opted_in: Vec<(String, i32)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::DefaultReminderMinutes)
            .filter(users::Column::DefaultReminderMinutes.is_not_null())
            .into_tuple::<(String, Option<i32>)>()
            .all(self.db)
            .await?
            .into_iter()
            .filter_map(|(id, m)| Some((id, m?)))
            .collect();
        let mut out = Vec::new();
        let tasks = crate::TaskRepo::new(self.db, self.outbox, crate::Quotas::default());
        for (user_id, minutes) in opted_in {
            let horizon = now + TimeDelta::minutes(i64::from(minutes));
            let candidates = tasks::Entity::find()
                .filter(tasks::Column::UserId.eq(user_id.as_str()))
                .filter(tasks::Column::Completed.eq(false))
                .filter(tasks::Column::DueAt.gt(now))
                .filter(tasks::Column::DueAt.lte(horizon))
                .limit(limit)
                .all(self.db)
                .await?;
            for m in candidates {
                if let Some(task) = tasks.get(&user_id, m.id).await?
                    && task.reminders.is_empty()
                {
                    out.push((task, u32::try_from(minutes).unwrap_or(0)));
                }
            }
        }
        Ok(out)
    }

    /// Fires one reminder: marks it fired (if nobody did), stores the notification and its
    /// `reminder-due` event, in one transaction. The event is built here from `task` and `note`, so
    /// no firing goes without it. `false` when another ticker fired it first.
    pub async fn fire(
        &self,
        task: &Task,
        note: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let event = reminder_due(task, note, now);
        let txn = self.db.begin().await?;
        if let Some(reminder_id) = note.reminder_id {
            let claimed = task_reminders::Entity::update_many()
                .col_expr(task_reminders::Column::FiredAt, Expr::val(now))
                .filter(task_reminders::Column::Id.eq(reminder_id))
                .filter(task_reminders::Column::FiredAt.is_null())
                .exec(&txn)
                .await?;
            if claimed.rows_affected == 0 {
                txn.rollback().await?;
                return Ok(false);
            }
        }
        let inserted = notifications::Entity::insert(notifications::ActiveModel {
            id: Set(note.id),
            user_id: Set(task.user_id.clone()),
            task_id: Set(task.id),
            reminder_id: Set(note.reminder_id),
            kind: Set(note.kind.to_owned()),
            dedupe_key: Set(note.dedupe_key.clone()),
            title: Set(note.title.clone()),
            message: Set(note.message.clone()),
            due_at: Set(task.due_at),
            remind_at: Set(note.remind_at),
            late: Set(note.late),
            created_at: Set(now),
            read_at: Set(None),
            email_status: Set(if note.email { "pending" } else { "none" }.to_owned()),
            email_attempts: Set(0),
            email_next_attempt_at: Set(note.email.then_some(now)),
            email_error: Set(None),
        })
        .on_conflict_do_nothing_on([notifications::Column::DedupeKey])
        .exec_without_returning(&txn)
        .await?;
        if !matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            txn.rollback().await?;
            return Ok(false);
        }
        self.outbox.enqueue(&txn, &[event]).await?;
        txn.commit().await?;
        self.outbox.notify();
        Ok(true)
    }

    /// The user's notifications, newest first.
    pub async fn list(
        &self,
        user_id: &str,
        filter: &NotificationFilter,
    ) -> Result<NotificationPage, StoreError> {
        let mut cond = Condition::all().add(notifications::Column::UserId.eq(user_id));
        if filter.unread_only {
            cond = cond.add(notifications::Column::ReadAt.is_null());
        }
        let (rows, next_cursor) = paging::newest_first(
            self.db,
            notifications::Entity::find().filter(cond),
            (notifications::Column::CreatedAt, notifications::Column::Id),
            filter.cursor.as_deref(),
            filter.limit,
            |r| (r.created_at, r.id),
        )
        .await?;
        Ok(NotificationPage {
            notifications: rows.into_iter().map(notification).collect(),
            next_cursor,
        })
    }

    /// Marks one of the user's notifications read; `None` when it is not theirs or does not exist.
    pub async fn mark_read(
        &self,
        user_id: &str,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Notification>, StoreError> {
        notifications::Entity::update_many()
            .col_expr(notifications::Column::ReadAt, Expr::val(now))
            .filter(notifications::Column::Id.eq(id))
            .filter(notifications::Column::UserId.eq(user_id))
            .filter(notifications::Column::ReadAt.is_null())
            .exec(self.db)
            .await?;
        let row = notifications::Entity::find_by_id(id)
            .filter(notifications::Column::UserId.eq(user_id))
            .one(self.db)
            .await?;
        Ok(row.map(notification))
    }

    /// Marks all the user's unread notifications read; returns how many.
    pub async fn mark_all_read(&self, user_id: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let res = notifications::Entity::update_many()
            .col_expr(notifications::Column::ReadAt, Expr::val(now))
            .filter(notifications::Column::UserId.eq(user_id))
            .filter(notifications::Column::ReadAt.is_null())
            .exec(self.db)
            .await?;
        Ok(res.rows_affected)
    }

    pub async fn delete(&self, user_id: &str, id: Uuid) -> Result<bool, StoreError> {
        let res = notifications::Entity::delete_many()
            .filter(notifications::Column::Id.eq(id))
            .filter(notifications::Column::UserId.eq(user_id))
            .exec(self.db)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// E-mails due for a (re)try, oldest first, with the recipient's address.
    pub async fn pending_emails(
        &self,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<PendingEmail>, StoreError> {
        let rows = notifications::Entity::find()
            .filter(notifications::Column::EmailStatus.eq("pending"))
            .filter(notifications::Column::EmailNextAttemptAt.lte(now))
            .order_by_asc(notifications::Column::EmailNextAttemptAt)
            .limit(limit)
            .all(self.db)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            let email = users::Entity::find_by_id(m.user_id.clone())
                .one(self.db)
                .await?
                .and_then(|u| u.email);
            match email {
                Some(to) => out.push(PendingEmail {
                    attempts: m.email_attempts,
                    to,
                    notification: notification(m),
                }),
                None => {
                    self.record_email(
                        m.id,
                        "failed",
                        m.email_attempts,
                        None,
                        Some("the user has no e-mail address"),
                    )
                    .await?
                }
            }
        }
        Ok(out)
    }

    /// Records an e-mail attempt's outcome: `sent`, `pending` (retry at `next`), or `failed` (gave up).
    pub async fn record_email(
        &self,
        id: Uuid,
        status: &str,
        attempts: i32,
        next: Option<DateTime<Utc>>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        notifications::Entity::update_many()
            .col_expr(notifications::Column::EmailStatus, Expr::val(status))
            .col_expr(notifications::Column::EmailAttempts, Expr::val(attempts))
            .col_expr(notifications::Column::EmailNextAttemptAt, Expr::val(next))
            .col_expr(
                notifications::Column::EmailError,
                Expr::val(error.map(|e| e.chars().take(1000).collect::<String>())),
            )
            .filter(notifications::Column::Id.eq(id))
            .exec(self.db)
            .await?;
        Ok(())
    }
}
