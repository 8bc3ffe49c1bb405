//! Accounts (лицевые счета): number validation, identification from a bill's payment QR code,
//! and personal-data masking for the screen. The lookup behind a trait (files, the back office)
//! is the terminal's: it does I/O.

mod masking;
mod number;
mod qr;

pub use masking::{mask_address, mask_full_name};
pub use number::{
    AccountError, AccountNumber, AccountScheme, ChecksumKind, MAX_ACCOUNT_LENGTH,
    MIN_ACCOUNT_LENGTH,
};
pub use qr::{
    identify_from_qr, parse_payment_qr, parse_payment_qr_text, PaymentQr, QrEncodeError,
    QrEncoding, QrError, QrField, QrIdentification, ScannerInput, MAX_QR_BYTES,
};
