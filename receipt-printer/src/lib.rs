//! Receipts for the kiosk: the receipt model and layout, ESC/POS encoding in CP866, printer
//! status, an async printer handle, and an emulator that decodes ESC/POS on a pty. The fiscal
//! documents it lays out come from `fiscal_register`.
//!
//! Typical flow (terminal): build a `fiscal_register::FiscalDocument`, `register` it with a
//! `fiscal_register::FiscalModule`, make [`Receipt::fiscal_payment`], then
//! [`PrinterHandle::print`]. When printing fails the receipt stays reprintable and its
//! [`Receipt::qr_payload`] can be shown on screen instead.

pub mod driver;
pub mod emulator;
pub mod encode;
pub mod job;
pub mod kkt;
pub mod layout;
pub mod model;
pub mod money;
pub mod profile;
pub mod sample;
pub mod status;
pub mod text;

pub use driver::{PrinterHandle, SerialSettings};
pub use emulator::{DecodedReceipt, Emulator, EmulatorHandle, Fault};
pub use encode::{encode_receipt, EncodeError};
pub use job::{JobConfig, PrintError};
pub use layout::{plain_text, shift_report};
pub use model::{BodyLine, Receipt, ReceiptKind};
pub use money::format_rub;
pub use profile::PrinterProfile;
pub use status::PrinterStatus;
