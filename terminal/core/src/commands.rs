//! What the core asks of the cash and card devices and of the СБП task. The session and the service desk both send
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

/// What the session asks of the СБП task (which talks to the back office, which talks to the
/// bank). The task reports every change of the payment's state as an
/// [`SbpReport`](crate::session::SbpReport) until the bank's final answer, retrying through
/// network faults and restarts of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbpCommand {
    /// Register a dynamic QR for this payment and amount (idempotent by `payment_id` at the back
    /// office) and watch it.
    Create {
        payment_id: String,
        amount: Money,
        account: String,
    },
    /// Revoke the QR unless it is paid, and watch it until the bank's final answer.
    Revoke { payment_id: String },
}
