//! The kiosk's side of a Faster Payments System (СБП) payment, as the back office serves it.
//!
//! The bank's credentials never reach a kiosk: the kiosk asks the back office for a dynamic QR
//! of one payment and amount, watches its state and revokes it; the back office talks to the
//! bank. Every request is signed like the sync API ([`crate::auth`]). A QR is keyed by the
//! kiosk's `payment_id`, so asking again for the same payment returns the same QR (a retry after
//! a lost answer, or a restart, never registers a second one).

use serde::{Deserialize, Serialize};

/// Paths of the СБП endpoints (signed).
pub mod paths {
    /// `POST` an [`SbpQrRequest`](super::SbpQrRequest): registers the QR, or returns the one
    /// already registered for the payment.
    pub const QR: &str = "/api/v1/sbp/qr";

    /// `GET` the state of the payment's QR.
    pub fn status(payment_id: &str) -> String {
        format!("{QR}/{payment_id}")
    }

    /// `POST` (empty body): revoke the payment's QR if it is not paid.
    pub fn revoke(payment_id: &str) -> String {
        format!("{QR}/{payment_id}/revoke")
    }
}

/// The most a payment id may be: what the kiosk's document ids are, with room to spare.
pub const MAX_PAYMENT_ID_LEN: usize = 64;

/// True for a payment id the endpoints accept (it goes into a path and to the bank as `OrderId`).
pub fn is_payment_id(id: &str) -> bool {
    (1..=MAX_PAYMENT_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A kiosk asks for a dynamic QR of one payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbpQrRequest {
    pub version: u32,
    pub payment_id: String,
    /// What the customer pays, in kopecks (the QR carries it as `sum`).
    pub amount_kopecks: i64,
    /// The account paid, for the bank's payment description and the reconciliation.
    pub account: String,
}

/// Where a QR payment stands, as the bank confirmed it to the back office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SbpState {
    /// Registered and shown; the bank has not confirmed a payment (or a revocation) yet.
    Pending,
    /// The bank confirmed the money: the only state the kiosk credits.
    Paid,
    /// The customer's bank refused it.
    Declined,
    /// The QR's lifetime ran out unpaid.
    Expired,
    /// Revoked unpaid at the kiosk's request; the bank confirmed it can no longer be paid.
    Revoked,
    /// Paid, then refunded from the finance pages (it was credited before; finance settles the
    /// account).
    Refunded,
}

impl SbpState {
    /// True when the state can no longer change into a payment: the kiosk may settle the
    /// payment as not paid ([`SbpState::Paid`] and [`SbpState::Refunded`] are final too, but paid).
    pub fn is_final(self) -> bool {
        !matches!(self, SbpState::Pending)
    }

    /// True when money reached the merchant.
    pub fn is_paid(self) -> bool {
        matches!(self, SbpState::Paid | SbpState::Refunded)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SbpState::Pending => "pending",
            SbpState::Paid => "paid",
            SbpState::Declined => "declined",
            SbpState::Expired => "expired",
            SbpState::Revoked => "revoked",
            SbpState::Refunded => "refunded",
        }
    }
}

/// What the back office knows of a payment's QR: the answer to create, status and revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SbpQrStatus {
    pub version: u32,
    pub payment_id: String,
    pub state: SbpState,
    pub amount_kopecks: i64,
    /// The QR's payload (`https://qr.nspk.ru/…?type=02&…&sum=…`), while it can be paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// When the bank stops accepting it, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_utc: Option<String>,
    /// The bank's id of the payment (T-Bank `PaymentId`), printed on the receipt and used by
    /// finance to find it in the bank's registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_payment_id: Option<String>,
    /// The kiosk asked to revoke it (the bank may still confirm a payment made just before).
    #[serde(default)]
    pub revoke_requested: bool,
    /// Why it was declined or what the bank said last, in the bank's words (not for customers).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_snake_case_and_only_pending_is_open() {
        assert_eq!(
            serde_json::to_string(&SbpState::Revoked).unwrap(),
            r#""revoked""#
        );
        assert!(!SbpState::Pending.is_final());
        assert!(SbpState::Expired.is_final() && !SbpState::Expired.is_paid());
        assert!(SbpState::Refunded.is_paid());
    }

    #[test]
    fn payment_ids_that_could_escape_a_path_are_refused() {
        assert!(is_payment_id("PK0001-261204-000012"));
        assert!(!is_payment_id(""));
        assert!(!is_payment_id("../x"));
        assert!(!is_payment_id(&"a".repeat(65)));
    }
}
