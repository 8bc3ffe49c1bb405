//! The ways a message reaches a customer: [`SmtpSender`] (e-mail, the SMTP settings of
//! [`crate::smtp`]), [`SmsGateway`] (an HTTP SMS gateway: URL and body templates, auth, a
//! success check on the answer) and the development [`FileSender`] (JSON lines). A sender only
//! sends: retries, claims and statuses are [`super::dispatch`]'s. Errors name what went wrong
//! but never a secret, a gateway URL (it may carry a key) or a full address.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;

use super::config::{BodyEncoding, EmailSenderConfig, SmsGatewayConfig};
use super::{mask_address, OutgoingMessage};

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try (a network error, a 5xx, a 4xx of a misconfigured gateway).
    #[error("{0}")]
    Transient(String),
    /// The receiver refused this message for good (an SMTP 5xx, an address that is none).
    #[error("{0}")]
    Permanent(String),
}

/// The future a sender returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Delivers messages of one or more channels.
pub trait MessageSender: Send + Sync {
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a>;
}

/// Development sender: appends each message as one JSON line to a file.
pub struct FileSender {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileSender {
    pub fn new(path: PathBuf) -> Self {
        FileSender {
            path,
            lock: Mutex::new(()),
        }
    }

    fn append(&self, message: &OutgoingMessage) -> Result<(), SendError> {
        let t = |e: String| SendError::Transient(e);
        let _guard = self
            .lock
            .lock()
            .map_err(|_| t("sender lock poisoned".into()))?;
        let line = serde_json::to_string(message).map_err(|e| t(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| t(format!("{}: {e}", self.path.display())))?;
        writeln!(f, "{line}").map_err(|e| t(e.to_string()))
    }
}

impl MessageSender for FileSender {
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move { self.append(message) })
    }
}

/// E-receipts by e-mail through an SMTP server.
pub struct SmtpSender {
    config: EmailSenderConfig,
}

impl SmtpSender {
    pub fn new(config: EmailSenderConfig) -> Self {
        SmtpSender { config }
    }

    /// The e-mail for `m`. Its Message-ID is the message's own, so a resend after a crash is
    /// recognisable as the same e-mail.
    pub fn build(&self, m: &OutgoingMessage) -> Result<lettre::Message, SendError> {
        use lettre::message::header::ContentType;
        let smtp = &self.config.smtp;
        let from = smtp
            .from_mailbox()
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let to: lettre::message::Mailbox = m.address.parse().map_err(|_| {
            SendError::Permanent(format!(
                "{} is not an e-mail address",
                mask_address(&m.address)
            ))
        })?;
        lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(self.config.subject.clone())
            .message_id(Some(format!(
                "<receipt-{}-{}@{}>",
                m.terminal_id
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
                m.id,
                smtp.domain()
            )))
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.clone())
            .map_err(|e| SendError::Permanent(format!("building the e-mail: {e}")))
    }
}

impl MessageSender for SmtpSender {
    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let mail = self.build(m)?;
            crate::smtp::send(&self.config.smtp, mail)
                .await
                .map_err(|e| match e {
                    crate::smtp::SmtpError::Send {
                        permanent: true, ..
                    } => SendError::Permanent(e.to_string()),
                    other => SendError::Transient(other.to_string()),
                })
        })
    }
}

