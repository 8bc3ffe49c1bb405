//! The HTTP face of the emulated bank: T-Bank's `/v2/Init`, `/v2/GetQr`, `/v2/GetState` and
//! `/v2/Cancel` (JSON in, JSON out, HTTP 200 with `Success: false` and a non-zero `ErrorCode`
//! for every refusal, as the bank answers), and the notifications it POSTs to the merchant's
//! `NotificationURL`, retried until answered `OK`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::bank::{Books, CancelRefusal, Notice, Script, Status};
use crate::token;
use crate::EmulatorConfig;

/// Attempts per notification copy before the bank gives up on it.
pub const NOTIFY_ATTEMPTS: u32 = 4;
/// The wait before the first retry of an un-`OK`'d notification; doubles with every retry.
pub const NOTIFY_FIRST_RETRY: Duration = Duration::from_millis(200);
/// T-Bank's limit on `OrderId`.
pub const MAX_ORDER_ID_LEN: usize = 36;

pub(crate) struct Inner {
    pub config: EmulatorConfig,
    pub books: Mutex<Books>,
    pub http: reqwest::Client,
    /// The runtime it was started on: notifications go out from there even when a test or the
    /// simulator's console (a plain thread) pays.
    pub runtime: tokio::runtime::Handle,
}

impl Inner {
    pub fn books(&self) -> MutexGuard<'_, Books> {
        // A panic while holding the lock leaves consistent books (every change is one
        // assignment), so a poisoned lock is still usable.
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/v2/Init", post(init))
        .route("/v2/GetQr", post(get_qr))
        .route("/v2/GetState", post(get_state))
        .route("/v2/Cancel", post(cancel))
        .with_state(inner)
}

/// A refusal as the bank words it.
fn refusal(code: &str, message: &str, details: &str) -> Json<Value> {
    Json(json!({
        "Success": false,
        "ErrorCode": code,
        "Message": message,
        "Details": details,
    }))
}

/// The body as a JSON object whose `TerminalKey` and `Token` are right.
fn checked(inner: &Inner, body: &[u8]) -> Result<Map<String, Value>, Json<Value>> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(refusal(
            "9999",
            "Неверные параметры.",
            "the body is not a JSON object",
        ));
    };
    if map.get("TerminalKey").and_then(Value::as_str) != Some(inner.config.terminal_key.as_str()) {
        return Err(refusal("202", "Терминал не найден.", "unknown TerminalKey"));
    }
    if !token::verify(&map, &inner.config.password) {
        tracing::warn!("bank emulator: request with a wrong token refused");
        return Err(refusal(
            "204",
            "Неверный токен. Проверьте пару TerminalKey/SecretKey.",
            "Token does not match",
        ));
    }
    Ok(map)
}

/// `PaymentId`, sent as a string or a number.
fn payment_id(map: &Map<String, Value>) -> Option<String> {
    match map.get("PaymentId")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn not_found() -> Json<Value> {
    refusal("7", "Платёж не найден.", "no payment with this PaymentId")
}

async fn init(State(inner): State<Arc<Inner>>, body: Bytes) -> Json<Value> {
    let map = match checked(&inner, &body) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let amount = map.get("Amount").and_then(Value::as_i64).filter(|a| *a > 0);
    let order = map
        .get("OrderId")
        .and_then(Value::as_str)
        .filter(|o| !o.is_empty() && o.len() <= MAX_ORDER_ID_LEN);
    let (Some(amount), Some(order)) = (amount, order) else {
        return refusal(
            "9999",
            "Неверные параметры.",
            "Amount (kopecks > 0) and OrderId (1–36 characters) are required",
        );
    };
    let due = match map.get("RedirectDueDate").and_then(Value::as_str) {
        None => None,
        Some(d) => match chrono::DateTime::parse_from_rfc3339(d) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(_) => {
                return refusal(
                    "9999",
                    "Неверные параметры.",
                    "RedirectDueDate is not a date-time",
                )
            }
        },
    };
    let description = map.get("Description").and_then(Value::as_str).unwrap_or("");
    let url = map
        .get("NotificationURL")
        .and_then(Value::as_str)
        .map(str::to_string);
    let p = inner.books().init(order, amount, description, due, url);
    tracing::info!(payment = %p.payment_id, order = %p.order_id, amount, script = ?p.script, "bank emulator: Init");
    Json(json!({
        "Success": true,
        "ErrorCode": "0",
        "TerminalKey": inner.config.terminal_key,
        "Status": Status::New.as_str(),
        "PaymentId": p.payment_id,
        "OrderId": p.order_id,
        "Amount": p.amount_kopecks,
        "PaymentURL": format!("https://securepay.invalid/new/{}", p.payment_id),
    }))
}

