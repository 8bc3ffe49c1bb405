//! The interface to a fiscal module: the trait, what it returns and why it refuses.
//!
//! Two shapes of fiscal register serve kiosks: a kiosk KKT that prints the receipt itself on the
//! printer wired to it, and a module whose attributes we print over ESC/POS. Both answer
//! [`FiscalModule::register`] with a [`FiscalResult`]; `printed_by_module` tells which happened.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::document::FiscalDocument;

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
    /// FD number of the shift-closing report itself.
    pub fd_number: u32,
    pub fiscal_sign: u32,
}

/// The state of the fiscal storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnStatus {
    pub fn_number: String,
    pub shift_open: bool,
    pub shift: u32,
    pub shift_opened_at: Option<NaiveDateTime>,
    /// True when the open shift is older than 24 hours and must be closed before any sale.
    pub shift_expired: bool,
    pub last_fd_number: u32,
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
}
