//! The signed HTTP client of the terminal (reqwest with rustls).

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use backend_sync::auth::{self, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TERMINAL, HEADER_TIMESTAMP};
use backend_sync::record::JournalRecord;
use backend_sync::sbp::{self, SbpQrRequest, SbpQrStatus};
use backend_sync::wire::{
    paths, AccountInfo, AccountReply, ContentReply, EnrolReply, EnrolRequest, ErrorCode,
    ErrorReply, Heartbeat, HeartbeatReply, IngestBatch, IngestReply, WIRE_VERSION,
};

/// Why a request to the back office failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("invalid back-office URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(transparent)]
    Key(#[from] auth::AuthError),
    #[error("the back office's CA certificate: {0}")]
    BadCa(String),
    #[error("network: {0}")]
    Network(String),
    #[error("back office refused ({status}, {code:?}): {message}")]
    Refused {
        status: u16,
        code: Option<ErrorCode>,
        message: String,
    },
    #[error("unreadable answer from the back office: {0}")]
    Decode(String),
    #[error("local outbox: {0}")]
    Outbox(#[from] rusqlite::Error),
}

impl SyncError {
    /// A refusal the server made on purpose (signature, key, clock, terminal unknown): retrying
    /// will not help until an operator acts, though the syncer keeps retrying slowly. Not a
    /// refusal: 408 and 429 (the server is busy) and 409 (a nonce seen before — the next attempt
    /// is signed afresh).
    pub fn is_refusal(&self) -> bool {
        matches!(self, SyncError::Refused { status, .. }
            if (400..500).contains(status) && !matches!(status, 408 | 409 | 429))
    }
}

/// A signed client for one terminal.
#[derive(Clone)]
pub struct SyncClient {
    http: reqwest::Client,
    base: Url,
    terminal_id: String,
    key: Vec<u8>,
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// A transport failure with its causes (reqwest's own message hides why a TLS handshake or a
/// connection failed: "invalid peer certificate: UnknownIssuer" is in the chain).
fn network(e: reqwest::Error) -> SyncError {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    SyncError::Network(text)
}

/// The back office's base URL: `https://…`, or plain `http://` only for loopback addresses. Its
/// path ends in `/`, so the API paths join below it rather than replacing its last segment.
fn checked_base(base_url: &str) -> Result<Url, SyncError> {
    let mut base = Url::parse(base_url).map_err(|e| SyncError::BadUrl {
        url: base_url.to_string(),
        reason: e.to_string(),
    })?;
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    match base.scheme() {
        "https" => Ok(base),
        "http" if is_loopback(&base) => Ok(base),
        other => Err(SyncError::BadUrl {
            url: base_url.to_string(),
            reason: format!("scheme {other} not allowed: use https (http only on loopback)"),
        }),
    }
}

/// The HTTPS client: the Mozilla roots, and the certificates of `ca_pem` (a PEM bundle: a
/// back office behind a private CA) when given.
fn http_client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, SyncError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30));
    if let Some(pem) = ca_pem {
        let roots = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| SyncError::BadCa(e.to_string()))?;
        if roots.is_empty() {
            return Err(SyncError::BadCa("no certificate in it".into()));
        }
        for root in roots {
            builder = builder.add_root_certificate(root);
        }
    }
    builder.build().map_err(network)
}

/// A non-success answer as a refusal, with the server's code and message when it sent one.
fn refusal(status: StatusCode, body: &[u8]) -> SyncError {
    let (code, message) = match serde_json::from_slice::<ErrorReply>(body) {
        Ok(e) => (Some(e.error), e.message),
        Err(_) => (
            None,
            String::from_utf8_lossy(body).chars().take(200).collect(),
        ),
    };
    SyncError::Refused {
        status: status.as_u16(),
        code,
        message,
    }
}

/// Checks a back-office URL the way every request does (https, or http to loopback).
pub fn check_base_url(base_url: &str) -> Result<(), SyncError> {
    checked_base(base_url).map(|_| ())
}

/// Redeems a one-time enrolment code (`back-office terminal enrol`) for this kiosk's terminal
/// id, key and time zone. Unsigned: the code is the credential, and it works once. `ca_pem`
/// as for [`SyncClient::with_ca`].
pub async fn enrol(
    base_url: &str,
    code: &str,
    ca_pem: Option<&[u8]>,
) -> Result<EnrolReply, SyncError> {
    let url = checked_base(base_url)?
        .join(paths::ENROL.trim_start_matches('/'))
        .map_err(|e| SyncError::BadUrl {
            url: base_url.to_string(),
            reason: e.to_string(),
        })?;
    let body = serde_json::to_vec(&EnrolRequest {
        code: code.to_string(),
    })
    .map_err(|e| SyncError::Decode(e.to_string()))?;
    let resp = http_client(ca_pem)?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(network)?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(network)?;
    if !status.is_success() {
        return Err(refusal(status, &bytes));
    }
    serde_json::from_slice(&bytes).map_err(|e| SyncError::Decode(e.to_string()))
}

impl SyncClient {
    /// `base_url` must be `https://…`; plain `http://` is accepted only for loopback addresses
    /// (the embedded simulator and tests), so a misconfigured kiosk never sends journals in clear.
    pub fn new(base_url: &str, terminal_id: &str, key_hex: &str) -> Result<Self, SyncError> {
        Self::with_ca(base_url, terminal_id, key_hex, None)
    }

