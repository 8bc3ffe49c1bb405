//! Bill QR parser (GOST R 56042-2014) on arbitrary scanner bytes: never panics, and any code it
//! accepts writes back out and parses again to the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;
use kiosk_core::accounts::{
    identify_from_qr, parse_payment_qr, parse_payment_qr_text, AccountScheme, ScannerInput,
};

fuzz_target!(|data: &[u8]| {
    let scheme = AccountScheme::default();
    if let Ok(qr) = parse_payment_qr(data) {
        let text = qr.to_text().expect("a parsed code can be written back");
        let again = parse_payment_qr_text(&text).expect("a written code parses");
        assert_eq!(again, qr);
    }
    let _ = identify_from_qr(ScannerInput::Bytes(data), &scheme);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = identify_from_qr(ScannerInput::Text(text), &scheme);
    }
});
