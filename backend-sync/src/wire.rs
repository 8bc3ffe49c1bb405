//! Versioned wire types spoken between terminals and the back office (JSON over HTTPS).
//!
//! Every top-level message carries `version` ([`WIRE_VERSION`]). The server accepts versions it
//! knows and refuses others with [`ErrorCode::UnsupportedVersion`], so an old terminal gets a clear
//! answer instead of a misread batch. Fields added later must be `#[serde(default)]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::JournalRecord;

/// The wire version this crate speaks.
pub const WIRE_VERSION: u32 = 1;

/// Most records one ingest request may carry; the server refuses larger batches.
pub const MAX_BATCH_RECORDS: usize = 1000;

/// Paths of the terminal-facing API (all signed, see [`crate::auth`]).
pub mod paths {
    pub const INGEST: &str = "/api/v1/ingest";
    pub const HEARTBEAT: &str = "/api/v1/heartbeat";
    /// Followed by the account number.
    pub const ACCOUNTS: &str = "/api/v1/accounts/";
    pub const CONTENT: &str = "/api/v1/content";
    /// Unsigned: the one-time enrolment code is the credential.
    pub const ENROL: &str = "/api/v1/enrol";
}

/// A kiosk's terminal id: 1–16 characters `A–Z`, `0–9` (it goes into reading registration
/// numbers and onto receipts). The back office registers wider ids, but enrols only these.
pub fn is_kiosk_terminal_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A new kiosk asks for its identity with the one-time code `back-office terminal enrol` printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub code: String,
}

/// What an enrolled kiosk needs to sync: its id, its new key and its time zone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolReply {
    pub terminal_id: String,
    /// The terminal's HMAC key, 64 hex digits, issued at this redemption (any earlier key of
    /// the terminal stops working).
    pub key_hex: String,
    /// IANA name, for `[terminal] timezone`.
    pub time_zone: String,
}

impl std::fmt::Debug for EnrolReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolReply")
            .field("terminal_id", &self.terminal_id)
            .field("key_hex", &"(redacted)")
            .field("time_zone", &self.time_zone)
            .finish()
    }
}

/// A batch of consecutive journal records of one terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestBatch {
    pub version: u32,
    pub terminal_id: String,
    /// Consecutive records in ascending `seq` order.
    pub records: Vec<JournalRecord>,
}

/// An inclusive range of sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub from: u64,
    pub to: u64,
}

/// The server's answer to an ingest batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReply {
    pub version: u32,
    /// Highest sequence number up to which the server holds every record: the terminal may drop
    /// everything at or below it from its outbox.
    pub held_up_to: u64,
    /// Records newly stored by this request.
    pub accepted: u32,
    /// Records of this request the server already held (identical hashes).
    pub duplicates: u32,
    /// Ranges the server is missing before the batch could be stored; resend from `held_up_to + 1`.
    pub gaps: Vec<SeqRange>,
}

/// Machine-readable refusal codes. The HTTP status says the class, this says the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing or malformed authentication headers.
    MissingAuth,
    /// Terminal not registered or disabled.
    UnknownTerminal,
    /// HMAC does not match.
    BadSignature,
    /// Timestamp outside the replay window.
    StaleRequest,
    /// The nonce was seen before: a replayed request.
    Replay,
    /// The batch does not continue the stored hash chain, or contradicts stored records.
    ChainBroken,
    /// The body is not valid for this endpoint.
    BadRequest,
    UnsupportedVersion,
    NotFound,
    /// The enrolment code is unknown, expired or already used.
    EnrolmentRefused,
    /// Too many failed attempts from this address; try again later.
    TooManyAttempts,
    /// The request contradicts what the server holds (an СБП payment id registered with
    /// another amount or by another terminal).
    Conflict,
    /// The bank behind СБП is not configured, did not answer or refused.
    BankUnavailable,
    Internal,
}

/// Body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: ErrorCode,
    pub message: String,
}

/// Periodic liveness and health report of a terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Heartbeat {
    pub version: u32,
    pub terminal_id: String,
    /// Terminal clock, RFC 3339 UTC.
    pub time_utc: String,
    pub software_version: String,
    /// `in_service`, `degraded`, `out_of_service`, `maintenance`.
    pub service_state: String,
    /// Device name → state (`ok`, `jammed`, `paper_low`, …).
    pub devices: BTreeMap<String, String>,
    /// `ok`, `near_end`, `out`, `unknown`.
    pub paper: String,
    /// Records waiting in the outbox.
    pub queue_len: u64,
    /// Age in seconds of the oldest unsent record (0 when the queue is empty).
    pub sync_lag_seconds: u64,
    /// The current outage in working minutes, if the kiosk is out of service.
    pub outage_working_minutes: Option<u32>,
}

/// What the back office answers to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatReply {
    pub version: u32,
    /// Server clock, RFC 3339 UTC: lets the terminal notice clock drift.
    pub server_time_utc: String,
    /// Current content version, so the terminal knows when to refetch content.
    pub content_version: u64,
    /// The back office takes СБП QR payments now: a bank is configured and answered its last
    /// request. The kiosk offers «По QR-коду СБП» only while this is true.
    #[serde(default)]
    pub sbp_available: bool,
}

/// One service of an account with its debt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDebt {
    pub id: String,
    pub name: String,
    /// Debt in kopecks; negative means an advance (overpayment).
    pub debt_kopecks: i64,
}

/// A tariff zone of a meter with its previous accepted reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneReading {
    /// `T1`, `T2`, `T3`.
    pub zone: String,
    /// Russian zone name (день, ночь, пик, полупик).
    pub name: String,
    pub previous: u64,
    /// Date of the previous reading, `YYYY-MM-DD`, when known.
    pub previous_date: Option<String>,
}

/// A meter of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterInfo {
    pub id: String,
    pub name: String,
    /// Digits before the decimal point: the value rolls over at `10^digits`.
    pub digits: u8,
    pub zones: Vec<ZoneReading>,
}

/// An account as the terminal needs it. Holder name and address are full here; the terminal masks
/// them before display (152-FZ) and never logs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub account: String,
    pub holder_name: String,
    pub address: String,
    pub services: Vec<ServiceDebt>,
    pub meters: Vec<MeterInfo>,
}

/// Answer to an account lookup (404 is "no such account").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountReply {
    pub version: u32,
    pub account: AccountInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tariff {
    pub name: String,
    /// Zone (`T1`…) or `single`.
    pub zone: String,
    /// Kopecks per kWh.
    pub price_kopecks_per_kwh: i64,
    /// First day it applies, `YYYY-MM-DD`.
    pub valid_from: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Office {
    pub name: String,
    pub address: String,
    pub hours: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaqItem {
    pub question: String,
    pub answer: String,
}

/// Information content shown on the kiosk; cached by the terminal for offline use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ContentBundle {
    /// Increases with every change.
    pub content_version: u64,
    pub tariffs: Vec<Tariff>,
    pub offices: Vec<Office>,
    pub faq: Vec<FaqItem>,
    /// Free text blocks by key (`payment_methods`, `contract_documents`, `non_payment`…).
    #[serde(default)]
    pub texts: BTreeMap<String, String>,
}

/// Answer to a content request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentReply {
    pub version: u32,
    /// `None` when the terminal already has the current version.
    pub content: Option<ContentBundle>,
    pub content_version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_snake_case_on_the_wire() {
        let e = ErrorReply {
            error: ErrorCode::BadSignature,
            message: "x".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"error":"bad_signature","message":"x"}"#
        );
    }
}
