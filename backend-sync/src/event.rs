//! The typed events a terminal journals. This is the shared vocabulary of the terminal, the back
//! office and finance: every money movement, reading, receipt and health change is one of these.
//!
//! Amounts are integer kopecks (`*_kopecks`). Card data is masked before it gets here: no event
//! carries a full card number. Contacts for e-receipts are carried because the back office must
//! deliver them; logs never print them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a payment is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Cash,
    Card,
    /// A dynamic QR of the Faster Payments System (СБП), paid from the customer's bank app.
    Sbp,
}

/// A share of a payment credited to one service of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAmount {
    pub service_id: String,
    pub service_name: String,
    /// Part of the amount that pays off debt.
    pub debt_kopecks: i64,
    /// Part of the amount credited above the debt, as an advance (аванс).
    pub advance_kopecks: i64,
}

/// One service of a payment as the customer asked for it, journaled when the payment starts so
/// that a payment a crash interrupted is credited with the customer's own split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedService {
    pub service_id: String,
    pub service_name: String,
    /// The service's debt when the payment started.
    pub debt_kopecks: i64,
    /// What the customer asked to pay for it.
    pub requested_kopecks: i64,
}

/// What became of a stuck note once a technician looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StuckNoteOutcome {
    /// It was in the cassette: credited to the account as a payment of its own.
    FoundInCassette,
    /// It was in the bill path and went back to the customer.
    HandedBack,
    /// A stacked report for it arrived late (the validator came back): credited as when found.
    ReportedStacked,
}

/// Where an e-receipt goes (FFD tag 1008).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "channel", content = "address")]
pub enum ReceiptContact {
    Sms(String),
    Email(String),
}

/// Card approval details safe to store: masked PAN only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardApproval {
    pub amount_kopecks: i64,
    /// Card-terminal receipt number (ZVT BMP 87), the handle for a reversal.
    pub receipt_no: u32,
    pub trace_no: u32,
    /// Masked PAN as the terminal returns it, e.g. `4111********1111`.
    pub masked_pan: String,
    pub auth_code: String,
    pub card_terminal_id: String,
    /// Retrieval reference number, when the acquirer sends one.
    pub rrn: Option<String>,
}

/// The fiscal attributes of a registered document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiscalAttributes {
    pub fn_number: String,
    pub fd_number: u32,
    pub fiscal_sign: String,
    pub shift_number: u32,
    /// Local date-time as printed, `YYYY-MM-DDTHH:MM`.
    pub time: String,
    /// The 54-FZ QR string (`t=…&s=…&fn=…&i=…&fp=…&n=1`).
    pub qr: String,
}

/// Level of an out-of-service alert under the 60-minute rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageLevel {
    Started,
    Escalated,
    Breach,
    Recovered,
}

