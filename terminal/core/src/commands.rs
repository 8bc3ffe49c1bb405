//! What the core asks of the cash and card devices. The session and the service desk both send
//! these; the terminal's device tasks carry them out.

use crate::money::Money;

/// Commands for the bill validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillCommand {
    /// Accept bills up to this amount.
    Enable {
        max_bill: Money,
    },
    Disable,
    Stack,
    Return,
}

/// Commands for the card reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardCommand {
    Authorise {
        payment_id: String,
        amount: Money,
    },
    /// Answer to the unattended "goods issued?" question: true → 80 00, false → 84 66.
    GoodsIssued {
        payment_id: String,
        issued: bool,
    },
    Abort,
    /// Service mode: run the reader's diagnosis (ZVT 06 70).
    Diagnose,
    /// Recovery: ask the terminal what became of a payment whose outcome is unknown (06 20,
    /// repeated while the terminal is busy); the answer comes back as a [`CardRecoveryStep`].
    ///
    /// [`CardRecoveryStep`]: crate::session::CardRecoveryStep
    Recover {
        payment_id: String,
    },
    /// Recovery: reverse it (06 30); `CardReversalRequested` is journaled first.
    Reverse {
        payment_id: String,
        receipt_no: u32,
    },
    /// Recovery of this payment is settled: the reader may serve payments again.
    Resolved {
        payment_id: String,
    },
}
