//! The session's view state: what the screen must show, with no knowledge of how.

use chrono::{DateTime, Utc};

use super::types::{AcceptedReading, CustomerAccount, Purpose};
use crate::money::Money;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingRefusal {
    pub meter_id: String,
    pub zone: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screen {
    Welcome,
    AccountEntry {
        purpose: Purpose,
        error: Option<String>,
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
        error: Option<String>,
        cash: bool,
        card: bool,
    },
    Cash {
        account: String,
        requested: Money,
        inserted: Money,
        max_left: Money,
        accepted: Vec<Money>,
        notice: Option<String>,
        busy: bool,
    },
    Card {
        account: String,
        amount: Money,
        prompt: String,
        can_cancel: bool,
    },
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
        message: String,
        certificate_available: bool,
    },
    Readings {
        account: CustomerAccount,
        refusals: Vec<ReadingRefusal>,
        accepted: Vec<AcceptedReading>,
    },
    ReadingsDone {
        accepted: Vec<AcceptedReading>,
        printed: bool,
    },
    CertificateDone {
        certificate_no: String,
        printed: bool,
    },
    /// A stop with an explanation (not found, certificate refused…), and the way back.
    Notice {
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub screen: Screen,
    /// When the session will give up for lack of touches (None: not counting).
    pub idle_deadline: Option<DateTime<Utc>>,
    /// What works now (the screen shows a notice for what does not).
    pub availability: super::types::Availability,
    /// Service mode covers the customer screens while this is set (filled in by the core).
    pub service: Option<crate::service::ServiceView>,
}