/// Everything a terminal journals. Serialised internally tagged (`{"kind": "...", ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum JournalEvent {
    // --- life cycle ---
    TerminalStarted {
        version: String,
        terminal_id: String,
    },
    /// Crash recovery looked at an unfinished operation and settled it.
    RecoveryResolved {
        payment_id: String,
        detail: String,
    },

    // --- payments ---
    /// A customer chose a method and the kiosk is about to accept money.
    PaymentStarted {
        payment_id: String,
        account: String,
        /// False when the account was accepted offline on checksum alone.
        account_verified: bool,
        method: PaymentMethod,
        /// What the customer asked to pay (the debt or an edited amount).
        requested_kopecks: i64,
        /// The same per service (empty in journals written before it was recorded).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        services: Vec<RequestedService>,
    },
    /// A bill is in escrow (not money yet).
    BillEscrowed {
        payment_id: Option<String>,
        denomination_kopecks: i64,
    },
    /// Write-ahead: the kiosk is about to send STACK for this bill.
    BillStackRequested {
        payment_id: Option<String>,
        denomination_kopecks: i64,
    },
    /// The validator reported the bill stacked: this is the credit point for cash.
    BillStacked {
        payment_id: Option<String>,
        denomination_kopecks: i64,
    },
    /// A bill whose STACK was sent has no outcome: the validator jammed, powered up without
    /// saying where the bill was, or stayed silent past the deadline. It is neither credited nor
    /// lost: the customer gets `reference` on the receipt and the screen, finance lists it, and a
    /// technician resolves it ([`JournalEvent::StuckNoteResolved`]).
    BillStuck {
        payment_id: Option<String>,
        /// The account the payment was for (a note found later is credited to it).
        account: String,
        denomination_kopecks: i64,
        reference: String,
        reason: String,
    },
    /// A stuck note was found. `FoundInCassette`/`ReportedStacked`: credited as `payment_id`
    /// (a payment of its own, with its own receipt); `HandedBack`: nothing credited.
    StuckNoteResolved {
        reference: String,
        outcome: StuckNoteOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payment_id: Option<String>,
    },
    /// A bill was given back to the customer.
    BillReturned {
        payment_id: Option<String>,
        denomination_kopecks: i64,
        reason: String,
    },
    /// A bill the validator rejected (never escrowed).
    BillRejected {
        payment_id: Option<String>,
        reason: String,
    },
    /// Write-ahead: the amount goes to the card reader.
    CardAuthorisationRequested {
        payment_id: String,
        amount_kopecks: i64,
    },
    /// The card terminal approved; not yet credited until completion is confirmed.
    CardApproved {
        payment_id: String,
        approval: CardApproval,
    },
    /// The kiosk told the terminal the goods were issued (ZVT 80 00): card money is credited.
    CardCompleted {
        payment_id: String,
        amount_kopecks: i64,
    },
    CardDeclined {
        payment_id: String,
        reason: String,
    },
    /// The outcome of an authorisation is not known; the reader is blocked until resolved.
    CardOutcomeUnknown {
        payment_id: String,
        detail: String,
    },
    /// Write-ahead: a reversal is about to be sent.
    CardReversalRequested {
        payment_id: String,
        receipt_no: u32,
    },
    CardReversed {
        payment_id: String,
        receipt_no: u32,
        amount_kopecks: i64,
    },
    /// Write-ahead: the kiosk is about to ask the back office for a СБП QR of this payment.
    SbpQrRequested {
        payment_id: String,
        amount_kopecks: i64,
    },
    /// The QR is registered with the bank and shown to the customer.
    SbpQrIssued {
        payment_id: String,
        bank_payment_id: String,
        /// RFC 3339 UTC.
        expires_utc: String,
    },
    /// Write-ahead: the kiosk is about to revoke the QR (the customer cancelled, the countdown
    /// ran out, or a restart found it open). A payment the bank confirms after this is still
    /// credited.
    SbpRevokeRequested {
        payment_id: String,
        reason: String,
    },
    /// The bank confirmed the money: this is the credit point for СБП.
    SbpPaid {
        payment_id: String,
        amount_kopecks: i64,
        bank_payment_id: String,
    },
    /// The bank confirmed the QR can no longer be paid (declined, expired or revoked).
    SbpNotPaid {
        payment_id: String,
        state: crate::sbp::SbpState,
        detail: String,
    },
    /// The customer left before the bank's answer: the kiosk keeps asking the back office in
    /// the background and credits the payment if the bank confirms it.
    SbpOutcomeUnknown {
        payment_id: String,
        detail: String,
    },
    /// The payment is final: the money is credited to the account's services.
    PaymentCompleted {
        payment_id: String,
        account: String,
        method: PaymentMethod,
        total_kopecks: i64,
        allocations: Vec<ServiceAmount>,
    },
    /// The payment ended with nothing accepted.
    PaymentCancelled {
        payment_id: String,
        reason: String,
    },

    // --- receipts ---
    /// Write-ahead for a fiscal sale: the kiosk is about to send this receipt to the fiscal
    /// register. `last_fd` is the newest fiscal document the journal knew of then (with the FN
    /// it was made on), so recovery can ask the register for a newer receipt of this payment's
    /// total before it sells again: never two fiscal documents for one payment.
    ReceiptRequested {
        receipt_id: String,
        payment_id: Option<String>,
        total_kopecks: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fn_number: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_fd: Option<u32>,
    },
    ReceiptFiscalised {
        receipt_id: String,
        payment_id: Option<String>,
        total_kopecks: i64,
        fiscal: FiscalAttributes,
        /// True when the fiscal register printed the receipt itself.
        printed_by_register: bool,
    },
    ReceiptPrinted {
        receipt_id: String,
    },
    /// Printing failed; the receipt stays reprintable from the service menu.
    ReceiptUnprinted {
        receipt_id: String,
        reason: String,
    },
    ReceiptReprinted {
        receipt_id: String,
    },
    EReceiptRequested {
        receipt_id: String,
        contact: ReceiptContact,
    },
    /// A fiscal registration failed; the payment stays credited and the receipt is retried.
    FiscalisationFailed {
        receipt_id: String,
        payment_id: Option<String>,
        reason: String,
    },
    ShiftOpened {
        shift_number: u32,
        /// The shift-opening report's fiscal document (it takes an FD number too, so the back
        /// office needs it to tell a real FD gap from a shift boundary).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fn_number: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fd_number: Option<u32>,
        /// When it opened (RFC 3339, UTC): the kiosk renews a shift before the 24 hours 54-FZ
        /// allows, and after a restart only the journal knows how old the open one is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opened_utc: Option<String>,
    },
    ShiftClosed {
        shift_number: u32,
        receipts: u32,
        total_kopecks: i64,
        cash_kopecks: i64,
        card_kopecks: i64,
        /// The shift-closing report's fiscal document, as for [`JournalEvent::ShiftOpened`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fn_number: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fd_number: Option<u32>,
    },

    // --- meter readings and certificates ---
    MeterReadingAccepted {
        registration_no: String,
        account: String,
        meter_id: String,
        zone: String,
        value: u64,
        previous: u64,
    },
    MeterReadingRefused {
        account: String,
        meter_id: String,
        zone: String,
        value: u64,
        reason: String,
    },
    NoDebtCertificateIssued {
        account: String,
        certificate_no: String,
    },

    // --- cash box and card batch ---
    /// The cassette was taken out: the counts the kiosk expected in it.
    CassetteRemoved {
        /// Denomination in kopecks (as a decimal string key) → number of bills.
        expected: BTreeMap<String, u32>,
        expected_total_kopecks: i64,
    },
    CassetteInserted {},
    /// The technician's count at encashment.
    EncashmentCounted {
        encashment_id: String,
        counted: BTreeMap<String, u32>,
        counted_total_kopecks: i64,
        expected_total_kopecks: i64,
    },
    CardEndOfDay {
        transactions: u32,
        total_kopecks: i64,
    },

    // --- health and service ---
    DeviceStateChanged {
        device: String,
        state: String,
        detail: String,
    },
    ServiceStateChanged {
        state: String,
        detail: String,
    },
    OutageAlert {
        level: OutageLevel,
        outage_id: String,
        working_minutes: u32,
        detail: String,
    },
    RecoveryStep {
        device: String,
        step: String,
        succeeded: bool,
    },
    ServiceLogin {
        method: String,
        succeeded: bool,
        locked_out: bool,
    },
    ServiceOperation {
        operation: String,
        detail: String,
    },
}

