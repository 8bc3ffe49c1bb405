//! What goes in and out of the customer session core.

use backend_sync::event::{CardApproval, FiscalAttributes, ReceiptContact};
use backend_sync::JournalEvent;
use chrono::{DateTime, Utc};

use super::CardRecoveryStep;
use crate::commands::{BillCommand, CardCommand};
use crate::money::{Allocation, Money, ServiceDue};

/// What the customer came for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Pay,
    Readings,
    Certificate,
}

/// A tariff zone of a meter with its last accepted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInfo {
    /// `T1`, `T2`, `T3`.
    pub code: String,
    /// «день», «ночь», «пик», «полупик»…
    pub name: String,
    pub previous: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterInfo {
    pub id: String,
    pub name: String,
    pub zones: Vec<ZoneInfo>,
    /// The meter as the reading rules need it (digit capacity, dates, plausibility); `None` when
    /// the account came without it (offline).
    pub meter: Option<crate::readings::Meter>,
}

/// The account as the session shows it: personal data already masked (152-FZ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAccount {
    pub number: String,
    /// False when the back office was unreachable and the number passed its checksum only.
    pub verified: bool,
    pub holder_masked: String,
    pub address_masked: String,
    pub services: Vec<ServiceDue>,
    pub meters: Vec<MeterInfo>,
    /// Already paid to this account today through this kiosk (for the daily limit).
    pub paid_today: Money,
}

impl CustomerAccount {
    pub fn total_debt(&self) -> Money {
        self.services.iter().map(|s| s.debt.max(Money::ZERO)).sum()
    }
}

/// How the customer wants the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptChoice {
    Paper,
    Electronic(ReceiptContact),
    /// Only the QR code on the screen (allowed for automats when nothing else works).
    ScreenOnly,
}

/// One value typed for one zone of one meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingInput {
    pub meter_id: String,
    pub zone: String,
    pub text: String,
}

/// What the customer did on the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Any touch: keeps the session alive.
    Touch,
    Start(Purpose),
    SubmitAccount(String),
    /// A bill's payment QR code, already parsed by the scanner glue: the account and the sum due.
    SubmitScannedBill {
        account: String,
        sum: Option<Money>,
    },
    /// A scanned code that is not one of our bills, or was not read: why, in the customer's words.
    ScanRefused {
        message: String,
    },
    /// The customer typed an amount for the service at `index`.
    SetServiceAmount {
        index: usize,
        text: String,
    },
    PayCash,
    PayCard,
    /// «По QR-коду СБП».
    PaySbp,
    FinishCash,
    ChooseReceipt(ReceiptChoice),
    SubmitReadings(Vec<ReadingInput>),
    RequestCertificate,
    PrintReadingSlip,
    Cancel,
    Home,
    /// Service mode (routed by the core to the service desk, never to the session).
    Service(crate::service::ServiceIntent),
}

/// Which devices can be used now (from the health monitor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub cash: bool,
    pub card: bool,
    pub paper: bool,
    /// The back office answers account lookups.
    pub online: bool,
    /// The back office takes СБП QR payments (a bank is configured and answers).
    pub sbp: bool,
    /// A bill scanner is fitted and works (the welcome screen invites a scan).
    pub scanner: bool,
    /// The kiosk cannot serve anyone (no payment method, no fiscal module, dead screen): the
    /// welcome screen becomes the out-of-service notice.
    pub out_of_service: bool,
}

impl Default for Availability {
    fn default() -> Self {
        Availability {
            cash: true,
            card: true,
            paper: true,
            online: true,
            // The back office says so in its heartbeat replies.
            sbp: false,
            // Fitted scanners report in; none is assumed.
            scanner: false,
            out_of_service: false,
        }
    }
}

/// Why an account number was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountProblem {
    /// Nothing typed.
    Empty,
    /// Wrong length, not digits or a bad check digit.
    Invalid,
    NotFound,
    /// The billing system could not be asked or answered badly.
    Unreachable,
    /// A scanned code that is not one of our bills.
    UnknownCode,
}

