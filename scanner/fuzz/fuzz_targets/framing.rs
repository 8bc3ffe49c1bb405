//! Arbitrary bytes from the scanner's line into the serial framer, and arbitrary key events into
//! the HID decoder: no panic, and no code longer than the limit ever comes out.
#![no_main]

use barcode_scanner::{HidDecoder, KeyLayout, Scan, SerialFramer, SerialFraming, MAX_CODE_BYTES};
use libfuzzer_sys::fuzz_target;

fn check(scan: &Scan) {
    if let Scan::Code(bytes) = scan {
        assert!(!bytes.is_empty() && bytes.len() <= MAX_CODE_BYTES);
    }
}

fuzz_target!(|data: &[u8]| {
    for terminator in [&b"\r"[..], b"\r\n", b""] {
        let mut framer = SerialFramer::new(SerialFraming {
            terminator: terminator.to_vec(),
            max_len: MAX_CODE_BYTES,
        });
        // The first byte picks where the reads split.
        let split = usize::from(data.first().copied().unwrap_or(1)).max(1);
        for chunk in data.chunks(split) {
            framer.push(chunk).iter().for_each(check);
        }
        framer.idle().iter().for_each(check);
    }
    let mut decoder = HidDecoder::new(KeyLayout::Us);
    for event in data.chunks_exact(3) {
        let code = u16::from_le_bytes([event[0], event[1]]);
        let value = i32::from(event[2] % 3);
        decoder.key(code, value).iter().for_each(check);
    }
    decoder.idle().iter().for_each(check);
});
