//! E-receipts and payment confirmations: queued in the database when the journal's
//! `EReceiptRequested` arrives, delivered by a [`MessageSender`] per channel — e-mail over SMTP
//! and SMS through an HTTP gateway ([`senders`], chosen by a [`config::MessagesConfig`] file; the
//! development [`FileSender`] appends JSON lines) — by [`dispatch::Dispatcher`], which claims a
//! message before sending it (two workers never send one message, a worker that died mid-send
//! leaves it to another when its lease ends), retries with back-off and keeps each message's
//! status. The standard asks for a payment confirmation within 5 minutes: every delivery's
//! queue-to-delivery latency is kept, [`late`] lists the messages that missed it, [`stats`] and
//! [`metrics`] show the figures. SMS bodies are at most [`SMS_MAX_CHARS`] characters. Phone
//! numbers and e-mail addresses appear in logs and on pages only masked ([`mask_address`]).

pub mod config;
pub mod dispatch;
pub mod senders;

use std::sync::Arc;
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

pub use senders::{FileSender, MessageSender, SendError};

/// A message's delivery status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its first try or its next retry.
    Queued,
    /// Claimed by a worker that is sending it now.
    Sending,
    /// The SMTP server or the SMS gateway accepted it.
    Delivered,
    /// Given up: the attempts ran out or the receiver refused it for good.
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Queued,
        Status::Sending,
        Status::Delivered,
        Status::Failed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Sending => "sending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// The status on the pages.
    pub fn ru(self) -> &'static str {
        match self {
            Status::Queued => "в очереди",
            Status::Sending => "отправляется",
            Status::Delivered => "доставлено",
            Status::Failed => "не доставлено",
        }
    }
}

/// The channels a message can go by.
pub const CHANNELS: [&str; 2] = ["sms", "email"];

/// A phone number or e-mail address as logs and pages show it: enough to tell two apart, not
/// enough to reach the person (152-FZ). `+79991234567` → `+799******67`,
/// `ivanov@mail.ru` → `iv***@mail.ru`.
pub fn mask_address(address: &str) -> String {
    if let Some((user, domain)) = address.split_once('@') {
        let keep: String = user.chars().take(2.min(user.chars().count() / 2)).collect();
        return format!("{keep}***@{domain}");
    }
    let chars: Vec<char> = address.chars().collect();
    if chars.len() < 8 {
        return "***".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 6))
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

/// The columns [`row_to_message`] reads, in its order.
const MESSAGE_COLUMNS: &str = "id, terminal_id, receipt_id, channel, address, body, queued_utc";

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

/// Messages not yet delivered (queued, being sent or failed), oldest first.
pub fn unsent(sql: &mut dyn Sql, limit: i64) -> Result<Vec<OutgoingMessage>, StoreError> {
    Ok(sql
        .query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE status <> 'delivered' ORDER BY id LIMIT $1"
            ),
            params![limit],
        )?
        .iter()
        .map(row_to_message)
        .collect())
}

/// One message with its delivery status, as the pages and the API show it (the address masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub terminal_id: String,
    pub receipt_id: String,
    pub channel: String,
    /// Masked ([`mask_address`]).
    pub address: String,
    pub status: Status,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub queued_utc: String,
    pub delivered_utc: Option<String>,
    /// From queueing to delivery (delivered), or to now (not yet delivered).
    pub latency_seconds: Option<i64>,
    /// Over the standard's 5 minutes.
    pub late: bool,
    /// When the next try is due (queued after a failure).
    pub next_try_utc: Option<String>,
}

