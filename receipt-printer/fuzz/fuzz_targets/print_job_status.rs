//! Garbage from a printer must never panic the print job or make it send more than the data.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use receipt_printer::job::{JobConfig, PrintJob};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut job = PrintJob::new(b"receipt bytes", JobConfig { chunk_size: 4, ..Default::default() }, start);
    for (i, chunk) in data.chunks(3).enumerate() {
        while job.poll_transmit().is_some() {}
        job.handle_input(chunk, start + Duration::from_millis(i as u64));
        job.handle_timeout(start + Duration::from_millis(i as u64 * 500));
        while job.poll_event().is_some() {}
    }
});
