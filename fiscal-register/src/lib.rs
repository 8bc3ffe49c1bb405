//! The fiscal register of a kiosk: FFD 1.2 documents, the fiscal-module interface, an emulated
//! module, and the Shtrih-M KKT protocol.
//!
//! Layers, bottom up (each uses only the ones above it in this list):
//! - `document`, `tlv`: the sale data and its FFD 1.2 tags — pure data.
//! - `interface`: the [`FiscalModule`] trait every fiscal register serves, its results and
//!   its refusals.
//! - `emulated`: [`EmulatedFiscalModule`], a file-backed module for simulation and the demo.
//!
//! Typical flow (terminal): build a [`FiscalDocument`], `register` it with a [`FiscalModule`]
//! and print the [`FiscalResult`]'s attributes (or let a printing KKT do it).

mod document;
mod emulated;
mod interface;
pub mod sample;
pub mod shtrih;
pub mod tlv;

pub use document::{
    qr_string, AgentData, AgentType, FiscalDocument, Item, PaymentMethod, Payments, Seller,
    SettlementType, Subject, Supplier, TaxSystem, VatRate, FNS_SITE,
};
pub use emulated::{fiscal_sign, verify_fiscal_sign, EmulatedFiscalModule};
pub use interface::{
    DocumentKind, FiscalError, FiscalModule, FiscalResult, FnStatus, FnWarnings, FoundDocument,
    ShiftInfo, ZReport, MAX_SHIFT_HOURS,
};
