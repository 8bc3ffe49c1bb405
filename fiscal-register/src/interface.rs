//! The interface to a fiscal module: the trait, what it returns and why it refuses.
//!
//! Two shapes of fiscal register serve kiosks: a kiosk KKT that prints the receipt itself on the
//! printer wired to it, and a module whose attributes we print over ESC/POS. Both answer
//! [`FiscalModule::register`] with a [`FiscalResult`]; `printed_by_module` tells which happened.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::document::{FiscalDocument, SettlementType};

/// The longest a shift may stay open (54-FZ): registering after that is refused.
pub const MAX_SHIFT_HOURS: i64 = 24;

/// The fiscal attributes a module returns for a registered receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiscalResult {
    /// Fiscal storage number, tag 1041 (16 digits).
    pub fn_number: String,
    /// Fiscal document number, tag 1040.
    pub fd_number: u32,
    /// Fiscal sign, tag 1077; printed and put in the QR code as 10 digits.
    pub fiscal_sign: u32,
    /// Shift number (tag 1038).
    pub shift: u32,
    /// Receipt number within the shift (tag 1042).
    pub receipt_in_shift: u32,
    /// Date and time of the document, tag 1012.
    pub time: NaiveDateTime,
    /// True when the module printed the receipt on its own printer (kiosk KKT shape).
    pub printed_by_module: bool,
}

impl FiscalResult {
    /// The fiscal sign as printed: ten digits, zero-padded.
    pub fn fiscal_sign_text(&self) -> String {
        format!("{:010}", self.fiscal_sign)
    }
}

/// Shift state after opening a shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftInfo {
    pub shift: u32,
    pub opened_at: NaiveDateTime,
    /// FD number of the shift-opening report.
    pub fd_number: u32,
}

/// Counters of a closed shift (Z report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZReport {
    pub shift: u32,
    pub opened_at: NaiveDateTime,
    pub closed_at: NaiveDateTime,
    pub receipts: u32,
    /// Sum of all income receipts, kopecks.
    pub income: i64,
    pub cash: i64,
    pub electronic: i64,
    /// False when the module could not say how `income` splits into cash and electronic (a
    /// KKT read through FF0Ah reports receipt totals only); `cash` and `electronic` are then 0.
    #[serde(default = "yes")]
    pub payments_split: bool,
    /// FD number of the shift-closing report itself.
    pub fd_number: u32,
    pub fiscal_sign: u32,
}

fn yes() -> bool {
    true
}

/// The state of the fiscal storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnStatus {
    pub fn_number: String,
    pub shift_open: bool,
    pub shift: u32,
    /// When the open shift was opened, where the module knows it.
    pub shift_opened_at: Option<NaiveDateTime>,
    /// True when the open shift is older than 24 hours and must be closed before any sale.
    pub shift_expired: bool,
    /// The number of the last fiscal document the FN made (tag 1040).
    pub last_fd_number: u32,
    /// A receipt was begun and not closed (cancel it with
    /// [`FiscalModule::cancel_open_receipt`] before selling again).
    #[serde(default)]
    pub open_receipt: bool,
    #[serde(default)]
    pub warnings: FnWarnings,
}

/// What the fiscal storage warns about, well before it stops the kiosk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnWarnings {
    /// The FN archive is 90% full.
    pub memory_near_full: bool,
    /// The FN's crypto resource ends within 30 days.
    pub resource_ending: bool,
    /// The FN must be replaced within 3 days.
    pub urgent_replacement: bool,
    /// The OFD has not answered in time.
    pub ofd_timeout: bool,
    /// Documents the OFD has not confirmed.
    pub unsent_documents: u32,
    /// When the oldest of them was made (the FN blocks at 30 days).
    pub oldest_unsent: Option<NaiveDateTime>,
}

/// What kind of fiscal document an FD number holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DocumentKind {
    /// A receipt (кассовый чек) and its settlement type, tag 1054.
    Receipt(SettlementType),
    /// Report on opening a shift.
    ShiftOpen { shift: u16 },
    /// Report on closing a shift.
    ShiftClose { shift: u16 },
    /// Any other document, by its FFD type number.
    Other(u8),
}

