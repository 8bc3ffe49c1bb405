//! The host session and `ShtrihRegister` against the emulated KKT in memory, on a fake clock:
//! a sale end to end, the 24-hour shift, paper out, and a lost answer after registration that
//! recovery resolves without a second document.

use std::time::Duration;

use fiscal_register::sample;
use fiscal_register::shtrih::commands::{Mode, Submode};
use fiscal_register::shtrih::emulator::{Fault, Printed};
use fiscal_register::shtrih::testkit::{sample_config, MemoryLink, SAMPLE_KEY};
use fiscal_register::shtrih::{commands, ErrorCode, LinkConfig, ShtrihError, ShtrihRegister};
use fiscal_register::{verify_fiscal_sign, DocumentKind, FiscalError, FiscalModule};

fn register() -> ShtrihRegister<MemoryLink> {
    ShtrihRegister::new(
        MemoryLink::new(sample_config(), LinkConfig::default()),
        true,
    )
}

fn now() -> chrono::NaiveDateTime {
    sample::time()
}

fn fault(reg: &ShtrihRegister<MemoryLink>, fault: Fault, on: bool) {
    reg.with_exchange(|l| l.kkt.set_fault(fault, on)).unwrap();
}

fn receipts_in_fn(reg: &ShtrihRegister<MemoryLink>) -> usize {
    reg.with_exchange(|l| {
        l.kkt
            .documents()
            .iter()
            .filter(|d| matches!(d.kind, DocumentKind::Receipt(_)))
            .count()
    })
    .unwrap()
}

fn printed(reg: &ShtrihRegister<MemoryLink>) -> Vec<Printed> {
    reg.with_exchange(|l| std::iter::from_fn(|| l.kkt.poll_printed()).collect())
        .unwrap()
}

#[test]
fn a_sale_goes_end_to_end_and_the_printed_receipt_is_what_was_sold() {
    let mut reg = register();
    let shift = reg.open_shift(now()).unwrap();
    assert_eq!((shift.shift, shift.fd_number), (1, 1));
    let doc = sample::document();
    let result = reg.register(&doc, now()).unwrap();
    assert_eq!(
        (result.fd_number, result.shift, result.receipt_in_shift),
        (2, 1, 1)
    );
    assert!(result.printed_by_module);
    assert_eq!(result.fn_number, "9999078900012345");
    // The KKT built the receipt from the wire: same items, agent data, payments, seller.
    let out = printed(&reg);
    let Some(Printed::Receipt {
        document,
        result: printed_result,
    }) = out.first()
    else {
        panic!("nothing printed: {out:?}");
    };
    assert_eq!(**document, doc);
    assert_eq!(printed_result, &result);
    assert!(verify_fiscal_sign(SAMPLE_KEY, &doc, &result));
    let status = reg.status(now()).unwrap();
    assert_eq!((status.last_fd_number, status.open_receipt), (2, false));
    let z = reg.close_shift(now()).unwrap();
    assert_eq!((z.receipts, z.income, z.fd_number), (1, doc.total(), 3));
}

#[test]
fn a_shift_older_than_24_hours_refuses_sales_until_it_is_closed() {
    let mut reg = register();
    reg.open_shift(now()).unwrap();
    reg.with_exchange(|l| l.advance(Duration::from_secs(24 * 3600 + 60)))
        .unwrap();
    let status = reg.status(now()).unwrap();
    assert!(status.shift_expired);
    let err = reg.register(&sample::cash_sale(10_000), now()).unwrap_err();
    assert!(
        matches!(err, FiscalError::ShiftExpired { shift: 1, .. }),
        "{err}"
    );
    assert_eq!(receipts_in_fn(&reg), 0);
    reg.close_shift(now()).unwrap();
    assert_eq!(reg.open_shift(now()).unwrap().shift, 2);
    assert_eq!(
        reg.register(&sample::cash_sale(10_000), now())
            .unwrap()
            .shift,
        2
    );
}

