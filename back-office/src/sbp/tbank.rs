//! The T-Bank (Тинькофф) adapter: Acquiring API v2 over HTTPS (`reqwest`, rustls; an optional
//! extra CA; a timeout on every request). `Init` + `GetQr` register a QR, `GetState` reads it,
//! `Cancel` revokes (after a `GetState`, so a revoke never refunds) or refunds (with `Amount`).
//! Every request and notification is signed with `Token` (SHA-256 of the root-level scalar
//! values plus the password, ordered by key). The password is never logged: [`Secret`] prints
//! `***` and request errors are stripped of their URL.

use std::time::Duration;

use backend_sync::sbp::SbpState;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::bank::{BankError, BankNotification, BankState, QrRegistration, RegisteredQr, SbpBank};
use crate::alerts::Secret;

/// T-Bank's limit on `OrderId`.
pub const MAX_ORDER_ID_LEN: usize = 36;

/// What the adapter needs.
#[derive(Debug, Clone)]
pub struct TbankConfig {
    /// The API's base, e.g. `https://securepay.tinkoff.ru/v2/`.
    pub api_url: String,
    pub terminal_key: String,
    pub password: Secret,
    /// Where the bank POSTs notifications (this server's `/bank/tbank/notification`).
    pub notification_url: Option<String>,
    /// An extra CA (PEM) the bank's certificate may chain to.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

pub struct Tbank {
    api: String,
    terminal_key: String,
    password: Secret,
    notification_url: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Tbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tbank")
            .field("api", &self.api)
            .field("terminal_key", &self.terminal_key)
            .field("password", &self.password)
            .finish()
    }
}

/// The token of `fields` under `password` (see the module doc).
pub fn token(fields: &Map<String, Value>, password: &str) -> String {
    let mut pairs: Vec<(&str, String)> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "Token")
        .filter_map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => return None,
            };
            Some((k.as_str(), s))
        })
        .collect();
    pairs.push(("Password", password.to_string()));
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let joined: String = pairs.into_iter().map(|(_, v)| v).collect();
    hex::encode(Sha256::digest(joined.as_bytes()))
}

/// T-Bank's status in [`SbpState`]: `Paid` only for `CONFIRMED`; anything unknown is pending.
pub fn map_status(raw: &str) -> SbpState {
    match raw {
        "CONFIRMED" | "REFUNDING" | "ASYNC_REFUNDING" => SbpState::Paid,
        "REJECTED" | "AUTH_FAIL" => SbpState::Declined,
        "DEADLINE_EXPIRED" => SbpState::Expired,
        "CANCELED" | "REVERSED" | "PARTIAL_REVERSED" => SbpState::Revoked,
        "REFUNDED" | "PARTIAL_REFUNDED" => SbpState::Refunded,
        _ => SbpState::Pending,
    }
}