/// A fiscal document read back from the FN by number (what Shtrih's FF0Ah returns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundDocument {
    pub fd_number: u32,
    pub kind: DocumentKind,
    /// The receipt total in kopecks (tag 1020); None for reports.
    pub total: Option<i64>,
    /// Date and time of the document (tag 1012); a KKT reports it to the minute.
    pub time: NaiveDateTime,
    /// Fiscal sign, tag 1077.
    pub fiscal_sign: u32,
    /// The OFD has confirmed it.
    pub acknowledged_by_ofd: bool,
}

impl FoundDocument {
    /// True when this is the receipt `document` would have made.
    pub fn matches(&self, document: &FiscalDocument) -> bool {
        self.kind == DocumentKind::Receipt(document.settlement)
            && self.total == Some(document.total())
    }
}

/// Why a fiscal operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum FiscalError {
    #[error("no shift is open")]
    ShiftClosed,
    #[error("shift {0} is already open")]
    ShiftAlreadyOpen(u32),
    #[error("shift {shift} was opened at {opened_at} and is older than 24 hours; close it first")]
    ShiftExpired {
        shift: u32,
        opened_at: NaiveDateTime,
    },
    #[error("invalid fiscal document: {0}")]
    InvalidDocument(String),
    #[error("fiscal module state is unusable: {0}")]
    State(String),
    #[error("fiscal module I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The KKT refused or the link failed; see [`crate::shtrih::ShtrihError::outcome_unknown`].
    #[error("KKT: {0}")]
    Kkt(#[from] crate::shtrih::ShtrihError),
}

impl FiscalError {
    /// The text for the service screen.
    pub fn message_ru(&self) -> String {
        match self {
            FiscalError::ShiftClosed => "Смена не открыта".into(),
            FiscalError::ShiftAlreadyOpen(n) => format!("Смена № {n} уже открыта"),
            FiscalError::ShiftExpired { shift, .. } => {
                format!("Смена № {shift} открыта более 24 часов; закройте её")
            }
            FiscalError::InvalidDocument(_) => "Неверные данные чека".into(),
            FiscalError::State(_) => "Состояние фискального модуля неверно".into(),
            FiscalError::Io(_) => "Ошибка ввода-вывода фискального модуля".into(),
            FiscalError::Kkt(e) => e.text_ru(),
        }
    }
}

/// A fiscal register: an emulated module, or a kiosk KKT driver (Shtrih, ATOL) in a later issue.
pub trait FiscalModule: Send {
    /// Opens a shift (an FD of its own).
    fn open_shift(&mut self, now: NaiveDateTime) -> Result<ShiftInfo, FiscalError>;
    /// Registers a receipt; refused when no shift is open or the shift is older than 24 h.
    fn register(
        &mut self,
        document: &FiscalDocument,
        now: NaiveDateTime,
    ) -> Result<FiscalResult, FiscalError>;
    /// Closes the shift and returns its Z-report counters.
    fn close_shift(&mut self, now: NaiveDateTime) -> Result<ZReport, FiscalError>;
    /// The fiscal storage's state.
    fn status(&self, now: NaiveDateTime) -> Result<FnStatus, FiscalError>;
    /// Reads back fiscal document `fd_number`; None when the FN has no such document.
    fn find_document(&mut self, fd_number: u32) -> Result<Option<FoundDocument>, FiscalError>;
    /// Cancels a receipt that was begun and not closed; false when none was open.
    fn cancel_open_receipt(&mut self, now: NaiveDateTime) -> Result<bool, FiscalError>;

    /// True when the module prints its receipts itself (a kiosk KKT wired to the printer).
    fn prints_receipts(&self) -> bool {
        false
    }

    /// Exactly-once recovery: the receipt made for `expected` after FD `after_fd` (the last FD
    /// number journaled before the sale was sent), if the FN holds one. Reads the FN status,
    /// then each newer document but those in `claimed` (journaled for other documents); a
    /// receipt of the same settlement type and total is the sale.
    fn find_registered(
        &mut self,
        after_fd: u32,
        claimed: &[u32],
        expected: &FiscalDocument,
        now: NaiveDateTime,
    ) -> Result<Option<FoundDocument>, FiscalError> {
        let last = self.status(now)?.last_fd_number;
        for fd in (after_fd + 1)..=last {
            if claimed.contains(&fd) {
                continue;
            }
            if let Some(found) = self.find_document(fd)? {
                if found.matches(expected) {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }
}
