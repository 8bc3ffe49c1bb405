//! Alerts that people trust: which journal facts become alerts and how they group into threads
//! ([`rules`]), how they reach people — webhook, e-mail, Telegram ([`channels`]) — with quiet
//! hours, retries with back-off and a delivery log ([`dispatch`]), and the configuration of
//! channels and recipients ([`AlertConfig`], a JSON file). Secrets in it are never logged.

pub mod channels;
pub mod dispatch;
pub mod rules;

use serde::Deserialize;

/// A secret from the configuration: usable, never printed.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A JSON endpoint that gets every alert as a POST.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(default)]
    pub bearer: Option<Secret>,
}

/// A Telegram bot posting to one chat.
#[derive(Debug, Clone, Deserialize)]
pub struct TelegramConfig {
    /// `https://api.telegram.org` unless set (tests point it at a local fake).
    #[serde(default = "default_telegram")]
    pub base_url: String,
    pub bot_token: Secret,
    pub chat_id: String,
}

fn default_telegram() -> String {
    "https://api.telegram.org".into()
}

pub use crate::smtp::SmtpSecurity;

/// E-mail through an SMTP server (the settings shared with the e-receipts, [`crate::smtp`]) to
/// the people on duty.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailConfig {
    #[serde(flatten)]
    pub smtp: crate::smtp::SmtpConfig,
    pub to: Vec<String>,
}

/// The office's working hours (in each terminal's own time zone), every day; non-urgent alerts
/// found outside them wait until they begin.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkingHours {
    /// `HH:MM`.
    pub start: String,
    pub end: String,
}

fn default_confirm() -> i64 {
    120
}
fn default_lag() -> i64 {
    15
}
fn default_first_retry() -> u64 {
    30_000
}
fn default_attempts() -> i64 {
    10
}
fn default_tick() -> u64 {
    1_000
}

/// The `--alerts-config` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// An outage's opening waits this long for its recovery before anybody is told.
    #[serde(default = "default_confirm")]
    pub confirm_seconds: i64,
    /// No heartbeat and no batch for this long opens a sync-lag alert.
    #[serde(default = "default_lag")]
    pub sync_lag_minutes: i64,
    #[serde(default)]
    pub working_hours: Option<WorkingHours>,
    /// The first retry after a failed delivery; each next one waits twice as long (capped at
    /// an hour).
    #[serde(default = "default_first_retry")]
    pub first_retry_ms: u64,
    /// After this many failed attempts a delivery is given up (logged as failed).
    #[serde(default = "default_attempts")]
    pub max_attempts: i64,
    /// How often the dispatcher looks for due alerts.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    #[serde(default)]
    pub telegram: Option<TelegramConfig>,
    #[serde(default)]
    pub email: Option<EmailConfig>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            confirm_seconds: default_confirm(),
            sync_lag_minutes: default_lag(),
            working_hours: None,
            first_retry_ms: default_first_retry(),
            max_attempts: default_attempts(),
            tick_ms: default_tick(),
            webhooks: Vec::new(),
            telegram: None,
            email: None,
        }
    }
}

/// Why the alert configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid alert configuration: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("working hours {0:?}: use HH:MM")]
    BadHours(String),
}

impl AlertConfig {
    /// Reads and checks a JSON configuration file.
    pub fn load(path: &std::path::Path) -> Result<AlertConfig, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        let c: AlertConfig =
            serde_json::from_str(&text).map_err(|source| ConfigError::Parse { path: p, source })?;
        if let Some(h) = &c.working_hours {
            for t in [&h.start, &h.end] {
                chrono::NaiveTime::parse_from_str(t, "%H:%M")
                    .map_err(|_| ConfigError::BadHours(t.clone()))?;
            }
        }
        Ok(c)
    }

    /// The configured channels' names, as in the delivery log.
    pub fn channel_names(&self) -> Vec<String> {
        let mut v: Vec<String> = (0..self.webhooks.len())
            .map(|i| format!("webhook{}", i + 1))
            .collect();
        if self.telegram.is_some() {
            v.push("telegram".into());
        }
        if self.email.is_some() {
            v.push("email".into());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_file_loads_and_its_debug_output_hides_the_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.json");
        std::fs::write(
            &path,
            r#"{"confirm_seconds": 90, "working_hours": {"start": "08:00", "end": "20:00"},
                "webhooks": [{"url": "https://hooks.example/a", "bearer": "hook-secret"}],
                "telegram": {"bot_token": "123:tg-secret", "chat_id": "-100"},
                "email": {"smtp_host": "smtp.example", "security": "starttls", "username": "bo",
                          "password": "mail-secret", "from": "bo@example.ru", "to": ["duty@example.ru"]}}"#,
        )
        .unwrap();
        let c = AlertConfig::load(&path).unwrap();
        assert_eq!(c.confirm_seconds, 90);
        assert_eq!(c.channel_names(), ["webhook1", "telegram", "email"]);
        assert_eq!(
            c.telegram.as_ref().unwrap().base_url,
            "https://api.telegram.org"
        );
        let shown = format!("{c:?}");
        for secret in ["hook-secret", "tg-secret", "mail-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        std::fs::write(
            &path,
            r#"{"working_hours": {"start": "8", "end": "20:00"}}"#,
        )
        .unwrap();
        assert!(matches!(
            AlertConfig::load(&path),
            Err(ConfigError::BadHours(_))
        ));
        std::fs::write(&path, r#"{"webhook": []}"#).unwrap();
        assert!(matches!(
            AlertConfig::load(&path),
            Err(ConfigError::Parse { .. })
        ));
    }
}
