//! The seam between the back office and a bank that takes СБП QR payments: the [`SbpBank`]
//! trait every adapter implements, the typed answers, and [`BankError`], which keeps "the bank
//! did not answer" apart from "the bank said no". Holds no state and does no I/O itself.

use std::time::Duration;

use backend_sync::sbp::SbpState;

/// What the back office asks a bank to register: one dynamic QR of one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrRegistration {
    /// The kiosk's payment id, the bank's order id (unique per payment).
    pub order_id: String,
    pub amount_kopecks: i64,
    /// Shown in the customer's bank app (no personal data: the account number only).
    pub description: String,
    /// How long the QR may be paid.
    pub lifetime: Duration,
}

/// A registered QR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredQr {
    pub bank_payment_id: String,
    /// What the QR encodes (`https://qr.nspk.ru/…`).
    pub payload: String,
    pub expires_utc: chrono::DateTime<chrono::Utc>,
}

/// A payment's state as the bank reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankState {
    pub state: SbpState,
    /// The bank's own word for it (`CONFIRMED`, `FORM_SHOWED`, …), kept for finance.
    pub raw_status: String,
    /// The amount the bank names, when it names one.
    pub amount_kopecks: Option<i64>,
    /// The bank's message when it refused something, empty otherwise.
    pub detail: String,
}

/// A notification the bank pushed, its signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankNotification {
    pub bank_payment_id: String,
    pub order_id: String,
    pub state: BankState,
}

/// Why a bank call gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// No answer: connection refused, TLS failure, timeout. The outcome is unknown; ask again.
    #[error("bank unreachable: {0}")]
    Unreachable(String),
    /// The bank answered and refused (its code and message).
    #[error("bank refused ({code}): {message}")]
    Refused { code: String, message: String },
    /// The bank answered something this adapter cannot read.
    #[error("bank answer not understood: {0}")]
    BadReply(String),
    /// A notification that is not the bank's (bad signature, unknown terminal, malformed).
    #[error("notification refused: {0}")]
    BadNotification(String),
}

impl BankError {
    /// True when the bank did not answer (as opposed to answering no).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, BankError::Unreachable(_))
    }
}

/// A bank adapter. The contract (what another bank's adapter must do):
///
/// - [`register_qr`](SbpBank::register_qr) registers one dynamic QR for the order id and amount
///   and returns the bank's payment id, the payload and when it stops being payable. It is
///   called once per kiosk payment (the back office stores the answer and serves it again).
/// - [`state`](SbpState) maps the bank's status to [`SbpState`]: `Paid` **only** when the bank
///   confirmed the money; any status it does not know is `Pending` (never `Paid`).
/// - [`cancel`](SbpBank::cancel) revokes an unpaid QR and must never refund: if the bank has it
///   paid, it answers the paid state instead.
/// - [`refund`](SbpBank::refund) returns `amount_kopecks` of a paid payment.
/// - [`parse_notification`](SbpBank::parse_notification) checks the bank's signature and refuses
///   anything that is not the bank's; [`notification_ack`](SbpBank::notification_ack) is what the
///   bank wants back once the state is stored.
/// - Errors: [`BankError::Unreachable`] for no answer (the poller asks again),
///   [`BankError::Refused`] for a no; secrets never in errors or logs.
#[async_trait::async_trait]
pub trait SbpBank: Send + Sync {
    /// The adapter's name (`tbank`), for logs and pages.
    fn name(&self) -> &'static str;
    async fn register_qr(&self, qr: &QrRegistration) -> Result<RegisteredQr, BankError>;
    async fn state(&self, bank_payment_id: &str) -> Result<BankState, BankError>;
    async fn cancel(&self, bank_payment_id: &str) -> Result<BankState, BankError>;
    async fn refund(
        &self,
        bank_payment_id: &str,
        amount_kopecks: i64,
    ) -> Result<BankState, BankError>;
    fn parse_notification(&self, body: &[u8]) -> Result<BankNotification, BankError>;
    fn notification_ack(&self) -> &'static str {
        "OK"
    }
}
