//! The ways an alert reaches people: a webhook (JSON POST), e-mail over SMTP (lettre, rustls) and
//! a Telegram bot (`sendMessage`/`editMessageText`). Each send returns the channel's handle of
//! the thread (Telegram message id, e-mail Message-ID) so later steps of the same thread update
//! it: the Telegram message is edited, the e-mail answers with `In-Reply-To`. Errors never carry
//! a secret (reqwest errors are stripped of their URL, which holds the bot token).

use serde::Serialize;

use super::{AlertConfig, EmailConfig, TelegramConfig, WebhookConfig};

/// One step of one thread, as every channel gets it.
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    pub event_id: i64,
    pub thread_id: i64,
    pub terminal_id: String,
    pub rule: String,
    /// `opened`, `updated`, `closed` (or `test`).
    pub step: String,
    pub urgent: bool,
    pub event_utc: String,
    pub text: String,
    /// The thread's handle on this channel from its first message, if any.
    #[serde(skip)]
    pub thread_ref: Option<String>,
}

/// Why a delivery failed (retried later).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("request failed: {0}")]
    Http(String),
    #[error("answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("unexpected answer: {0}")]
    BadAnswer(String),
    #[error("e-mail: {0}")]
    Email(String),
    #[error("no such channel {0:?}")]
    Unknown(String),
}

fn http_err(e: reqwest::Error) -> ChannelError {
    ChannelError::Http(e.without_url().to_string())
}

async fn check(resp: reqwest::Response) -> Result<reqwest::Response, ChannelError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    Err(ChannelError::Refused {
        status: status.as_u16(),
        body,
    })
}

/// Sends `msg` through the configured channel `name` (`webhook1`…, `telegram`, `email`);
/// returns the thread's handle on it.
pub async fn send(
    client: &reqwest::Client,
    config: &AlertConfig,
    name: &str,
    msg: &Outgoing,
) -> Result<Option<String>, ChannelError> {
    if let Some(i) = name
        .strip_prefix("webhook")
        .and_then(|n| n.parse::<usize>().ok())
    {
        if let Some(w) = i.checked_sub(1).and_then(|i| config.webhooks.get(i)) {
            return webhook(client, w, msg).await;
        }
    }
    match (name, &config.telegram, &config.email) {
        ("telegram", Some(t), _) => telegram(client, t, msg).await,
        ("email", _, Some(e)) => email(e, msg).await,
        _ => Err(ChannelError::Unknown(name.to_string())),
    }
}

async fn webhook(
    client: &reqwest::Client,
    w: &WebhookConfig,
    msg: &Outgoing,
) -> Result<Option<String>, ChannelError> {
    let mut req = client.post(&w.url).json(msg);
    if let Some(b) = &w.bearer {
        req = req.bearer_auth(b.expose());
    }
    check(req.send().await.map_err(http_err)?).await?;
    Ok(Some(msg.thread_id.to_string()))
}

async fn telegram_call(
    client: &reqwest::Client,
    t: &TelegramConfig,
    method: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, ChannelError> {
    let url = format!(
        "{}/bot{}/{method}",
        t.base_url.trim_end_matches('/'),
        t.bot_token.expose()
    );
    let resp = check(
        client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(http_err)?,
    )
    .await?;
    let v: serde_json::Value = resp.json().await.map_err(http_err)?;
    if v.get("ok").and_then(|o| o.as_bool()) != Some(true) {
        return Err(ChannelError::BadAnswer(
            v.get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("ok is not true")
                .to_string(),
        ));
    }
    Ok(v)
}

/// Opening: a new message. Update: that message edited. End: the message edited and a reply
/// sent (an edit notifies nobody, the end of an outage must).
async fn telegram(
    client: &reqwest::Client,
    t: &TelegramConfig,
    msg: &Outgoing,
) -> Result<Option<String>, ChannelError> {
    if let (Some(id), "updated" | "closed") = (&msg.thread_ref, msg.step.as_str()) {
        let message_id: i64 = id
            .parse()
            .map_err(|_| ChannelError::BadAnswer(format!("stored message id {id:?}")))?;
        telegram_call(
            client,
            t,
            "editMessageText",
            serde_json::json!({"chat_id": t.chat_id, "message_id": message_id, "text": msg.text}),
        )
        .await?;
        if msg.step == "closed" {
            telegram_call(
                client,
                t,
                "sendMessage",
                serde_json::json!({"chat_id": t.chat_id, "text": msg.text, "reply_to_message_id": message_id}),
            )
            .await?;
        }
        return Ok(Some(id.clone()));
    }
    let v = telegram_call(
        client,
        t,
        "sendMessage",
        serde_json::json!({"chat_id": t.chat_id, "text": msg.text}),
    )
    .await?;
    let id = v
        .pointer("/result/message_id")
        .and_then(|m| m.as_i64())
        .ok_or_else(|| ChannelError::BadAnswer("no result.message_id".into()))?;
    Ok(Some(id.to_string()))
}

/// Opening: a message with its own Message-ID; later steps answer it (`In-Reply-To`,
/// `References`) so mail programs show one thread.
async fn email(e: &EmailConfig, msg: &Outgoing) -> Result<Option<String>, ChannelError> {
    use lettre::message::header::ContentType;
    use lettre::Message;

    let mail_err = |x: &dyn std::fmt::Display| ChannelError::Email(x.to_string());
    let own_id = format!(
        "<alert-{}-{}@{}>",
        msg.thread_id,
        msg.event_id,
        e.smtp.domain()
    );
    let thread = msg.thread_ref.clone().unwrap_or_else(|| own_id.clone());
    let subject = match msg.step.as_str() {
        "opened" | "test" => format!("Киоск {}: {}", msg.terminal_id, msg.rule),
        _ => format!("Re: Киоск {}: {}", msg.terminal_id, msg.rule),
    };
    let mut b = Message::builder()
        .from(e.smtp.from_mailbox().map_err(|x| mail_err(&x))?)
        .subject(subject)
        .message_id(Some(own_id.clone()));
    for to in &e.to {
        b = b.to(to.parse().map_err(|x| mail_err(&x))?);
    }
    if thread != own_id {
        b = b.in_reply_to(thread.clone()).references(thread.clone());
    }
    let m = b
        .header(ContentType::TEXT_PLAIN)
        .body(msg.text.clone())
        .map_err(|x| mail_err(&x))?;
    crate::smtp::send(&e.smtp, m)
        .await
        .map_err(|x| mail_err(&x))?;
    Ok(Some(thread))
}
