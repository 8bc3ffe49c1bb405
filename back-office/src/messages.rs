//! E-receipts and payment confirmations: queued in the database when the journal's
//! `EReceiptRequested` arrives, delivered by a pluggable [`MessageSender`]. The standard asks for a
//! payment confirmation within 5 minutes; [`late`] lists messages that missed it.
//! SMS bodies are at most [`SMS_MAX_CHARS`] characters.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::{Sql, Store, StoreError};
use crate::params;

pub const SMS_MAX_CHARS: usize = 160;
/// The standard's limit for confirming a payment.
pub const CONFIRMATION_LIMIT_SECS: i64 = 5 * 60;

/// A message ready to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMessage {
    pub id: i64,
    pub terminal_id: String,
    pub receipt_id: String,
    /// `sms` or `email`.
    pub channel: String,
    pub address: String,
    pub body: String,
    pub queued_utc: String,
}

/// Delivers messages (an SMS gateway, SMTP, or a file in development).
pub trait MessageSender: Send + Sync {
    fn send(&self, message: &OutgoingMessage) -> Result<(), String>;
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
}

impl MessageSender for FileSender {
    fn send(&self, message: &OutgoingMessage) -> Result<(), String> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| "sender lock poisoned".to_string())?;
        let line = serde_json::to_string(message).map_err(|e| e.to_string())?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        writeln!(f, "{line}").map_err(|e| e.to_string())
    }
}

fn rubles(kopecks: i64) -> String {
    format!("{}.{:02}", kopecks / 100, (kopecks % 100).abs())
}

/// Builds the message text from the receipt's fiscal attributes.
pub fn compose(
    channel: &str,
    account: Option<&str>,
    total_kopecks: Option<i64>,
    fiscal: Option<(&str, i64, &str, &str)>,
    time_utc: &str,
) -> String {
    let when = chrono::DateTime::parse_from_rfc3339(time_utc)
        .map(|t| {
            t.with_timezone(
                &chrono::FixedOffset::east_opt(crate::project::BUSINESS_UTC_OFFSET_SECS)
                    .unwrap_or(t.timezone()),
            )
            .format("%d.%m.%Y %H:%M")
            .to_string()
        })
        .unwrap_or_default();
    let mut text = String::from("Платёж");
    if let Some(k) = total_kopecks {
        text.push_str(&format!(" {} руб.", rubles(k)));
    }
    if let Some(a) = account {
        text.push_str(&format!(" по л/с {a}"));
    }
    text.push_str(&format!(" принят {when}."));
    if let Some((fn_number, fd, fp, qr)) = fiscal {
        text.push_str(&format!(" Чек: ФН {fn_number} ФД {fd} ФП {fp}"));
        if channel == "email" {
            text.push_str(&format!(
                "\nПроверить чек: приложение «Проверка чеков ФНС России», строка QR-кода:\n{qr}\nКомиссия не взималась. Спасибо!"
            ));
        }
    }
    if channel == "sms" {
        text = text.chars().take(SMS_MAX_CHARS).collect();
    }
    text
}

/// Queues the e-receipt for a receipt (idempotent per receipt and address).
pub fn queue_receipt(
    sql: &mut dyn Sql,
    terminal: &str,
    receipt_id: &str,
    channel: &str,
    address: &str,
    now: &str,
) -> Result<(), StoreError> {
    let receipt = sql.query_one(
        "SELECT r.total_kopecks, r.fn_number, r.fd_number, r.fiscal_sign, r.qr, r.time_utc, p.account
         FROM receipts r LEFT JOIN payments p ON p.terminal_id = r.terminal_id AND p.payment_id = r.payment_id
         WHERE r.terminal_id = $1 AND r.receipt_id = $2",
        params![terminal, receipt_id],
    )?;
    let body = match &receipt {
        Some(r) => {
            let (fn_number, fp, qr) = (r.text(1), r.text(3), r.text(4));
            let account = r.opt_text(6);
            compose(
                channel,
                account.as_deref(),
                Some(r.int(0)),
                Some((&fn_number, r.int(2), &fp, &qr)),
                &r.text(5),
            )
        }
        None => compose(channel, None, None, None, now),
    };
    sql.exec(
        "INSERT INTO messages (terminal_id, receipt_id, channel, address, body, queued_utc)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        params![terminal, receipt_id, channel, address, body, now],
    )?;
    Ok(())
}

