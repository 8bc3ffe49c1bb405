//! Arbitrary bytes from a host must never panic the emulated printer, and every status request
//! in them gets exactly one valid reply byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use receipt_printer::emulator::PrinterCore;
use receipt_printer::PrinterProfile;

fuzz_target!(|data: &[u8]| {
    let mut core = PrinterCore::new(PrinterProfile::EPSON_TM_T20);
    for chunk in data.chunks(7) {
        core.handle_input(chunk);
    }
    while let Some(reply) = core.poll_transmit() {
        assert!(reply.iter().all(|&b| receipt_printer::status::is_status_byte(b)));
    }
    while let Some(receipt) = core.poll_receipt() {
        let _ = receipt.text();
    }
});