fn parse_utc(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn to_row(r: &crate::db::Row, now: chrono::DateTime<chrono::Utc>) -> MessageRow {
    let status = Status::parse(&r.text(5)).unwrap_or(Status::Queued);
    let queued = r.text(8);
    let latency_seconds = match (status, r.opt_int(10)) {
        (Status::Delivered, Some(ms)) => Some(ms / 1000),
        (Status::Delivered, None) => None,
        _ => parse_utc(&queued).map(|q| (now - q).num_seconds()),
    };
    let next = r.text(11);
    MessageRow {
        id: r.int(0),
        terminal_id: r.text(1),
        receipt_id: r.text(2),
        channel: r.text(3),
        address: mask_address(&r.text(4)),
        status,
        attempts: r.int(6),
        last_error: r.opt_text(7),
        queued_utc: queued,
        delivered_utc: r.opt_text(9),
        latency_seconds,
        late: latency_seconds.is_some_and(|s| s > CONFIRMATION_LIMIT_SECS),
        next_try_utc: (status == Status::Queued && !next.is_empty()).then_some(next),
    }
}

const ROW_COLUMNS: &str = "id, terminal_id, receipt_id, channel, address, status, attempts, last_error, queued_utc, sent_utc, latency_ms, next_try_utc";

/// The latest messages (of one terminal, or all), newest first.
pub fn list(
    sql: &mut dyn Sql,
    terminal: Option<&str>,
    limit: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<MessageRow>, StoreError> {
    Ok(sql
        .query(
            &format!(
                "SELECT {ROW_COLUMNS} FROM messages WHERE ($1 = '' OR terminal_id = $1) ORDER BY id DESC LIMIT $2"
            ),
            params![terminal.unwrap_or(""), limit],
        )?
        .iter()
        .map(|r| to_row(r, now))
        .collect())
}

/// Messages that missed the standard's 5 minutes (of one terminal, or all), newest first:
/// delivered later than that, or not delivered and queued longer ago than that.
pub fn late_rows(
    sql: &mut dyn Sql,
    terminal: Option<&str>,
    limit: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<MessageRow>, StoreError> {
    let cutoff = (now - chrono::Duration::seconds(CONFIRMATION_LIMIT_SECS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(sql
        .query(
            &format!(
                "SELECT {ROW_COLUMNS} FROM messages WHERE ($1 = '' OR terminal_id = $1)
                 AND ((status = 'delivered' AND latency_ms > $2) OR (status <> 'delivered' AND queued_utc < $3))
                 ORDER BY id DESC LIMIT $4"
            ),
            params![
                terminal.unwrap_or(""),
                CONFIRMATION_LIMIT_SECS * 1000,
                cutoff,
                limit
            ],
        )?
        .iter()
        .map(|r| to_row(r, now))
        .collect())
}

/// Messages that missed the standard's 5 minutes at `now`: (message id, seconds from queueing to
/// delivery, or to `now` for one not delivered).
pub fn late(sql: &mut dyn Sql, now: &str) -> Result<Vec<(i64, i64)>, StoreError> {
    let now = parse_utc(now).unwrap_or_else(chrono::Utc::now);
    Ok(late_rows(sql, None, i64::MAX, now)?
        .into_iter()
        .map(|r| (r.id, r.latency_seconds.unwrap_or(0)))
        .collect())
}

/// The 5-minute confirmation figures (of one terminal, or all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub queued: i64,
    pub sending: i64,
    pub delivered: i64,
    pub failed: i64,
    /// Delivered within the standard's 5 minutes.
    pub delivered_in_time: i64,
    /// Missed the 5 minutes: delivered late, or not delivered and older than that.
    pub late: i64,
    /// Queue-to-delivery latency of delivered messages, seconds.
    pub median_seconds: Option<i64>,
    pub p95_seconds: Option<i64>,
    pub max_seconds: Option<i64>,
}

/// How many messages per status, how many met the 5 minutes, and the latency percentiles.
pub fn stats(
    sql: &mut dyn Sql,
    terminal: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Stats, StoreError> {
    let t = terminal.unwrap_or("");
    let mut s = Stats::default();
    for r in sql.query(
        "SELECT status, CAST(COUNT(*) AS BIGINT) FROM messages WHERE ($1 = '' OR terminal_id = $1) GROUP BY status",
        params![t],
    )? {
        match Status::parse(&r.text(0)) {
            Some(Status::Queued) => s.queued = r.int(1),
            Some(Status::Sending) => s.sending = r.int(1),
            Some(Status::Delivered) => s.delivered = r.int(1),
            Some(Status::Failed) => s.failed = r.int(1),
            None => {}
        }
    }
    let limit_ms = CONFIRMATION_LIMIT_SECS * 1000;
    s.delivered_in_time = sql
        .query_one(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM messages WHERE ($1 = '' OR terminal_id = $1) AND status = 'delivered' AND latency_ms <= $2",
            params![t, limit_ms],
        )?
        .map_or(0, |r| r.int(0));
    let cutoff = (now - chrono::Duration::seconds(CONFIRMATION_LIMIT_SECS))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    s.late = sql
        .query_one(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM messages WHERE ($1 = '' OR terminal_id = $1)
             AND ((status = 'delivered' AND latency_ms > $2) OR (status <> 'delivered' AND queued_utc < $3))",
            params![t, limit_ms, cutoff],
        )?
        .map_or(0, |r| r.int(0));
    // Percentiles of the latest 10 000 deliveries.
    let mut lat: Vec<i64> = sql
        .query(
            "SELECT latency_ms FROM messages WHERE ($1 = '' OR terminal_id = $1) AND status = 'delivered' AND latency_ms IS NOT NULL ORDER BY id DESC LIMIT 10000",
            params![t],
        )?
        .iter()
        .map(|r| r.int(0))
        .collect();
    lat.sort_unstable();
    let pick = |q: f64| -> Option<i64> {
        if lat.is_empty() {
            return None;
        }
        let i = ((lat.len() - 1) as f64 * q).round() as usize;
        lat.get(i).map(|ms| ms / 1000)
    };
    s.median_seconds = pick(0.5);
    s.p95_seconds = pick(0.95);
    s.max_seconds = lat.last().map(|ms| ms / 1000);
    Ok(s)
}

/// Upper bounds (seconds) of the latency histogram in [`metrics`].
const BUCKETS: [i64; 10] = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/// The messages' figures in the Prometheus text format: messages per channel and status, the
/// queue-to-delivery latency histogram per channel, the messages that missed the 5 minutes.
pub fn metrics(
    sql: &mut dyn Sql,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, StoreError> {
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str("# HELP back_office_messages E-receipts and confirmations by channel and delivery status.\n# TYPE back_office_messages gauge\n");
    let mut counts = std::collections::BTreeMap::new();
    for r in sql.query(
        "SELECT channel, status, CAST(COUNT(*) AS BIGINT) FROM messages GROUP BY channel, status",
        &[],
    )? {
        counts.insert((r.text(0), r.text(1)), r.int(2));
    }
    for ch in CHANNELS {
        for st in Status::ALL {
            let n = counts
                .get(&(ch.to_string(), st.as_str().to_string()))
                .copied()
                .unwrap_or(0);
            let _ = writeln!(
                out,
                "back_office_messages{{channel=\"{ch}\",status=\"{}\"}} {n}",
                st.as_str()
            );
        }
    }
    out.push_str("# HELP back_office_message_delivery_seconds From queueing to delivery, delivered messages.\n# TYPE back_office_message_delivery_seconds histogram\n");
    let cases: String = BUCKETS
        .iter()
        .map(|b| {
            format!(
                ", CAST(SUM(CASE WHEN latency_ms <= {} THEN 1 ELSE 0 END) AS BIGINT)",
                b * 1000
            )
        })
        .collect();
    let mut hist = std::collections::BTreeMap::new();
    for r in sql.query(
        &format!(
            "SELECT channel, CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(latency_ms), 0) AS BIGINT){cases}
             FROM messages WHERE status = 'delivered' AND latency_ms IS NOT NULL GROUP BY channel"
        ),
        &[],
    )? {
        hist.insert(r.text(0), r);
    }
    for ch in CHANNELS {
        let r = hist.get(ch);
        let count = r.map_or(0, |r| r.int(1));
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "back_office_message_delivery_seconds_bucket{{channel=\"{ch}\",le=\"{b}\"}} {}",
                r.map_or(0, |r| r.int(3 + i))
            );
        }
        let _ = writeln!(
            out,
            "back_office_message_delivery_seconds_bucket{{channel=\"{ch}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "back_office_message_delivery_seconds_sum{{channel=\"{ch}\"}} {:.3}",
            r.map_or(0, |r| r.int(2)) as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "back_office_message_delivery_seconds_count{{channel=\"{ch}\"}} {count}"
        );
    }
    let s = stats(sql, None, now)?;
    let _ = writeln!(
        out,
        "# HELP back_office_messages_late Messages that missed the 5-minute confirmation (delivered late, or undelivered and older).\n# TYPE back_office_messages_late gauge\nback_office_messages_late {}",
        s.late
    );
    let _ = writeln!(
        out,
        "# HELP back_office_message_confirmation_limit_seconds The standard's limit for confirming a payment.\n# TYPE back_office_message_confirmation_limit_seconds gauge\nback_office_message_confirmation_limit_seconds {CONFIRMATION_LIMIT_SECS}"
    );
    Ok(out)
}

/// Sends every due message once through `sender` (whatever its channel); returns how many were
/// delivered. For development and tests; the server runs a [`dispatch::Dispatcher`].
pub async fn dispatch_once(
    store: &Store,
    sender: Arc<dyn MessageSender>,
) -> Result<usize, StoreError> {
    let d = dispatch::Dispatcher::new(
        store.clone(),
        dispatch::Routes::all(sender),
        dispatch::RetryPolicy::default(),
    );
    Ok(d.tick().await?.delivered)
}

/// Runs a dispatcher that sends every channel through `sender`, a tick every `every`, until the
/// task is aborted (the embedded server's file sender).
pub fn spawn_dispatcher(
    store: Store,
    sender: Arc<dyn MessageSender>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let policy = dispatch::RetryPolicy {
        tick: every,
        ..dispatch::RetryPolicy::default()
    };
    let d = dispatch::Dispatcher::new(store, dispatch::Routes::all(sender), policy);
    tokio::spawn(d.run(std::future::pending()))
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
