//! ZVT (ECR interface of card payment terminals) over RS-232: a sans-IO codec and link layer, an
//! ECR-side protocol core, a thin tokio driver, and a terminal emulator that speaks the same bytes.
//!
//! Money rules live with the caller: this crate reports what the terminal says and lets the host
//! decide when to confirm an approval; it never stores or emits a full card number.

pub mod auth;
pub mod codec;
pub mod ecr;
pub mod link;
pub mod messages;
pub mod pan;
pub mod texts;

pub use pan::contains_full_pan;
pub mod driver;
pub mod emulator;
pub mod port;

pub use auth::{
    last_result, reversal_done, Approval, AuthStep, AuthTracker, CardError, LastResult,
};
pub use driver::{
    AuthEvent, Authorisation, CardReader, DriverConfig, PendingApproval, TerminalStatus,
};
pub use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
pub use messages::EndOfDayTotals;
