#![no_main]
//! The acquirer's settlement file parser must refuse garbage with an error, never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(lines) = back_office::settlement::parse(data) {
        for l in lines {
            assert!(l.amount_kopecks >= 0);
        }
    }
});
