//! The `--messages-config` file (JSON, unknown keys refused): which sender each channel uses —
//! SMTP for e-mail, an HTTP gateway for SMS, a JSON-lines file in development — and the
//! dispatcher's retries. Secrets (passwords, tokens, the gateway URL, which often carries a key)
//! are never printed: `Debug` shows `***`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::dispatch::{RetryPolicy, Routes};
use super::senders::{FileSender, MessageSender, SmsGateway, SmtpSender};
use crate::alerts::Secret;

fn default_subject() -> String {
    "Кассовый чек об оплате".into()
}

/// E-receipts by e-mail: an SMTP server (the same settings as the alerts' e-mail) and a subject.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailSenderConfig {
    #[serde(flatten)]
    pub smtp: crate::smtp::SmtpConfig,
    #[serde(default = "default_subject")]
    pub subject: String,
}

/// The gateway's HTTP method.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
}

impl HttpMethod {
    pub fn to_reqwest(self) -> reqwest::Method {
        match self {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
        }
    }
}

/// HTTP basic authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    pub password: Secret,
}

/// A JSON field of the answer that must have a value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonCheck {
    /// RFC 6901 pointer, e.g. `/status`.
    pub pointer: String,
    pub equals: serde_json::Value,
}

/// How the body template's values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    Json,
    Form,
    Raw,
}

fn default_timeout() -> u64 {
    10_000
}

/// An HTTP SMS gateway. Templates take `{phone}` (`+79991234567`), `{phone_digits}`
/// (`79991234567`), `{text}` and `{id}` (the message's id, for gateways that deduplicate);
/// values are %-encoded in the URL and escaped for the body's content type (JSON string,
/// form field, or as they are).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsGatewayConfig {
    /// e.g. `https://sms.example.ru/send?login=kiosk&phone={phone}&text={text}`.
    pub url: Secret,
    #[serde(default)]
    pub method: HttpMethod,
    /// The request body template (POST), e.g. `{"to": "{phone}", "text": "{text}"}` (a secret:
    /// it may carry a key).
    #[serde(default)]
    pub body: Option<Secret>,
    /// The body's content type: `application/json` for a body that starts with `{` or `[`,
    /// `application/x-www-form-urlencoded` otherwise, unless set.
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub bearer: Option<Secret>,
    #[serde(default)]
    pub basic: Option<BasicAuth>,
    /// More headers, e.g. `{"X-Api-Key": "…"}` (values are secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// The statuses that mean accepted; any 2xx when empty.
    #[serde(default)]
    pub success_status: Vec<u16>,
    /// The answer's body must contain this.
    #[serde(default)]
    pub success_body_contains: Option<String>,
    /// The answer must be JSON with this field so.
    #[serde(default)]
    pub success_json: Option<JsonCheck>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

impl SmsGatewayConfig {
    pub fn content_type(&self) -> String {
        if let Some(c) = &self.content_type {
            return c.clone();
        }
        match self.body.as_ref().map(|b| b.expose().trim_start()) {
            Some(b) if b.starts_with('{') || b.starts_with('[') => "application/json".into(),
            _ => "application/x-www-form-urlencoded".into(),
        }
    }
    pub fn body_encoding(&self) -> BodyEncoding {
        let c = self.content_type();
        if c.contains("json") {
            BodyEncoding::Json
        } else if c.contains("x-www-form-urlencoded") {
            BodyEncoding::Form
        } else {
            BodyEncoding::Raw
        }
    }
}

fn d_tick() -> u64 {
    1_000
}
fn d_batch() -> i64 {
    50
}
fn d_concurrency() -> usize {
    4
}
fn d_lease() -> u64 {
    120
}
fn d_first_retry() -> u64 {
    5_000
}
fn d_max_retry() -> u64 {
    300_000
}
fn d_attempts() -> i64 {
    8
}

/// The `--messages-config` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesConfig {
    /// How often the dispatcher looks for due messages.
    #[serde(default = "d_tick")]
    pub tick_ms: u64,
    /// Messages claimed per look.
    #[serde(default = "d_batch")]
    pub batch: i64,
    /// Messages sent at once.
    #[serde(default = "d_concurrency")]
    pub concurrency: usize,
    /// A claimed message not recorded within this long (the worker died) is sent again by
    /// another. Must exceed the longest send (SMTP 30 s, the gateway's `timeout_ms`).
    #[serde(default = "d_lease")]
    pub lease_seconds: u64,
    /// The first retry after a failure; each next waits twice as long, up to `max_retry_ms`.
    #[serde(default = "d_first_retry")]
    pub first_retry_ms: u64,
    #[serde(default = "d_max_retry")]
    pub max_retry_ms: u64,
    /// After this many attempts a message is given up (`failed`).
    #[serde(default = "d_attempts")]
    pub max_attempts: i64,
    #[serde(default)]
    pub email: Option<EmailSenderConfig>,
    #[serde(default)]
    pub sms: Option<SmsGatewayConfig>,
    /// Development: channels with no sender above are appended to this JSON-lines file.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Why the messages configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid messages configuration: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("messages configuration: {0}")]
    Invalid(String),
}