    /// Like [`SyncClient::new`], trusting also the CA certificates of `ca_pem` (PEM) for a
    /// back office whose certificate no public CA signed.
    pub fn with_ca(
        base_url: &str,
        terminal_id: &str,
        key_hex: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, SyncError> {
        let base = checked_base(base_url)?;
        Ok(SyncClient {
            http: http_client(ca_pem)?,
            base,
            terminal_id: terminal_id.to_string(),
            key: auth::decode_key(key_hex)?,
        })
    }

    pub fn terminal_id(&self) -> &str {
        &self.terminal_id
    }

    /// Sends one signed request; `Ok(None)` for 404.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<Option<T>, SyncError> {
        let url = self
            .base
            .join(path_and_query.trim_start_matches('/'))
            .map_err(|e| SyncError::BadUrl {
                url: path_and_query.to_string(),
                reason: e.to_string(),
            })?;
        // Sign exactly the path and query the server will see.
        let signed_path = match url.query() {
            Some(q) => format!("{}?{}", url.path(), q),
            None => url.path().to_string(),
        };
        let now = chrono::Utc::now().timestamp();
        let h = auth::sign(
            &self.key,
            &self.terminal_id,
            now,
            method.as_str(),
            &signed_path,
            &body,
        );
        let mut req = self
            .http
            .request(method, url)
            .header(HEADER_TERMINAL, &h.terminal_id)
            .header(HEADER_TIMESTAMP, h.timestamp.to_string())
            .header(HEADER_NONCE, &h.nonce)
            .header(HEADER_SIGNATURE, &h.signature);
        if !body.is_empty() {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let resp = req.send().await.map_err(network)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(network)?;
        if status == StatusCode::NOT_FOUND {
            if let Ok(err) = serde_json::from_slice::<ErrorReply>(&bytes) {
                if err.error == ErrorCode::NotFound {
                    return Ok(None);
                }
            }
        }
        if !status.is_success() {
            return Err(refusal(status, &bytes));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SyncError::Decode(e.to_string()))
    }

    fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, SyncError> {
        serde_json::to_vec(value).map_err(|e| SyncError::Decode(e.to_string()))
    }

    /// Ships consecutive records; the reply says what the server now holds.
    pub async fn send_batch(&self, records: &[JournalRecord]) -> Result<IngestReply, SyncError> {
        let body = Self::json(&IngestBatch {
            version: WIRE_VERSION,
            terminal_id: self.terminal_id.clone(),
            records: records.to_vec(),
        })?;
        self.call(Method::POST, paths::INGEST, body)
            .await?
            .ok_or_else(|| SyncError::Decode("ingest answered 404".into()))
    }

    /// Sends a heartbeat (version and terminal id are filled in here).
    pub async fn heartbeat(&self, beat: &Heartbeat) -> Result<HeartbeatReply, SyncError> {
        let mut beat = beat.clone();
        beat.version = WIRE_VERSION;
        beat.terminal_id = self.terminal_id.clone();
        let body = Self::json(&beat)?;
        self.call(Method::POST, paths::HEARTBEAT, body)
            .await?
            .ok_or_else(|| SyncError::Decode("heartbeat answered 404".into()))
    }

    /// Looks an account up; `Ok(None)` when the back office does not know it.
    pub async fn lookup_account(&self, account: &str) -> Result<Option<AccountInfo>, SyncError> {
        if account.is_empty()
            || account.len() > 32
            || !account
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Ok(None);
        }
        let path = format!("{}{}", paths::ACCOUNTS, account);
        Ok(self
            .call::<AccountReply>(Method::GET, &path, Vec::new())
            .await?
            .map(|r| r.account))
    }

    /// Asks for the СБП QR of a payment; asking again for the same payment returns the same QR.
    pub async fn sbp_create(
        &self,
        payment_id: &str,
        amount_kopecks: i64,
        account: &str,
    ) -> Result<SbpQrStatus, SyncError> {
        let body = Self::json(&SbpQrRequest {
            version: WIRE_VERSION,
            payment_id: payment_id.to_string(),
            amount_kopecks,
            account: account.to_string(),
        })?;
        self.call(Method::POST, sbp::paths::QR, body)
            .await?
            .ok_or_else(|| SyncError::Decode("СБП QR answered 404".into()))
    }

    /// Where a payment's QR stands; `Ok(None)` when the back office holds no QR for it.
    pub async fn sbp_status(&self, payment_id: &str) -> Result<Option<SbpQrStatus>, SyncError> {
        if !sbp::is_payment_id(payment_id) {
            return Ok(None);
        }
        self.call(Method::GET, &sbp::paths::status(payment_id), Vec::new())
            .await
    }

    /// Revokes a payment's QR unless it is paid; `Ok(None)` when the back office holds none.
    pub async fn sbp_revoke(&self, payment_id: &str) -> Result<Option<SbpQrStatus>, SyncError> {
        if !sbp::is_payment_id(payment_id) {
            return Ok(None);
        }
        self.call(Method::POST, &sbp::paths::revoke(payment_id), Vec::new())
            .await
    }

    /// Fetches content newer than `have_version` (`content: None` when current).
    pub async fn content(&self, have_version: u64) -> Result<ContentReply, SyncError> {
        let path = format!("{}?since={}", paths::CONTENT, have_version);
        self.call(Method::GET, &path, Vec::new())
            .await?
            .ok_or_else(|| SyncError::Decode("content answered 404".into()))
    }
}
