//! notification: fires due reminders exactly once — a notification row and a `reminder-due` event
//! in one transaction, both built by the store's `NotificationRepo::fire` — and sends e-mail for them
//! when SMTP is configured.
//!
//! Woken by a Dapr cron binding (every sidecar fires, so ticks overlap) or, in the single binary, by
//! a timer. Reminders whose time passed while nothing was ticking fire on the next tick, marked late.

pub mod config;
pub mod email;
pub mod webhooks;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::join_all;
use taskflow_bus::cron::{CronHandler, TickFuture};
use taskflow_domain::{Task, time};
use taskflow_store::{DueReminder, NewNotification, PendingEmail, Store};
use uuid::Uuid;

pub use config::{NotificationConfig, mailer_from_env};
pub use email::Mailer;
pub use webhooks::{WebhookConfig, WebhookSender};

pub const SERVICE: &str = "notification";
pub const DEFAULT_PORT: u16 = 8002;
/// The cron input binding's name (and route).
pub const CRON_BINDING: &str = "reminder-cron";

#[derive(Debug, Clone)]
pub struct TickerConfig {
    /// Reminders handled per tick (the rest wait for the next one).
    pub batch: u64,
    /// A reminder fired more than this after its time is marked late.
    pub late_after: Duration,
    pub email_max_attempts: i32,
    pub email_backoff: Duration,
}

impl Default for TickerConfig {
    fn default() -> Self {
        Self {
            batch: 500,
            late_after: Duration::from_secs(120),
            email_max_attempts: 5,
            email_backoff: Duration::from_secs(30),
        }
    }
}

/// One tick's work.
pub struct ReminderTicker {
    store: Store,
    mailer: Option<Mailer>,
    config: TickerConfig,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn due_text(task: &Task) -> String {
    task.due_at.map_or_else(
        || "with no due date".to_owned(),
        |d| format!("due {}", d.format("%Y-%m-%d %H:%M UTC")),
    )
}

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub fired: usize,
    pub late: usize,
    pub emails_sent: usize,
    pub emails_failed: usize,
}

impl ReminderTicker {
    /// The `reminder-due` events it writes are notification's, published by notification's relay.
    pub fn new(store: Store, mailer: Option<Mailer>, config: TickerConfig) -> Self {
        Self {
            store: store.publishing_as(SERVICE),
            mailer,
            config,
        }
    }

    async fn fire(
        &self,
        task: &Task,
        reminder_id: Option<Uuid>,
        remind_at: DateTime<Utc>,
        key: String,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>, String> {
        let late = now - remind_at > delta(self.config.late_after);
        let (kind, message) = match reminder_id {
            Some(_) => (
                "reminder",
                format!("Reminder: “{}” is {}.", task.title, due_text(task)),
            ),
            None => (
                "due_soon",
                format!("Due soon: “{}” is {}.", task.title, due_text(task)),
            ),
        };
        let note = NewNotification {
            id: Uuid::now_v7(),
            kind,
            dedupe_key: key,
            reminder_id,
            title: task.title.clone(),
            message,
            remind_at,
            late,
            email: self.mailer.is_some(),
        };
        match self.store.notifications().fire(task, &note, now).await {
            Ok(true) => {
                metrics::counter!("reminders_fired_total", "late" => late.to_string()).increment(1);
                tracing::info!(task_id = %task.id, user_id = %task.user_id, late, kind, "reminder fired");
                Ok(Some(late))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn send(&self, mailer: &Mailer, pending: PendingEmail, now: DateTime<Utc>) -> bool {
        let n = &pending.notification;
        let subject = format!("TaskFlow: {}", n.title);
        let body = format!("{}\n\n— TaskFlow", n.message);
        let attempts = pending.attempts + 1;
        let (status, next, error, sent) = match mailer.send(&pending.to, &subject, &body).await {
            Ok(()) => ("sent", None, None, true),
            Err(e) if attempts >= self.config.email_max_attempts => {
                ("failed", None, Some(e.to_string()), false)
            }
            Err(e) => {
                let factor = 2u32.saturating_pow(u32::try_from(attempts - 1).unwrap_or(0));
                let retry = now + delta(self.config.email_backoff.saturating_mul(factor));
                ("pending", Some(retry), Some(e.to_string()), false)
            }
        };
        if let Some(e) = &error {
            tracing::warn!(notification_id = %n.id, attempts, error = %e, "reminder e-mail not sent");
        }
        if let Err(e) = self
            .store
            .notifications()
            .record_email(n.id, status, attempts, next, error.as_deref())
            .await
        {
            tracing::warn!(notification_id = %n.id, error = %e, "could not record an e-mail attempt");
        }
        metrics::counter!("reminder_emails_total", "status" => status).increment(1);
        sent
    }

    /// Fires everything due, then sends the e-mail queue.
    pub async fn run_once(&self) -> Result<TickReport, String> {
        let now = time::now();
        let mut report = TickReport::default();
        let due: Vec<DueReminder> = self
            .store
            .notifications()
            .due_reminders(now, self.config.batch)
            .await
            .map_err(|e| e.to_string())?;
        for d in due {
            let key = format!("reminder:{}:{}", d.reminder_id, d.remind_at.timestamp_micros());
            match self
                .fire(&d.task, Some(d.reminder_id), d.remind_at, key, now)
                .await
            {
                Ok(Some(late)) => {
                    report.fired += 1;
                    report.late += usize::from(late);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(reminder_id = %d.reminder_id, error = %e, "reminder not fired; next tick retries")
                }
            }
        }
        let soon = self
            .store
            .notifications()
            .due_soon(now, self.config.batch)
            .await
            .map_err(|e| e.to_string())?;
        for (task, minutes) in soon {
            let Some(due) = task.due_at else { continue };
            let key = format!("due-soon:{}:{}", task.id, due.timestamp_micros());
            let at = due - TimeDelta::minutes(i64::from(minutes));
            match self.fire(&task, None, at.min(now), key, now).await {
                Ok(Some(_)) => report.fired += 1,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(task_id = %task.id, error = %e, "due-soon reminder not fired; next tick retries")
                }
            }
        }
        if let Some(mailer) = &self.mailer {
            let pending = self
                .store
                .notifications()
                .pending_emails(now, self.config.batch)
                .await
                .map_err(|e| e.to_string())?;
            // Concurrently, so one slow recipient does not hold up the rest.
            let results = join_all(pending.into_iter().map(|p| self.send(mailer, p, now))).await;
            report.emails_sent = results.iter().filter(|ok| **ok).count();
            report.emails_failed = results.len() - report.emails_sent;
        }
        Ok(report)
    }
}

impl CronHandler for ReminderTicker {
    fn tick(&self) -> TickFuture<'_> {
        Box::pin(async move { self.run_once().await.map(|_| ()) })
    }
}
