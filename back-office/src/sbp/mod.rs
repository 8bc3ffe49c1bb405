//! СБП (Faster Payments System) QR payments through the back office: the kiosk asks for a
//! dynamic QR of one payment, watches its state and revokes it; the back office alone talks to
//! the bank and holds its credentials.
//!
//! Layers, each a module with one job (no cycles): [`bank`] the adapter seam (trait, answers,
//! errors), [`tbank`] the T-Bank adapter, [`store`] the `sbp_qrs` table and the state rule,
//! `service` ([`Sbp`]: create/status/revoke/refund/notification over store and bank, the bank's
//! health), `api` (the signed kiosk endpoints and the bank's notification endpoint), `poller`
//! (the fallback for lost notifications and unanswered revokes, expiry, the bank-unreachable
//! alert), [`registry`] (the bank's daily registry against the journal), `pages` (finance),
//! [`config`] (the `--sbp-config` file). Money rule: `Paid` only on the bank's `CONFIRMED` (a
//! notification with a valid signature or a `GetState`), and `Paid` only ever becomes
//! `Refunded`; the kiosk's journal stays the truth of what was credited.

pub(crate) mod api;
pub mod bank;
pub mod config;
pub(crate) mod pages;
mod poller;
pub mod registry;
mod service;
pub mod store;
pub mod tbank;

pub use bank::{BankError, BankNotification, BankState, QrRegistration, RegisteredQr, SbpBank};
pub use config::SbpConfig;
pub use service::{Sbp, SbpSettings};
