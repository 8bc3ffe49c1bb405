//! Kill tests for cash: the terminal process (real core, journal and CCNET driver) is SIGKILLed at
//! random moments while a customer keeps inserting bills into a wire-level emulator that outlives
//! it. After every restart and recovery, the journal must credit exactly what the cassette holds.
//!
//! `kill_during_cash_insertions` runs a short version in the normal suite; the 200-insertion version
//! is `cargo test -p terminal --test kill_cash -- --ignored` (see BENCHMARKS.md).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use backend_sync::JournalEvent;
use bill_acceptor::{Emulator, Protocol};
use rand::{rngs::StdRng, Rng, SeedableRng};
use terminal::journal::Journal;

const BILLS: [i64; 6] = [10, 50, 100, 500, 1000, 5000];

fn stacked_in_journal(journal: &Path) -> i64 {
    let j = Journal::open_for_audit(journal).unwrap();
    j.events()
        .unwrap()
        .iter()
        .filter_map(|(_, e)| match e {
            JournalEvent::BillStacked {
                denomination_kopecks,
                ..
            } => Some(*denomination_kopecks),
            _ => None,
        })
        .sum()
}

async fn run_kill_test(insertions: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("validator");
    let journal = dir.path().join("journal.sqlite");
    let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kill_cash_{seed}.log"));
    let _ = std::fs::remove_file(&log);
    let mut emulator = Emulator::spawn(Protocol::Ccnet).unwrap();
    emulator.link_to(&link).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);

    let mut inserted = 0;
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(60 + insertions as u64 * 10);
    while inserted < insertions {
        if Instant::now() >= deadline {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            eprintln!(
                "{}",
                log_text
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert!(
            Instant::now() < deadline,
            "too slow: {inserted} of {insertions} bills in, log at {}",
            log.display()
        );
        let mut child = support::start_cash_soak(&link, &journal, &log, &[]);
        let lifetime = Duration::from_millis(rng.gen_range(1_000..5_000));
        let born = Instant::now();
        while born.elapsed() < lifetime && inserted < insertions {
            let bill = BILLS[rng.gen_range(0..BILLS.len())];
            if emulator.insert(bill).is_ok() {
                inserted += 1;
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(50..400))).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // The validator keeps its power: an unacknowledged report waits for the next terminal.
        let journaled = stacked_in_journal(&journal);
        assert!(
            journaled <= support::cassette_kopecks(&emulator),
            "journal credited more than the cassette holds"
        );
    }

    // A last start: recovery settles what the last kill left open.
    let mut child = support::start_cash_soak(&link, &journal, &log, &[]);
    let settle = Instant::now();
    let settled = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some((ledger, _)) = support::replayed_ledger(&journal) {
            let in_flight = ledger
                .open_payments
                .values()
                .any(|p| p.stack_in_flight.is_some() || p.stacked.kopecks() > 0);
            if !in_flight && ledger.stacked_total.kopecks() == support::cassette_kopecks(&emulator)
            {
                break true;
            }
        }
        if settle.elapsed() > Duration::from_secs(60) {
            break false;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = log_text
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        settled,
        "recovery did not settle after {kills} kills; log tail:\n{tail}"
    );

    let (ledger, entries) = support::replayed_ledger(&journal).expect("journal verifies");
    let cassette = support::cassette_kopecks(&emulator);
    assert_eq!(
        ledger.stacked_total.kopecks(),
        cassette,
        "stacked in journal vs cassette"
    );
    assert_eq!(
        ledger.credited_total.kopecks(),
        cassette,
        "credited to accounts vs cassette"
    );
    eprintln!("{inserted} bills, {kills} kills, {entries} journal entries, cassette {cassette} kopecks: all credited once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_cash_insertions() {
    run_kill_test(8, 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: 200 insertions with random kills, about 5 minutes"]
async fn kill_during_200_cash_insertions() {
    run_kill_test(200, 2026).await;
}