impl JournalEvent {
    /// The record `kind`: the variant name.
    pub fn kind(&self) -> &'static str {
        macro_rules! kinds {
            ($($v:ident),* $(,)?) => {
                match self { $(JournalEvent::$v { .. } => stringify!($v),)* }
            };
        }
        kinds!(
            TerminalStarted,
            RecoveryResolved,
            PaymentStarted,
            BillEscrowed,
            BillStackRequested,
            BillStacked,
            BillStuck,
            StuckNoteResolved,
            BillReturned,
            BillRejected,
            CardAuthorisationRequested,
            CardApproved,
            CardCompleted,
            CardDeclined,
            CardOutcomeUnknown,
            CardReversalRequested,
            CardReversed,
            SbpQrRequested,
            SbpQrIssued,
            SbpRevokeRequested,
            SbpPaid,
            SbpNotPaid,
            SbpOutcomeUnknown,
            PaymentCompleted,
            PaymentCancelled,
            ReceiptRequested,
            ReceiptFiscalised,
            ReceiptPrinted,
            ReceiptUnprinted,
            ReceiptReprinted,
            EReceiptRequested,
            FiscalisationFailed,
            ShiftOpened,
            ShiftClosed,
            MeterReadingAccepted,
            MeterReadingRefused,
            NoDebtCertificateIssued,
            CassetteRemoved,
            CassetteInserted,
            EncashmentCounted,
            CardEndOfDay,
            DeviceStateChanged,
            ServiceStateChanged,
            OutageAlert,
            RecoveryStep,
            ServiceLogin,
            ServiceOperation,
        )
    }

    /// Canonical JSON of the event, as hashed into the journal.
    pub fn canonical_payload(&self) -> String {
        // Serialising this enum cannot fail: it has only string keys and plain values.
        crate::record::canonical_json(self)
            .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
    }

    /// Parses a record payload back into an event.
    pub fn from_payload(payload: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_matches_the_serde_tag() {
        let ev = JournalEvent::BillStacked {
            payment_id: Some("p1".into()),
            denomination_kopecks: 100_000,
        };
        let payload = ev.canonical_payload();
        assert_eq!(
            payload,
            r#"{"denomination_kopecks":100000,"kind":"BillStacked","payment_id":"p1"}"#
        );
        assert_eq!(ev.kind(), "BillStacked");
        assert_eq!(JournalEvent::from_payload(&payload).unwrap(), ev);
    }
}
