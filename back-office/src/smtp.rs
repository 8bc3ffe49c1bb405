//! The SMTP settings shared by everything that sends e-mail (alerts to people, e-receipts to
//! customers) and the one place that turns them into a `lettre` transport (rustls, never
//! native-tls). It owns no message format: callers build their own `lettre::Message`.

use std::time::Duration;

use lettre::{AsyncSmtpTransport, Tokio1Executor};
use serde::Deserialize;

use crate::alerts::Secret;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS (port 587).
    Starttls,
    /// Plain, for a relay on localhost only.
    None,
}

/// An SMTP server and the sender address used on it.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpConfig {
    pub smtp_host: String,
    /// The security's usual port (465 or 587, 25 for `none`) unless set.
    #[serde(default)]
    pub smtp_port: Option<u16>,
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    pub from: String,
}

/// Why no transport could be made or a message not be sent. Never carries the password.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("SMTP server {host}: {reason}")]
    Transport { host: String, reason: String },
    #[error("address {what}: {reason}")]
    Address { what: &'static str, reason: String },
    #[error("building the e-mail: {0}")]
    Build(String),
    #[error("SMTP: {reason}")]
    Send {
        reason: String,
        /// The server refused for good (a 5xx answer): retrying will not help.
        permanent: bool,
    },
}

/// How long one SMTP conversation may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

impl SmtpConfig {
    /// A transport for this server (one connection per message).
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SmtpError> {
        let err = |e: lettre::transport::smtp::Error| SmtpError::Transport {
            host: self.smtp_host.clone(),
            reason: e.to_string(),
        };
        let mut t = match self.security {
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&self.smtp_host).map_err(err)?
            }
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.smtp_host)
                    .map_err(err)?
            }
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.smtp_host)
            }
        };
        if let Some(p) = self.smtp_port {
            t = t.port(p);
        }
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            t = t.credentials(lettre::transport::smtp::authentication::Credentials::new(
                u.clone(),
                p.expose().to_string(),
            ));
        }
        Ok(t.timeout(Some(SMTP_TIMEOUT)).build())
    }

    /// The configured sender as a mailbox.
    pub fn from_mailbox(&self) -> Result<lettre::message::Mailbox, SmtpError> {
        self.from.parse().map_err(|e| SmtpError::Address {
            what: "from",
            reason: format!("{e}"),
        })
    }

    /// The domain of the sender address (for Message-IDs).
    pub fn domain(&self) -> &str {
        self.from.rsplit('@').next().unwrap_or("back-office")
    }
}

/// Sends `message` through `config`'s server.
pub async fn send(config: &SmtpConfig, message: lettre::Message) -> Result<(), SmtpError> {
    use lettre::AsyncTransport;
    config
        .transport()?
        .send(message)
        .await
        .map_err(|e| SmtpError::Send {
            permanent: e.is_permanent(),
            reason: e.to_string(),
        })?;
    Ok(())
}