async fn get_qr(State(inner): State<Arc<Inner>>, body: Bytes) -> Json<Value> {
    let map = match checked(&inner, &body) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let Some(id) = payment_id(&map) else {
        return refusal("9999", "Неверные параметры.", "PaymentId is required");
    };
    match map.get("DataType").and_then(Value::as_str) {
        None | Some("PAYLOAD") => {}
        Some(_) => {
            return refusal(
                "9999",
                "Неверные параметры.",
                "the emulator gives DataType PAYLOAD only",
            )
        }
    }
    let mut books = inner.books();
    let Some(p) = books.get_mut(&id) else {
        return not_found();
    };
    if !p.view.status.is_open() {
        return refusal(
            "3",
            "Неверный статус транзакции.",
            &format!("the payment is {}", p.view.status.as_str()),
        );
    }
    p.view.status = Status::FormShowed;
    let data = qr_payload(&p.view.payment_id, p.view.amount_kopecks);
    Json(json!({
        "Success": true,
        "ErrorCode": "0",
        "TerminalKey": inner.config.terminal_key,
        "OrderId": p.view.order_id,
        "PaymentId": p.view.payment_id.parse::<u64>().unwrap_or(0),
        "Data": data,
        "RequestKey": format!("{:032x}", rand::random::<u128>()),
    }))
}