fn text_of(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn state_of(map: &Map<String, Value>) -> Option<BankState> {
    let raw = text_of(map, "Status")?;
    Some(BankState {
        state: map_status(&raw),
        raw_status: raw,
        amount_kopecks: map.get("Amount").and_then(Value::as_i64),
        detail: refusal_text(map),
    })
}

fn refusal_text(map: &Map<String, Value>) -> String {
    if map.get("Success").and_then(Value::as_bool) == Some(true) {
        return String::new();
    }
    let part = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("").trim();
    [part("Message"), part("Details")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn refused(map: &Map<String, Value>) -> BankError {
    BankError::Refused {
        code: text_of(map, "ErrorCode").unwrap_or_else(|| "?".into()),
        message: refusal_text(map),
    }
}

impl Tbank {
    pub fn new(config: TbankConfig) -> Result<Tbank, String> {
        let mut builder = reqwest::Client::builder().timeout(config.timeout);
        if let Some(pem) = &config.ca_pem {
            let ca = reqwest::Certificate::from_pem(pem)
                .map_err(|e| format!("ca_file is not a PEM certificate: {e}"))?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        let mut api = config.api_url.clone();
        if !api.ends_with('/') {
            api.push('/');
        }
        Ok(Tbank {
            api,
            terminal_key: config.terminal_key,
            password: config.password,
            notification_url: config.notification_url,
            http,
        })
    }

    /// One signed call; the answer's fields, `Success` or not.
    async fn call(
        &self,
        method: &str,
        mut fields: Map<String, Value>,
    ) -> Result<Map<String, Value>, BankError> {
        fields.insert("TerminalKey".into(), self.terminal_key.clone().into());
        let t = token(&fields, self.password.expose());
        fields.insert("Token".into(), t.into());
        let resp = self
            .http
            .post(format!("{}{method}", self.api))
            .json(&fields)
            .send()
            .await
            .map_err(|e| BankError::Unreachable(e.without_url().to_string()))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(BankError::Unreachable(format!("{method}: HTTP {status}")));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| BankError::Unreachable(e.without_url().to_string()))?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(BankError::BadReply(format!(
                "{method}: HTTP {status}, not a JSON object"
            ))),
        }
    }

    async fn call_ok(
        &self,
        method: &str,
        fields: Map<String, Value>,
    ) -> Result<Map<String, Value>, BankError> {
        let map = self.call(method, fields).await?;
        if map.get("Success").and_then(Value::as_bool) != Some(true) {
            return Err(refused(&map));
        }
        Ok(map)
    }

    fn payment(bank_payment_id: &str) -> Map<String, Value> {
        let mut m = Map::new();
        // T-Bank's ids are numbers; send one when it is one.
        let id: Value = match bank_payment_id.parse::<u64>() {
            Ok(n) => n.into(),
            Err(_) => bank_payment_id.into(),
        };
        m.insert("PaymentId".into(), id);
        m
    }
}

#[async_trait::async_trait]
impl SbpBank for Tbank {
    fn name(&self) -> &'static str {
        "tbank"
    }

    async fn register_qr(&self, qr: &QrRegistration) -> Result<RegisteredQr, BankError> {
        if qr.order_id.is_empty() || qr.order_id.len() > MAX_ORDER_ID_LEN {
            return Err(BankError::Refused {
                code: "order_id".into(),
                message: format!("T-Bank takes order ids of 1–{MAX_ORDER_ID_LEN} characters"),
            });
        }
        let lifetime = chrono::Duration::from_std(qr.lifetime)
            .unwrap_or_else(|_| chrono::Duration::seconds(300));
        let expires = chrono::Utc::now() + lifetime;
        let mut init = Map::new();
        init.insert("Amount".into(), qr.amount_kopecks.into());
        init.insert("OrderId".into(), qr.order_id.clone().into());
        init.insert("Description".into(), qr.description.clone().into());
        init.insert(
            "RedirectDueDate".into(),
            expires
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
                .into(),
        );
        if let Some(url) = &self.notification_url {
            init.insert("NotificationURL".into(), url.clone().into());
        }
        let answer = self.call_ok("Init", init).await?;
        let id = text_of(&answer, "PaymentId")
            .ok_or_else(|| BankError::BadReply("Init: no PaymentId".into()))?;
        let mut get_qr = Self::payment(&id);
        get_qr.insert("DataType".into(), "PAYLOAD".into());
        let qr_answer = match self.call_ok("GetQr", get_qr).await {
            Ok(a) => a,
            Err(e) => {
                // Leave no payable orphan behind.
                if let Err(c) = self.call("Cancel", Self::payment(&id)).await {
                    tracing::warn!(bank_payment = %id, error = %c, "could not cancel a payment whose QR failed");
                }
                return Err(e);
            }
        };
        let payload = text_of(&qr_answer, "Data")
            .ok_or_else(|| BankError::BadReply("GetQr: no Data".into()))?;
        Ok(RegisteredQr {
            bank_payment_id: id,
            payload,
            expires_utc: expires,
        })
    }

    async fn state(&self, bank_payment_id: &str) -> Result<BankState, BankError> {
        let answer = self
            .call_ok("GetState", Self::payment(bank_payment_id))
            .await?;
        state_of(&answer).ok_or_else(|| BankError::BadReply("GetState: no Status".into()))
    }

    async fn cancel(&self, bank_payment_id: &str) -> Result<BankState, BankError> {
        // A Cancel of a paid payment is a refund at T-Bank: look first.
        let now = self.state(bank_payment_id).await?;
        if now.state != SbpState::Pending {
            return Ok(now);
        }
        let answer = self.call("Cancel", Self::payment(bank_payment_id)).await?;
        match state_of(&answer) {
            // Refused with a status: the payment went another way first (paid, expired).
            Some(s) => Ok(s),
            None => Err(refused(&answer)),
        }
    }

    async fn refund(
        &self,
        bank_payment_id: &str,
        amount_kopecks: i64,
    ) -> Result<BankState, BankError> {
        let mut fields = Self::payment(bank_payment_id);
        fields.insert("Amount".into(), amount_kopecks.into());
        let answer = self.call_ok("Cancel", fields).await?;
        state_of(&answer).ok_or_else(|| BankError::BadReply("Cancel: no Status".into()))
    }

    fn parse_notification(&self, body: &[u8]) -> Result<BankNotification, BankError> {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Err(BankError::BadNotification("not a JSON object".into()));
        };
        if map.get("TerminalKey").and_then(Value::as_str) != Some(self.terminal_key.as_str()) {
            return Err(BankError::BadNotification("another TerminalKey".into()));
        }
        let given = map.get("Token").and_then(Value::as_str).unwrap_or("");
        let want = token(&map, self.password.expose());
        if !bool::from(given.as_bytes().ct_eq(want.as_bytes())) {
            return Err(BankError::BadNotification("wrong Token".into()));
        }
        let state = state_of(&map).ok_or_else(|| BankError::BadNotification("no Status".into()))?;
        Ok(BankNotification {
            bank_payment_id: text_of(&map, "PaymentId")
                .ok_or_else(|| BankError::BadNotification("no PaymentId".into()))?,
            order_id: text_of(&map, "OrderId").unwrap_or_default(),
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confirmed_is_paid_and_unknown_statuses_stay_pending() {
        assert_eq!(map_status("CONFIRMED"), SbpState::Paid);
        assert_eq!(map_status("FORM_SHOWED"), SbpState::Pending);
        assert_eq!(map_status("SOMETHING_NEW"), SbpState::Pending);
        assert_eq!(map_status("CANCELED"), SbpState::Revoked);
        assert_eq!(map_status("PARTIAL_REFUNDED"), SbpState::Refunded);
    }

    #[test]
    fn token_follows_the_documented_example() {
        let Value::Object(map) = serde_json::json!({"TerminalKey": "MerchantTerminalKey",
            "Amount": 19200, "OrderId": "00000", "Description": "Подарочная карта на 1000 рублей",
            "Receipt": {"Items": []}, "Success": true})
        else {
            unreachable!()
        };
        let joined = "19200Подарочная карта на 1000 рублей00000usaf8fw87hstrueMerchantTerminalKey";
        assert_eq!(
            token(&map, "usaf8fw87hs"),
            hex::encode(Sha256::digest(joined.as_bytes()))
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let t = Tbank::new(TbankConfig {
            api_url: "https://bank.invalid/v2".into(),
            terminal_key: "K".into(),
            password: Secret::new("hunter2"),
            notification_url: None,
            ca_pem: None,
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
