#![no_main]
//! The bank's daily СБП registry is a file finance uploads: its parser must refuse garbage with
//! an error naming the line, never panic, and never yield a negative amount.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(lines) = back_office::sbp::registry::parse(data) {
        for l in lines {
            assert!(l.amount_kopecks >= 0);
        }
    }
});