#[test]
fn paper_out_refuses_the_sale_and_leaves_nothing_open() {
    let mut reg = register();
    reg.open_shift(now()).unwrap();
    fault(&reg, Fault::PaperOut, true);
    let short = reg.short_status().unwrap();
    assert!(!short.paper_present());
    assert_eq!(short.submode, Submode::PassiveOutOfPaper);
    let err = reg.register(&sample::cash_sale(5_000), now()).unwrap_err();
    assert!(
        matches!(
            err,
            FiscalError::Kkt(ShtrihError::Refused {
                code: ErrorCode::NoReceiptPaper,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.message_ru(), "Нет чековой ленты");
    let status = reg.status(now()).unwrap();
    assert_eq!((status.last_fd_number, status.open_receipt), (1, false));
    fault(&reg, Fault::PaperOut, false);
    assert_eq!(
        reg.register(&sample::cash_sale(5_000), now())
            .unwrap()
            .fd_number,
        2
    );
}

#[test]
fn paper_ending_while_printing_holds_the_receipt_until_continue_print() {
    let mut reg = register();
    reg.open_shift(now()).unwrap();
    printed(&reg);
    fault(&reg, Fault::PaperEndsDuringPrint, true);
    let result = reg.register(&sample::cash_sale(7_000), now()).unwrap();
    assert!(printed(&reg).is_empty());
    assert_eq!(
        reg.short_status().unwrap().submode,
        Submode::ActiveOutOfPaper
    );
    fault(&reg, Fault::PaperOut, false);
    assert_eq!(
        reg.short_status().unwrap().submode,
        Submode::WaitingContinuePrint
    );
    reg.continue_print().unwrap();
    let out = printed(&reg);
    assert!(matches!(&out[..], [Printed::Receipt { result: r, .. }] if *r == result));
    assert_eq!(reg.short_status().unwrap().submode, Submode::PaperPresent);
}

#[test]
fn an_answer_lost_after_registration_is_recovered_from_the_fn_without_a_second_receipt() {
    let mut reg = register();
    reg.open_shift(now()).unwrap();
    fault(&reg, Fault::LoseAnswerAfterRegistration, true);
    let doc = sample::cash_sale(123_456);
    let result = reg.register(&doc, now()).unwrap();
    assert_eq!(result.fd_number, 2);
    assert!(verify_fiscal_sign(SAMPLE_KEY, &doc, &result));
    assert_eq!(receipts_in_fn(&reg), 1);
    let closes = reg
        .with_exchange(|l| {
            l.kkt
                .executed()
                .iter()
                .filter(|c| **c == commands::CLOSE_CHECK)
                .count()
        })
        .unwrap();
    assert_eq!(closes, 1, "FF45 must run exactly once");
    // The kiosk's own restart recovery finds the same document from its journaled FD.
    let found = reg.find_registered(1, &[], &doc, now()).unwrap().unwrap();
    assert_eq!(
        (found.fd_number, found.fiscal_sign),
        (2, result.fiscal_sign)
    );
}

#[test]
fn an_answer_lost_before_registration_cancels_the_open_receipt_and_sells_once() {
    let mut reg = register();
    reg.open_shift(now()).unwrap();
    printed(&reg);
    fault(&reg, Fault::LoseNextAnswerTo(commands::OPERATION), true);
    let doc = sample::cash_sale(50_000);
    let result = reg.register(&doc, now()).unwrap();
    assert_eq!(result.fd_number, 2);
    assert_eq!(receipts_in_fn(&reg), 1);
    // The first FF46 ran in the KKT (its line was cancelled with the receipt), then the sale
    // was made once, whole.
    let ops = reg
        .with_exchange(|l| {
            let ex = l.kkt.executed();
            (
                ex.iter().filter(|c| **c == commands::OPERATION).count(),
                ex.iter()
                    .filter(|c| **c == commands::CANCEL_FN_DOCUMENT)
                    .count(),
            )
        })
        .unwrap();
    assert_eq!(ops, (2, 1));
    let out = printed(&reg);
    assert!(matches!(&out[..], [Printed::Receipt { document, .. }] if document.items.len() == 1));
}

#[test]
fn an_answer_garbled_on_the_line_is_asked_for_again_not_the_command_resent() {
    let mut reg = register();
    reg.open_shift(now()).unwrap();
    // Drop the first answer to FF46 on the line: the line is open in the KKT, no FD exists.
    let mut dropped = false;
    reg.with_exchange(|l| {
        l.line = Some(Box::new(move |dir, bytes| {
            let is_ff46 = bytes.len() > 4 && bytes[0] == 0x02 && bytes[2..4] == [0xFF, 0x46];
            if dir == fiscal_register::shtrih::testkit::Direction::KktToHost && is_ff46 && !dropped
            {
                dropped = true;
                return Vec::new();
            }
            bytes
        }))
    })
    .unwrap();
    let doc = sample::cash_sale(50_000);
    let result = reg.register(&doc, now()).unwrap();
    assert_eq!(result.fd_number, 2);
    assert_eq!(receipts_in_fn(&reg), 1);
    assert_eq!(
        reg.with_exchange(|l| l.kkt.documents()[1].total).unwrap(),
        Some(50_000)
    );
}

#[test]
fn a_receipt_left_open_by_a_crash_is_cancelled_before_the_next_sale() {
    let mut reg = register();
    reg.open_shift(now()).unwrap();
    let line = fiscal_register::shtrih::sale_requests(&sample::cash_sale(1_000)).unwrap();
    reg.with_exchange(|l| l.call(line[0].clone()))
        .unwrap()
        .unwrap();
    assert_eq!(reg.short_status().unwrap().mode, Mode::ReceiptOpen(0));
    assert!(reg.status(now()).unwrap().open_receipt);
    assert!(reg.cancel_open_receipt(now()).unwrap());
    assert!(!reg.status(now()).unwrap().open_receipt);
    assert_eq!(
        reg.register(&sample::cash_sale(2_000), now())
            .unwrap()
            .fd_number,
        2
    );
}

#[test]
fn fn_warnings_and_unsent_ofd_documents_reach_the_status() {
    let mut reg = register();
    fault(&reg, Fault::MemoryNearFull, true);
    fault(&reg, Fault::OfdOffline, true);
    reg.open_shift(now()).unwrap();
    reg.register(&sample::cash_sale(1_000), now()).unwrap();
    let w = reg.status(now()).unwrap().warnings;
    assert!(w.memory_near_full && w.ofd_timeout);
    assert_eq!(w.unsent_documents, 2);
    assert!(w.oldest_unsent.is_some());
    // Thirty days later (shifts renewed) the FN refuses to sell until the OFD is reached.
    for _ in 0..31 {
        reg.close_shift(now()).unwrap();
        reg.with_exchange(|l| l.advance(Duration::from_secs(24 * 3600)))
            .unwrap();
        reg.open_shift(now()).unwrap();
    }
    let err = reg.register(&sample::cash_sale(1_000), now()).unwrap_err();
    assert!(err.message_ru().contains("30 дней"), "{err}");
    fault(&reg, Fault::OfdOffline, false);
    assert_eq!(reg.status(now()).unwrap().warnings.unsent_documents, 0);
    reg.register(&sample::cash_sale(1_000), now()).unwrap();
}

/// The wire cost of the typical kiosk sale (one service, cash), for BENCHMARKS.md: bytes both
/// ways for the sale proper (FF46, FF4D, FF0C, FF45) and for the whole `register` call (with
/// the FN status and mode checks before and the shift query after), each byte 10 bits on an
/// 8N1 line. Run with `--nocapture` to see the figures.
#[test]
fn wire_bytes_of_a_typical_cash_sale() {
    let doc = sample::cash_sale(150_000);
    let requests = fiscal_register::shtrih::sale_requests(&doc).unwrap();
    let mut link = MemoryLink::new(sample_config(), LinkConfig::default());
    for r in [
        fiscal_register::shtrih::Request::BeginOpenShift,
        fiscal_register::shtrih::Request::OpenShiftFn,
    ] {
        link.call(r).unwrap();
    }
    let (to_kkt, to_host) = (link.bytes_to_kkt, link.bytes_to_host);
    let mut expected = 0;
    for r in &requests {
        let frame = r.encode(30).len() + 3;
        // Host: ENQ, frame, ACK of the answer. KKT: NAK to ENQ, ACK of the frame, answer.
        expected += 1 + frame + 1 + 1 + 1;
        let before = link.bytes_to_kkt + link.bytes_to_host;
        link.call(r.clone()).unwrap();
        let moved = link.bytes_to_kkt + link.bytes_to_host - before;
        println!(
            "{}: command frame {frame} bytes, exchange {moved} bytes",
            r.command()
        );
    }
    let sale = link.bytes_to_kkt - to_kkt + link.bytes_to_host - to_host;
    let answers = sale - expected;
    let mut reg = ShtrihRegister::new(link, true);
    let before = reg
        .with_exchange(|l| l.bytes_to_kkt + l.bytes_to_host)
        .unwrap();
    reg.register(&doc, now()).unwrap();
    let whole = reg
        .with_exchange(|l| l.bytes_to_kkt + l.bytes_to_host)
        .unwrap()
        - before;
    let ms = |bytes: usize, baud: u32| bytes as f64 * 10.0 * 1000.0 / f64::from(baud);
    println!(
        "sale proper: {} requests, {sale} bytes ({answers} in answer frames): {:.1} ms at 115200, {:.1} ms at 9600",
        requests.len(),
        ms(sale, 115_200),
        ms(sale, 9_600)
    );
    println!(
        "whole register(): {whole} bytes: {:.1} ms at 115200, {:.1} ms at 9600",
        ms(whole, 115_200),
        ms(whole, 9_600)
    );
    assert!(answers > 0 && sale > expected);
    assert!(whole > sale);
}
