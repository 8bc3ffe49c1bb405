//! Accounts (лицевые счета): number validation, identification from a bill's payment QR code,
//! and personal-data masking for the screen. The lookup behind a trait (files, the back office)
//! is the terminal's: it does I/O.

mod number;
mod qr;

// How personal data is shown on a screen is the screens' rule too: one rule for both.
pub use number::{
    AccountError, AccountNumber, AccountScheme, ChecksumKind, MAX_ACCOUNT_LENGTH,
    MIN_ACCOUNT_LENGTH,
};
pub use qr::{
    identify_bill, identify_from_qr, parse_payment_qr, parse_payment_qr_text, BillAcceptance,
    PaymentQr, QrEncodeError, QrEncoding, QrError, QrField, QrIdentification, ScannerInput,
    MAX_QR_BYTES,
};
pub use ui_model::{mask_address, mask_full_name};
