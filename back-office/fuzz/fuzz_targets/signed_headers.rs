#![no_main]
//! Authentication headers from the network: parsing and verification must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(5, '\n');
    let fields: Vec<&str> = (0..5).map(|_| parts.next().unwrap_or("")).collect();
    let get = |name: &str| match name {
        backend_sync::auth::HEADER_TERMINAL => Some(fields[0]),
        backend_sync::auth::HEADER_TIMESTAMP => Some(fields[1]),
        backend_sync::auth::HEADER_NONCE => Some(fields[2]),
        backend_sync::auth::HEADER_SIGNATURE => Some(fields[3]),
        _ => None,
    };
    if let Ok(h) = backend_sync::auth::headers_from(get) {
        let _ = backend_sync::auth::verify(&[7u8; 32], &h, "POST", "/api/v1/ingest", fields[4].as_bytes(), 1_800_000_000);
    }
});
