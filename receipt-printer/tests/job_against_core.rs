//! The sans-IO print job against the sans-IO printer core: whatever the paper does, the job
//! ends, and its verdict matches what came out of the printer.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use receipt_printer::emulator::PrinterCore;
use receipt_printer::job::{JobConfig, JobEvent, PrintJob};
use receipt_printer::{
    encode_receipt, plain_text, sample, BodyLine, PrintError, PrinterProfile, Receipt, ReceiptKind,
};

fn slip(lines: usize) -> Receipt {
    let mut r = Receipt::new(ReceiptKind::Encashment, sample::time());
    r.body = (0..lines)
        .map(|i| BodyLine::Pair(format!("Купюра {i}"), format!("{} руб.", i * 100)))
        .collect();
    r
}

proptest! {
    #[test]
    fn job_verdict_matches_the_paper(lines in 1usize..40, paper in proptest::option::of(0u32..60), chunk in 8usize..300) {
        let profile = PrinterProfile::EPSON_TM_T88;
        let receipt = slip(lines);
        let bytes = encode_receipt(&receipt, &profile).unwrap();
        let mut core = PrinterCore::new(profile.clone());
        if let Some(n) = paper {
            core.paper_out_after(n);
        }
        let now = Instant::now();
        let mut job = PrintJob::new(&bytes, JobConfig { chunk_size: chunk, reply_timeout: Duration::from_millis(100), attempts: 2 }, now);
        let mut verdict = None;
        for _ in 0..10_000 {
            while let Some(out) = job.poll_transmit() {
                core.handle_input(&out);
            }
            while let Some(reply) = core.poll_transmit() {
                job.handle_input(&reply, now);
            }
            while let Some(ev) = job.poll_event() {
                if let JobEvent::Finished(r) = ev {
                    verdict = Some(r);
                }
            }
            if verdict.is_some() {
                break;
            }
        }
        let verdict = verdict.expect("the job ends");
        let printed = core.poll_receipt();
        match verdict {
            Ok(_) => {
                let printed = printed.expect("a receipt came out");
                prop_assert!(!printed.interrupted);
                prop_assert_eq!(printed.text(), plain_text(&receipt, profile.columns));
            }
            Err(PrintError::PaperOut) => {
                prop_assert!(core.status().paper_out);
                // Either nothing came out, or a torn receipt.
                prop_assert!(printed.is_none_or(|r| r.interrupted));
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}