/// Waits while the payment's script is [`Script::NeverAnswers`] (the client times out).
async fn hang_while_silent(inner: &Inner, id: &str) {
    loop {
        let silent = inner
            .books()
            .get(id)
            .is_some_and(|p| p.view.script == Script::NeverAnswers);
        if !silent {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_state(State(inner): State<Arc<Inner>>, body: Bytes) -> Json<Value> {
    let map = match checked(&inner, &body) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let Some(id) = payment_id(&map) else {
        return refusal("9999", "Неверные параметры.", "PaymentId is required");
    };
    hang_while_silent(&inner, &id).await;
    let notices = inner.books().tick(Instant::now(), chrono::Utc::now());
    deliver_all(&inner, notices);
    let books = inner.books();
    let Some(p) = books.get(&id) else {
        return not_found();
    };
    Json(json!({
        "Success": true,
        "ErrorCode": "0",
        "Message": "OK",
        "TerminalKey": inner.config.terminal_key,
        "Status": p.view.status.as_str(),
        "PaymentId": p.view.payment_id,
        "OrderId": p.view.order_id,
        "Amount": p.view.amount_kopecks,
    }))
}

async fn cancel(State(inner): State<Arc<Inner>>, body: Bytes) -> Json<Value> {
    let map = match checked(&inner, &body) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let Some(id) = payment_id(&map) else {
        return refusal("9999", "Неверные параметры.", "PaymentId is required");
    };
    let amount = match map.get("Amount") {
        None => None,
        Some(v) => match v.as_i64() {
            Some(a) => Some(a),
            None => return refusal("9999", "Неверные параметры.", "Amount is not a number"),
        },
    };
    hang_while_silent(&inner, &id).await;
    let result = inner.books().cancel(&id, amount);
    let (status, notices) = match result {
        Ok(r) => r,
        Err((why, notices)) => {
            deliver_all(&inner, notices);
            return match why {
                CancelRefusal::NotFound => not_found(),
                CancelRefusal::TooMuch => refusal(
                    "9999",
                    "Неверные параметры.",
                    "Amount is more than is left to refund",
                ),
                CancelRefusal::WrongStatus(s) => Json(json!({
                    "Success": false,
                    "ErrorCode": "3",
                    "Message": "Неверный статус транзакции.",
                    "Details": format!("the payment is {}", s.as_str()),
                    "TerminalKey": inner.config.terminal_key,
                    "Status": s.as_str(),
                    "PaymentId": id,
                })),
            };
        }
    };
    deliver_all(&inner, notices);
    let books = inner.books();
    let Some(p) = books.get(&id) else {
        return not_found();
    };
    tracing::info!(payment = %id, status = status.as_str(), "bank emulator: Cancel");
    Json(json!({
        "Success": true,
        "ErrorCode": "0",
        "TerminalKey": inner.config.terminal_key,
        "Status": status.as_str(),
        "PaymentId": p.view.payment_id,
        "OrderId": p.view.order_id,
        "OriginalAmount": p.view.amount_kopecks,
        "NewAmount": p.view.amount_kopecks - p.view.refunded_kopecks,
    }))
}

/// `https://qr.nspk.ru/<32 characters>?type=02&bank=100000000004&sum=…&cur=RUB&crc=…`: the shape
/// of an NSPK dynamic-QR link, the id derived from the payment id, the check a CRC-16/CCITT-FALSE
/// of what precedes it.
pub(crate) fn qr_payload(payment_id: &str, amount_kopecks: i64) -> String {
    use sha2::Digest;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let digest = sha2::Sha256::digest(format!("qr:{payment_id}").as_bytes());
    let id: String = digest
        .iter()
        .take(32)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    let head =
        format!("https://qr.nspk.ru/{id}?type=02&bank=100000000004&sum={amount_kopecks}&cur=RUB");
    let crc = crc16(head.as_bytes());
    format!("{head}&crc={crc:04X}")
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for b in data {
        crc ^= u16::from(*b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Sends each notice's copies in the background.
pub(crate) fn deliver_all(inner: &Arc<Inner>, notices: Vec<Notice>) {
    for n in notices {
        for _ in 0..n.copies {
            let (inner, n) = (inner.clone(), n.clone());
            let runtime = inner.runtime.clone();
            runtime.spawn(async move { deliver(&inner, &n).await });
        }
    }
}

/// One notification copy, retried until the merchant answers `OK`.
async fn deliver(inner: &Inner, n: &Notice) {
    let mut body = Map::new();
    body.insert(
        "TerminalKey".into(),
        inner.config.terminal_key.clone().into(),
    );
    body.insert("OrderId".into(), n.order_id.clone().into());
    body.insert(
        "Success".into(),
        (!matches!(n.status, Status::Rejected)).into(),
    );
    body.insert("Status".into(), n.status.as_str().into());
    body.insert(
        "PaymentId".into(),
        n.payment_id.parse::<u64>().unwrap_or(0).into(),
    );
    body.insert(
        "ErrorCode".into(),
        if n.status == Status::Rejected {
            "1051"
        } else {
            "0"
        }
        .into(),
    );
    body.insert("Amount".into(), n.amount_kopecks.into());
    token::sign(&mut body, &inner.config.password);
    let mut wait = NOTIFY_FIRST_RETRY;
    for attempt in 1..=NOTIFY_ATTEMPTS {
        if let Some(p) = inner.books().get_mut(&n.payment_id) {
            p.view.notifications_sent += 1;
        }
        let answer = inner.http.post(&n.url).json(&body).send().await;
        let ok = match answer {
            Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|t| t.trim() == "OK"),
            _ => false,
        };
        if ok {
            if let Some(p) = inner.books().get_mut(&n.payment_id) {
                p.view.notifications_acked += 1;
            }
            return;
        }
        tracing::debug!(payment = %n.payment_id, attempt, "bank emulator: notification not answered OK");
        if attempt < NOTIFY_ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::warn!(payment = %n.payment_id, status = n.status.as_str(), "bank emulator: notification given up");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_nspk_shape() {
        let p = qr_payload("4000000001", 150_000);
        let rest = p.strip_prefix("https://qr.nspk.ru/").unwrap();
        let (id, query) = rest.split_once('?').unwrap();
        assert_eq!(id.len(), 32);
        assert!(query.starts_with("type=02&bank=100000000004&sum=150000&cur=RUB&crc="));
        assert_eq!(query.rsplit('=').next().unwrap().len(), 4);
    }
}
