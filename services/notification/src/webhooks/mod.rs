//! Signed webhooks (issue 20, Standard Webhooks): notification owns outbound delivery, as it owns
//! e-mail. A consumer of every task-event topic ([`recorder`]) queues one delivery per subscribed
//! endpoint; a sender ([`sender`]) attempts them in order per endpoint, signed ([`signature`]),
//! retried on a schedule, through a client that refuses internal addresses ([`guard`]).

pub mod config;
pub mod guard;
pub mod recorder;
pub mod sender;
pub mod signature;

pub use config::WebhookConfig;
pub use recorder::{subscriptions, webhook_id};
pub use sender::{SenderError, WebhookSender};
