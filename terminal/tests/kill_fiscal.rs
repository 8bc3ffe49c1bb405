//! Kill tests for fiscalisation: the terminal process (real core, journal, receipt task and
//! Shtrih-M driver) is SIGKILLed at each step of a sale while the wire-level KKT emulator, with
//! its fiscal drive, outlives it. Before the sale (the FN status read), after the first line
//! (`FF46`), after the closing `FF45` was sent (its answer lost), and right after `FF45` was
//! answered. After every restart and recovery: exactly one fiscal document per payment, every one
//! of them journaled with the FN's own FD number, fiscal sign and total.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use backend_sync::JournalEvent;
use bill_acceptor::{Emulator, Protocol};
use fiscal_register::shtrih::emulator::{Fault, KktEmulator};
use fiscal_register::shtrih::frame::Command as KktCommand;
use fiscal_register::shtrih::testkit::sample_config;
use fiscal_register::DocumentKind;
use terminal::journal::Journal;

const FN_STATUS: KktCommand = KktCommand(0xFF01);
const OPERATION: KktCommand = KktCommand(0xFF46);
const CLOSE_CHECK: KktCommand = KktCommand(0xFF45);

fn start_terminal(validator: &Path, kkt: &Path, journal: &Path, log: &Path) -> Child {
    let args: [&OsStr; 9] = [
        "cash-soak".as_ref(),
        "--bills-per-payment".as_ref(),
        "1".as_ref(),
        "--port".as_ref(),
        validator.as_ref(),
        "--fiscal-port".as_ref(),
        kkt.as_ref(),
        "--journal".as_ref(),
        journal.as_ref(),
    ];
    let binary = Path::new(env!("CARGO_BIN_EXE_terminal"));
    support::spawn_logged(binary, &args, "info", log)
}

fn events(journal: &Path) -> Vec<JournalEvent> {
    Journal::open_for_audit(journal)
        .ok()
        .and_then(|j| j.events().ok())
        .map(|e| e.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default()
}

fn executed(kkt: &KktEmulator, command: KktCommand) -> usize {
    kkt.with_core(|c| c.executed().iter().filter(|c| **c == command).count())
}

/// Payments completed, and the fiscal documents journaled for each.
fn fiscalised(events: &[JournalEvent]) -> BTreeMap<String, Vec<(u32, String, i64)>> {
    let mut by_payment: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for e in events {
        match e {
            JournalEvent::PaymentCompleted { payment_id, .. } => {
                by_payment.entry(payment_id.clone()).or_default();
            }
            JournalEvent::ReceiptFiscalised {
                payment_id: Some(p),
                fiscal,
                total_kopecks,
                ..
            } => by_payment.entry(p.clone()).or_default().push((
                fiscal.fd_number,
                fiscal.fiscal_sign.clone(),
                *total_kopecks,
            )),
            _ => {}
        }
    }
    by_payment
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines: Vec<&str> = text.lines().rev().take(40).collect();
    lines.reverse();
    lines.join("\n")
}

/// Where in a sale the process dies: the command the KKT has just run, and whether its answer
/// is lost (holding the terminal in the sale until it is killed).
const KILL_POINTS: [(&str, KktCommand, bool); 4] = [
    ("before the sale", FN_STATUS, true),
    ("after the first line", OPERATION, true),
    ("after FF45 was sent", CLOSE_CHECK, true),
    ("after FF45 was answered", CLOSE_CHECK, false),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_at_each_step_of_a_sale_leaves_exactly_one_fiscal_document_per_payment() {
    let dir = tempfile::tempdir().unwrap();
    let validator_link = dir.path().join("validator");
    let journal = dir.path().join("journal.sqlite");
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kill_fiscal.log");
    let _ = std::fs::remove_file(&log);
    let mut validator = Emulator::spawn(Protocol::Ccnet).unwrap();
    validator.link_to(&validator_link).unwrap();
    let kkt = KktEmulator::spawn(sample_config(), None, None).unwrap();

    for (step, command, lose_answer) in KILL_POINTS {
        let runs_before = executed(&kkt, command);
        // The next sale the KKT sees is cut here: a new payment's, or the recovery of the one
        // the previous kill left unreceipted (which then may be found in the FN, not sold).
        if lose_answer {
            kkt.set_fault(Fault::LoseNextAnswerTo(command), true);
        }
        let mut child = start_terminal(&validator_link, kkt.path(), &journal, &log);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut inserted = false;
        while executed(&kkt, command) == runs_before {
            assert!(
                Instant::now() < deadline,
                "{step}: no sale reached {command}; log:\n{}",
                log_tail(&log)
            );
            if !inserted {
                inserted = validator.insert(100).is_ok();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kkt.set_fault(Fault::LoseNextAnswerTo(command), false);
    }

    // A last start: recovery fiscalises what the last kill left unreceipted.
    let mut child = start_terminal(&validator_link, kkt.path(), &journal, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let by_payment = fiscalised(&events(&journal));
        let cassette: i64 = validator
            .cassette()
            .iter()
            .map(|(d, n)| d * i64::from(*n))
            .sum();
        let receipted: i64 = by_payment.values().flatten().map(|(_, _, t)| t).sum();
        if !by_payment.is_empty()
            && by_payment.values().all(|f| !f.is_empty())
            && receipted >= cassette
        {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let by_payment = fiscalised(&events(&journal));
    assert!(
        settled,
        "not every payment got its receipt: {by_payment:?}; log:\n{}",
        log_tail(&log)
    );

    for (payment, documents) in &by_payment {
        assert_eq!(
            documents.len(),
            1,
            "payment {payment} has {} fiscal documents",
            documents.len()
        );
    }
    let journaled: BTreeMap<u32, (String, i64)> = by_payment
        .values()
        .flatten()
        .map(|(fd, sign, total)| (*fd, (sign.clone(), *total)))
        .collect();
    let in_fn: BTreeMap<u32, (String, i64)> = kkt.with_core(|c| {
        c.documents()
            .iter()
            .filter(|d| matches!(d.kind, DocumentKind::Receipt(_)))
            .map(|d| {
                (
                    d.fd_number,
                    (format!("{:010}", d.fiscal_sign), d.total.unwrap_or(0)),
                )
            })
            .collect()
    });
    assert_eq!(
        in_fn, journaled,
        "the FN's receipts are exactly the journaled ones"
    );
    let stacked: i64 = validator
        .cassette()
        .iter()
        .map(|(d, n)| d * i64::from(*n))
        .sum();
    let receipted: i64 = journaled.values().map(|(_, total)| total).sum();
    assert_eq!(receipted, stacked, "every stacked bill is on a receipt");
}
