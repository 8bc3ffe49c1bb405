//! The session's view state: what the screen must show, with no knowledge of how.

use chrono::{DateTime, Utc};

use super::types::{AcceptedReading, AccountProblem, CustomerAccount, Purpose};
use crate::money::Money;

/// A refusal: its kind for the screen's logic, and the exact Russian explanation the domain rules
/// gave (the screen shows `message` as is; it carries the numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused<K> {
    pub kind: K,
    pub message: String,
}

impl<K> Refused<K> {
    pub fn new(kind: K, message: impl Into<String>) -> Refused<K> {
        Refused {
            kind,
            message: message.into(),
        }
    }
}

/// What the account summary has to tell the customer (a refused action or a limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryProblem {
    /// A typed amount that is not a sum (or negative).
    BadAmount,
    /// Nothing to pay.
    ZeroAmount,
    PerPaymentLimit {
        limit: Money,
    },
    DayLimit {
        left: Money,
    },
    CashUnavailable,
    CardUnavailable,
    /// СБП is not offered now, or no QR could be had.
    SbpUnavailable,
    /// The customer's bank refused the payment.
    SbpDeclined,
    /// The QR ran out unpaid.
    SbpExpired,
    /// The QR was revoked unpaid (news, not a problem).
    SbpCancelled,
    /// The bank or the reader declined; the message has the reader's text.
    CardDeclined,
    /// The customer or the reader cancelled; no money was taken.
    CardCancelled,
    /// An approval was reversed; the money goes back to the card.
    CardReversed,
    /// A no-debt certificate was asked for while there is a debt.
    HasDebt {
        debt: Money,
    },
}

/// Why a meter reading was refused (typed from [`crate::readings::Refusal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadingProblem {
    OutsideWindow {
        first_day: u8,
        last_day: u8,
    },
    BelowPrevious {
        previous: u64,
    },
    TooManyDigits {
        capacity: u8,
    },
    Implausible {
        consumption: u64,
        limit: u64,
    },
    /// Not a whole number, zero, a zone typed twice or a zone the meter does not have.
    Malformed,
    /// A zone of the meter is missing or empty.
    Missing,
    /// The same values were accepted before.
    AlreadyAccepted,
    /// The meter is not on this account.
    UnknownMeter,
    /// The meter's data could not be fetched (offline): readings cannot be checked now.
    Unreachable,
}

/// Why one zone's reading was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingRefusal {
    pub meter_id: String,
    pub zone: String,
    pub kind: ReadingProblem,
    pub message: String,
}

/// Why the last bill came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CashProblem {
    /// The bill is larger than what this payment may still take.
    OverLimit,
    /// The validator rejected it (worn, fake, inserted badly…).
    Rejected,
}

/// How the receipt went to the customer, for the final screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptDelivery {
    Printed,
    /// Sent (or queued) by SMS or e-mail; the contact masked for the screen.
    Sent {
        to: String,
    },
    /// Not printed: the QR code on the screen is the receipt.
    OnScreen,
    /// Fiscalisation failed; the receipt is made and sent later.
    Later,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Welcome,
    AccountEntry {
        purpose: Purpose,
        error: Option<Refused<AccountProblem>>,
    },
    LookingUp {
        purpose: Purpose,
        number: String,
    },
    Summary {
        account: CustomerAccount,
        amounts: Vec<Money>,
        total: Money,
        max_payment: Money,
        /// A refused action, or the limit the chosen total runs into.
        notice: Option<Refused<SummaryProblem>>,
        cash: bool,
        card: bool,
        sbp: bool,
    },
    Cash {
        account: String,
        requested: Money,
        inserted: Money,
        /// The most this payment may take (per payment, or what is left of the day).
        limit: Money,
        max_left: Money,
        /// Denominations the validator takes now: its bill table, up to `max_left`.
        accepted: Vec<Money>,
        notice: Option<Refused<CashProblem>>,
        busy: bool,
    },
    Card {
        account: String,
        amount: Money,
        prompt: String,
        can_cancel: bool,
    },
    /// A СБП payment (see [`SbpScreen`]).
    Sbp(SbpScreen),
    Processing {
        text: String,
    },
    ReceiptChoice {
        total: Money,
        paper: bool,
    },
    Done {
        total: Money,
        printed: bool,
        qr: Option<String>,
        delivery: ReceiptDelivery,
        message: String,
        /// Paid above the debts: credited to the account as an advance (no change is given).
        advance: Money,
        certificate_available: bool,
        /// Notes that went stuck in this payment, with their reference (see `BillStuck`).
        stuck_notice: Option<String>,
    },
    Readings {
        account: CustomerAccount,
        refusals: Vec<ReadingRefusal>,
        accepted: Vec<AcceptedReading>,
    },
    ReadingsDone {
        accepted: Vec<AcceptedReading>,
        printed: bool,
        /// When the readings were registered.
        time: DateTime<Utc>,
        terminal_id: String,
    },
    CertificateDone {
        certificate_no: String,
        printed: bool,
        account: String,
        /// Already masked (152-FZ).
        holder_masked: String,
        /// The certificate states the debt as of this moment.
        time: DateTime<Utc>,
    },
    /// A stop with an explanation (not found, certificate refused…), and the way back.
    Notice {
        text: String,
    },
}

/// A СБП payment: the QR is being made, is shown, or the bank is asked after a revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbpScreen {
    pub account: String,
    pub amount: Money,
    /// The QR's payload while it is shown.
    pub payload: Option<String>,
    /// When the countdown ends (while the QR is shown).
    pub pay_until: Option<DateTime<Utc>>,
    /// The QR was revoked (or ran out) and the bank's last word is awaited.
    pub checking: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub screen: Screen,
    /// When the session will give up for lack of touches (None: not counting).
    pub idle_deadline: Option<DateTime<Utc>>,
    /// From when the screen shows the countdown to `idle_deadline` (None: no countdown).
    pub countdown_from: Option<DateTime<Utc>>,
    /// What works now (the screen shows a notice for what does not).
    pub availability: super::types::Availability,
    /// Service mode covers the customer screens while this is set (filled in by the core).
    pub service: Option<crate::service::ServiceView>,
}
