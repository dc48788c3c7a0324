//! E-mail for fired reminders, over SMTP with rustls.
//!
//! Sending happens after the firing transaction, from a queue on the notification rows: a slow or
//! failing mail server delays e-mail and is retried with backoff, but never holds up other reminders
//! or the notification itself.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use taskflow_runtime::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("invalid address {0}")]
    Address(String),
    #[error("could not build the message: {0}")]
    Message(String),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("SMTP server did not answer in time")]
    Timeout,
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// A mailer for the SMTP server at `url` sending as `from`; errors name `SMTP_URL` or `SMTP_FROM`,
    /// where they come from (see [`crate::config::mailer_from_env`]).
    pub fn new(url: &str, from: &str) -> Result<Self, ConfigError> {
        let invalid = |name: &'static str, value: &str, reason: String| ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason,
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| invalid("SMTP_URL", "<redacted>", e.to_string()))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e: lettre::address::AddressError| invalid("SMTP_FROM", from, e.to_string()))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), EmailError> {
        let to: Mailbox = to.parse().map_err(|_| EmailError::Address(to.to_owned()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| EmailError::Message(e.to_string()))?;
        match tokio::time::timeout(Duration::from_secs(15), self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(EmailError::Smtp(e.to_string())),
            Err(_) => Err(EmailError::Timeout),
        }
    }
}