/// `%`-encodes everything but the URL-safe characters (RFC 3986 unreserved).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` as the inside of a JSON string (no quotes).
fn json_inner(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// Fills a template's `{phone}`, `{phone_digits}`, `{text}` and `{id}` with `encode`d values.
pub fn fill(template: &str, m: &OutgoingMessage, encode: &dyn Fn(&str) -> String) -> String {
    let digits: String = m.address.chars().filter(char::is_ascii_digit).collect();
    template
        .replace("{phone_digits}", &encode(&digits))
        .replace("{phone}", &encode(&m.address))
        .replace("{text}", &encode(&m.body))
        .replace("{id}", &encode(&m.id.to_string()))
}

/// Whether `phone` is a phone number in international form (`+` and 10–15 digits).
pub fn is_phone(phone: &str) -> bool {
    phone
        .strip_prefix('+')
        .is_some_and(|d| (10..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// SMS through an HTTP gateway.
pub struct SmsGateway {
    config: SmsGatewayConfig,
    client: reqwest::Client,
}

impl SmsGateway {
    pub fn new(config: SmsGatewayConfig) -> Result<SmsGateway, SendError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(config.timeout_ms.max(100)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SendError::Permanent(format!("HTTP client: {}", e.without_url())))?;
        Ok(SmsGateway { config, client })
    }

    /// The request for `m`.
    pub fn request(&self, m: &OutgoingMessage) -> Result<reqwest::RequestBuilder, SendError> {
        let c = &self.config;
        let url = fill(c.url.expose(), m, &percent_encode);
        let url = reqwest::Url::parse(&url)
            .map_err(|e| SendError::Permanent(format!("the gateway URL template: {e}")))?;
        let mut req = self.client.request(c.method.to_reqwest(), url);
        if let Some(body) = &c.body {
            let body = body.expose();
            let encoding = c.body_encoding();
            let text = match encoding {
                BodyEncoding::Json => fill(body, m, &json_inner),
                BodyEncoding::Form => fill(body, m, &percent_encode),
                BodyEncoding::Raw => fill(body, m, &|s| s.to_string()),
            };
            req = req
                .header(reqwest::header::CONTENT_TYPE, c.content_type())
                .body(text);
        }
        if let Some(b) = &c.bearer {
            req = req.bearer_auth(b.expose());
        }
        if let Some(b) = &c.basic {
            req = req.basic_auth(&b.username, Some(b.password.expose()));
        }
        for (name, value) in &c.headers {
            req = req.header(name.as_str(), value.expose());
        }
        Ok(req.header("Idempotency-Key", format!("kiosk-message-{}", m.id)))
    }

    /// Checks the gateway's answer as configured: the status (any 2xx unless listed), then a
    /// substring of the body and a JSON field, if asked for.
    async fn check(&self, resp: reqwest::Response) -> Result<(), SendError> {
        let c = &self.config;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let short: String = body.chars().take(200).collect();
        let status_ok = if c.success_status.is_empty() {
            status.is_success()
        } else {
            c.success_status.contains(&status.as_u16())
        };
        if !status_ok {
            return Err(SendError::Transient(format!(
                "gateway answered {}: {short}",
                status.as_u16()
            )));
        }
        if let Some(want) = &c.success_body_contains {
            if !body.contains(want.as_str()) {
                return Err(SendError::Transient(format!(
                    "gateway answer has no {want:?}: {short}"
                )));
            }
        }
        if let Some(check) = &c.success_json {
            let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
                SendError::Transient(format!("gateway answer is not JSON: {short}"))
            })?;
            let got = v.pointer(&check.pointer);
            if got != Some(&check.equals) {
                return Err(SendError::Transient(format!(
                    "gateway answer {} is {}, not {}: {short}",
                    check.pointer,
                    got.map_or_else(|| "missing".to_string(), |g| g.to_string()),
                    check.equals
                )));
            }
        }
        Ok(())
    }
}

impl MessageSender for SmsGateway {
    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move {
            if !is_phone(&m.address) {
                return Err(SendError::Permanent(format!(
                    "{} is not a phone number (+ and 10–15 digits)",
                    mask_address(&m.address)
                )));
            }
            let resp = self.request(m)?.send().await.map_err(|e| {
                SendError::Transient(format!("gateway request failed: {}", e.without_url()))
            })?;
            self.check(resp).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(address: &str, body: &str) -> OutgoingMessage {
        OutgoingMessage {
            id: 42,
            terminal_id: "T-1".into(),
            receipt_id: "R".into(),
            channel: "sms".into(),
            address: address.into(),
            body: body.into(),
            queued_utc: "2026-11-20T06:00:00.000Z".into(),
        }
    }

    #[test]
    fn templates_are_filled_with_values_escaped_for_where_they_go() {
        let m = msg("+79991234567", "Платёж 10.00 руб. & \"чек\"");
        let url = fill(
            "https://gw.example/send?to={phone}&t={text}&id={id}",
            &m,
            &percent_encode,
        );
        assert!(url.starts_with("https://gw.example/send?to=%2B79991234567&t=%D0%9F"));
        assert!(
            url.contains("%26%20%22") && url.ends_with("&id=42"),
            "{url}"
        );
        let json = fill(
            r#"{"to":"{phone_digits}","text":"{text}"}"#,
            &m,
            &json_inner,
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["to"], "79991234567");
        assert_eq!(v["text"], m.body);
    }

    #[test]
    fn phone_numbers_are_checked() {
        assert!(is_phone("+79991234567"));
        assert!(!is_phone("89991234567"));
        assert!(!is_phone("+7999&text=x"));
        assert!(!is_phone("+7"));
    }
}
