//! Accounts (лицевые счета): number validation, identification from a bill's payment QR code,
//! lookup behind a trait with an offline fallback, and personal-data masking for the screen.

mod masking;
mod number;
mod qr;
mod source;

pub use masking::{mask_address, mask_full_name};
pub use number::{
    AccountError, AccountNumber, AccountScheme, ChecksumKind, MAX_ACCOUNT_LENGTH,
    MIN_ACCOUNT_LENGTH,
};
pub use qr::{
    identify_from_qr, parse_payment_qr, parse_payment_qr_text, PaymentQr, QrEncodeError,
    QrEncoding, QrError, QrField, QrIdentification, ScannerInput, MAX_QR_BYTES,
};
pub use source::{
    fall_back_when_unreachable, Account, AccountSource, FixtureError, FixtureSource, LookupError,
    OfflineFallback, Service, ELECTRICITY_SERVICE_ID,
};