/// What the devices and services around the core reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceInput {
    AccountFound(CustomerAccount),
    AccountNotFound {
        number: String,
    },
    /// The lookup failed and the account is not checksum-valid either, or the QR was refused.
    AccountRefused {
        problem: AccountProblem,
        /// The customer's words, from the domain rules (shown as is).
        message: String,
    },
    /// The validator's bill table (denominations it knows), reported when it becomes ready.
    BillTable(Vec<Money>),
    BillEscrow(Money),
    BillStacked(Money),
    BillReturned(Money),
    BillRejected {
        reason: String,
    },
    /// The bill path jammed; `denomination` is the bill the validator held, when it said so.
    BillJammed {
        denomination: Option<Money>,
    },
    /// The validator powered up (power cut, reset) and said where a bill was.
    BillPowerUp {
        bill: Option<BillPlace>,
    },
    /// The cassette was taken out (an encashment or tampering).
    CassetteRemoved,
    /// The validator's jam or failure is gone (a technician cleared it).
    BillFaultCleared,
    /// The validator finished its start-up: every report it held from before has been delivered
    /// (or it did not finish in time). Payments a crash left open are settled now.
    BillValidatorSettled,
    CardPrompt(String),
    CardApproved(CardApproval),
    /// The terminal confirmed the goods-issued answer (80 00 was acknowledged).
    CardCompleted,
    /// The terminal confirmed the reversal after a "not issued" answer.
    CardReversed,
    CardDeclined {
        reason: String,
    },
    CardCancelled,
    CardOutcomeUnknown {
        detail: String,
    },
    /// Start-up recovery of a card payment a crash left open: what the terminal said or did.
    /// The core settles these itself (the session never saw the payment).
    CardRecovery {
        payment_id: String,
        step: CardRecoveryStep,
    },
    Fiscalised {
        receipt_id: String,
        fiscal: FiscalAttributes,
        printed_by_register: bool,
    },
    FiscalisationFailed {
        receipt_id: String,
        reason: String,
    },
    /// [`Output::RenewShift`] could not be carried out (the shift reports it made, if any, are
    /// journaled).
    ShiftRenewalFailed {
        reason: String,
    },
    Printed {
        receipt_id: String,
    },
    PrintFailed {
        receipt_id: String,
        reason: String,
    },
    Availability(Availability),
    /// What the back office said of a СБП payment (see [`crate::commands::SbpCommand`]).
    Sbp(SbpReport),
}

/// A СБП payment's state as the back office reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbpReport {
    pub payment_id: String,
    pub state: backend_sync::sbp::SbpState,
    /// What the QR asks for, or what the bank confirmed once paid.
    pub amount: Money,
    /// The QR's payload while it can be paid.
    pub payload: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub bank_payment_id: Option<String>,
    pub detail: String,
}

/// Everything the core accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Ui(Intent),
    Device(DeviceInput),
}

/// Where a bill was when the validator powered up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillPlace {
    /// In the bill path: it goes back to the customer.
    Validator,
    /// Past the point of no return: it is in the cassette.
    Stacker,
}

/// A note whose STACK was sent and that has no outcome (see `JournalEvent::BillStuck`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StuckNote {
    /// Printed on the receipt and shown on screen; the technician's and finance's handle.
    pub reference: String,
    pub denomination: Money,
}

/// What a fiscal receipt must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalRequest {
    pub receipt_id: String,
    pub payment_id: String,
    pub account: String,
    pub allocations: Vec<Allocation>,
    pub cash: Money,
    pub card: Money,
    pub contact: Option<ReceiptContact>,
    pub card_approval: Option<CardApproval>,
    /// A СБП payment's operation at the bank (printed on the receipt; finance finds the payment
    /// in the bank's registry by it).
    pub sbp_operation: Option<String>,
    /// Notes that went stuck during the payment: printed on the receipt with their reference.
    pub stuck_notes: Vec<StuckNote>,
    /// Set when an earlier try of this payment's receipt may have reached the register.
    pub resume: Option<FiscalResume>,
}

/// Where the fiscal register looks before it sells again: a receipt of this payment's total made
/// after FD `after_fd` on FN `fn_number`, that no other journaled document claims, is the one
/// an earlier try registered (a crash or a lost answer kept it out of the journal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalResume {
    /// The FN the last journaled FD was made on (`None`: the journal never named one); on
    /// another FN the whole new FN is searched.
    pub fn_number: Option<String>,
    pub after_fd: u32,
    /// FDs after `after_fd` journaled for other documents.
    pub claimed: Vec<u32>,
}

/// Non-fiscal documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlipRequest {
    Readings {
        account: String,
        accepted: Vec<AcceptedReading>,
        time: DateTime<Utc>,
    },
    NoDebtCertificate {
        account: String,
        holder_masked: String,
        address_masked: String,
        certificate_no: String,
        time: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedReading {
    pub registration_no: String,
    pub meter_id: String,
    pub meter_name: String,
    pub zone: String,
    pub value: u64,
    pub previous: u64,
}

/// What the core asks the outside world to do, in order. `Journal` outputs must be durable before
/// the next output is executed: that is what makes the write-ahead rule hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Journal(JournalEvent),
    LookupAccount {
        number: String,
    },
    Bill(BillCommand),
    Card(CardCommand),
    Sbp(crate::commands::SbpCommand),
    Fiscalise(FiscalRequest),
    /// Close the fiscal shift (its Z-report) and open a new one: no customer is served and the
    /// shift is due ([`crate::session::renewal_due`]). The shift reports come back journaled;
    /// a failure as [`DeviceInput::ShiftRenewalFailed`].
    RenewShift,
    /// Print the fiscal receipt `receipt_id` (after `Fiscalised` unless the register printed it).
    PrintReceipt {
        receipt_id: String,
    },
    PrintSlip(SlipRequest),
}