impl MessagesConfig {
    /// Reads and checks a JSON configuration file.
    pub fn load(path: &Path) -> Result<MessagesConfig, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: p.clone(),
            source,
        })?;
        let c: MessagesConfig =
            serde_json::from_str(&text).map_err(|source| ConfigError::Parse { path: p, source })?;
        c.check()?;
        Ok(c)
    }

    /// Refuses what cannot work: no sender at all, a template without the phone or the text, a
    /// URL that is none, two kinds of auth, limits of zero.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |s: String| Err(ConfigError::Invalid(s));
        if self.email.is_none() && self.sms.is_none() && self.file.is_none() {
            return bad("no sender: configure \"email\", \"sms\" or \"file\"".into());
        }
        if self.max_attempts < 1 || self.batch < 1 || self.concurrency < 1 {
            return bad("max_attempts, batch and concurrency must be at least 1".into());
        }
        if self.lease_seconds < 10 {
            return bad("lease_seconds must be at least 10".into());
        }
        if let Some(e) = &self.email {
            e.smtp
                .from_mailbox()
                .map_err(|x| ConfigError::Invalid(format!("email.from: {x}")))?;
            if e.smtp.smtp_host.trim().is_empty() {
                return bad("email.smtp_host is empty".into());
            }
        }
        if let Some(s) = &self.sms {
            let all = format!(
                "{}{}",
                s.url.expose(),
                s.body.as_ref().map_or("", |b| b.expose())
            );
            for p in ["{text}"] {
                if !all.contains(p) {
                    return bad(format!("sms: neither url nor body has {p}"));
                }
            }
            if !all.contains("{phone}") && !all.contains("{phone_digits}") {
                return bad("sms: neither url nor body has {phone} or {phone_digits}".into());
            }
            let sample = s
                .url
                .expose()
                .replace("{phone_digits}", "1")
                .replace("{phone}", "1")
                .replace("{text}", "1")
                .replace("{id}", "1");
            match reqwest::Url::parse(&sample) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                // The URL is a secret: say what is wrong, not what it is.
                _ => return bad("sms.url is not an http(s) URL".into()),
            }
            if s.bearer.is_some() && s.basic.is_some() {
                return bad("sms: use bearer or basic, not both".into());
            }
            if s.method == HttpMethod::Get && s.body.is_some() {
                return bad("sms: a GET request has no body".into());
            }
            if let Some(j) = &s.success_json {
                if !j.pointer.starts_with('/') {
                    return bad(format!(
                        "sms.success_json.pointer {:?} must start with /",
                        j.pointer
                    ));
                }
            }
            for name in s.headers.keys() {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return bad(format!("sms.headers: {name:?} is not a header name"));
                }
            }
        }
        Ok(())
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            tick: Duration::from_millis(self.tick_ms.max(10)),
            batch: self.batch,
            concurrency: self.concurrency,
            lease: Duration::from_secs(self.lease_seconds),
            first_retry: Duration::from_millis(self.first_retry_ms),
            max_retry: Duration::from_millis(self.max_retry_ms.max(self.first_retry_ms)),
            max_attempts: self.max_attempts,
        }
    }

    /// The sender of each channel.
    pub fn routes(&self) -> Result<Routes, ConfigError> {
        let file: Option<Arc<dyn MessageSender>> = self
            .file
            .clone()
            .map(|p| Arc::new(FileSender::new(p)) as Arc<dyn MessageSender>);
        let email = match &self.email {
            Some(e) => Some(Arc::new(SmtpSender::new(e.clone())) as Arc<dyn MessageSender>),
            None => file.clone(),
        };
        let sms = match &self.sms {
            Some(s) => Some(Arc::new(
                SmsGateway::new(s.clone()).map_err(|e| ConfigError::Invalid(e.to_string()))?,
            ) as Arc<dyn MessageSender>),
            None => file,
        };
        Ok(Routes { email, sms })
    }

    /// Which sender each channel uses, for the log.
    pub fn describe(&self) -> String {
        let one = |configured: bool, what: &str| {
            if configured {
                what.to_string()
            } else if self.file.is_some() {
                "file".to_string()
            } else {
                "none".to_string()
            }
        };
        format!(
            "email: {}, sms: {}",
            one(self.email.is_some(), "smtp"),
            one(self.sms.is_some(), "http gateway")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<MessagesConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("messages.json");
        std::fs::write(&path, text).unwrap();
        MessagesConfig::load(&path)
    }

    #[test]
    fn the_example_loads_and_hides_its_secrets() {
        let text = include_str!("../../deploy/messages.example.json");
        let c = load(text).unwrap();
        assert!(c.email.is_some() && c.sms.is_some());
        let shown = format!("{c:?}");
        for secret in ["mail-password", "sms-api-key", "gw-password"] {
            assert!(text.contains(secret), "the example has {secret}");
            assert!(!shown.contains(secret), "{shown}");
        }
        c.routes().unwrap();
    }

    #[test]
    fn bad_configurations_are_refused_with_a_reason() {
        let cases = [
            (r#"{}"#, "no sender"),
            (r#"{"file": "m.jsonl", "smtp": {}}"#, "unknown field"),
            (
                r#"{"sms": {"url": "https://gw.example/?to={phone}"}}"#,
                "{text}",
            ),
            (
                r#"{"sms": {"url": "gw.example/{phone}/{text}"}}"#,
                "not an http(s) URL",
            ),
            (
                r#"{"sms": {"url": "https://gw/{phone}/{text}", "bearer": "a", "basic": {"username": "u", "password": "p"}}}"#,
                "not both",
            ),
            (
                r#"{"sms": {"url": "https://gw/{phone}/{text}", "success_json": {"pointer": "status", "equals": "ok"}}}"#,
                "must start with /",
            ),
            (r#"{"file": "m.jsonl", "max_attempts": 0}"#, "at least 1"),
            (
                r#"{"email": {"smtp_host": "h", "security": "tls", "from": "not an address"}}"#,
                "email.from",
            ),
        ];
        for (text, want) in cases {
            let e = load(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
