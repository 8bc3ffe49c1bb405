//! Accounts (лицевые счета): the pure rules (number validation, payment QR codes, masking) are
//! the core's and re-exported here; this module adds the lookup behind a trait with an offline
//! fallback.

mod source;

pub use kiosk_core::accounts::*;
pub use source::{
    fall_back_when_unreachable, Account, AccountSource, FixtureError, FixtureSource, LookupError,
    OfflineFallback, Service, ELECTRICITY_SERVICE_ID,
};