fn row_to_message(r: &crate::db::Row) -> OutgoingMessage {
    OutgoingMessage {
        id: r.int(0),
        terminal_id: r.text(1),
        receipt_id: r.text(2),
        channel: r.text(3),
        address: r.text(4),
        body: r.text(5),
        queued_utc: r.text(6),
    }
}

/// Messages not yet sent, oldest first.
pub fn unsent(sql: &mut dyn Sql, limit: i64) -> Result<Vec<OutgoingMessage>, StoreError> {
    Ok(sql
        .query(
            "SELECT id, terminal_id, receipt_id, channel, address, body, queued_utc FROM messages
             WHERE sent_utc IS NULL ORDER BY id LIMIT $1",
            params![limit],
        )?
        .iter()
        .map(row_to_message)
        .collect())
}

/// Sent messages whose delivery took longer than the standard's 5 minutes, plus unsent ones
/// already older than that at `now`. Returns (message id, seconds from queue to send or to now).
pub fn late(sql: &mut dyn Sql, now: &str) -> Result<Vec<(i64, i64)>, StoreError> {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let now_t = parse(now);
    let mut out = Vec::new();
    for r in sql.query("SELECT id, queued_utc, sent_utc FROM messages", &[])? {
        let queued = parse(&r.text(1));
        let end = r.opt_text(2).and_then(|s| parse(&s)).or(now_t);
        if let (Some(q), Some(e)) = (queued, end) {
            let secs = (e - q).num_seconds();
            if secs > CONFIRMATION_LIMIT_SECS {
                out.push((r.int(0), secs));
            }
        }
    }
    Ok(out)
}

/// Sends every queued message once; returns how many went out.
pub async fn dispatch_once(
    store: &Store,
    sender: Arc<dyn MessageSender>,
) -> Result<usize, StoreError> {
    let batch = store.read(|sql| unsent(sql, 200)).await?;
    let mut sent = 0;
    for m in batch {
        let result = {
            let sender = sender.clone();
            let m = m.clone();
            tokio::task::spawn_blocking(move || sender.send(&m))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        };
        let now = crate::now_utc();
        let id = m.id;
        match result {
            Ok(()) => {
                sent += 1;
                store
                    .run("messages", move |sql| {
                        sql.exec(
                            "UPDATE messages SET sent_utc = $2, attempts = attempts + 1, last_error = NULL WHERE id = $1",
                            params![id, now],
                        )
                    })
                    .await?;
            }
            Err(e) => {
                tracing::warn!(message_id = id, channel = %m.channel, error = %e, "message delivery failed");
                store
                    .run("messages", move |sql| {
                        sql.exec(
                            "UPDATE messages SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                            params![id, e],
                        )
                    })
                    .await?;
            }
        }
    }
    Ok(sent)
}

/// Runs [`dispatch_once`] every `every` until the task is aborted.
pub fn spawn_dispatcher(
    store: Store,
    sender: Arc<dyn MessageSender>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = dispatch_once(&store, sender.clone()).await {
                tracing::warn!(error = %e, "message dispatch failed");
            }
            tokio::time::sleep(every).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_fits_160_characters_and_names_the_fiscal_document() {
        let s = compose(
            "sms",
            Some("100000001"),
            Some(394_326),
            Some(("9282000100072197", 64318, "2918241905", "t=1&s=2")),
            "2026-11-27T11:16:55.000Z",
        );
        assert!(s.chars().count() <= SMS_MAX_CHARS, "{s}");
        assert!(s.contains("3943.26 руб."), "{s}");
        assert!(s.contains("ФД 64318"), "{s}");
        assert!(s.contains("27.11.2026 14:16"), "{s}");
        let long = compose(
            "sms",
            Some(&"9".repeat(100)),
            Some(1),
            Some(("1", 1, "1", "q")),
            "2026-11-27T11:16:55.000Z",
        );
        assert_eq!(long.chars().count(), SMS_MAX_CHARS);
        let e = compose("email", None, Some(5), Some(("1", 2, "3", "t=QR")), "x");
        assert!(e.contains("t=QR"));
    }
}
