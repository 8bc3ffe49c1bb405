//! `terminal run --simulate --fiscal shtrih` without its window: the simulated cabinet with the
//! Shtrih-M KKT emulator on a pty, driven by the real driver exactly as `[fiscal] kind = "shtrih"`
//! drives one. A cash and a card payment each end with one fiscal document in the emulated FN,
//! printed by the KKT; the 54-FZ QR code read back from the rendered PNG by an ordinary QR
//! reader (`rqrr`, not our encoder) is the one the journal holds.
//!
//! `KIOSK_DOCS_PNG_DIR=docs/screens/fiscal cargo test -p terminal --test fiscal_flows` writes
//! the two printouts there.

mod support;

use std::time::{Duration, Instant};

use backend_sync::JournalEvent;
use fiscal_register::DocumentKind;
use receipt_printer::emulator::render_png;
use receipt_printer::{DecodedReceipt, PrinterProfile};
use terminal::journal::Journal;
use terminal::money::Money;
use terminal::runtime::{wait_for_screen, CoreEvent};
use terminal::session::{Intent, Purpose, ReceiptChoice, Screen, SessionConfig, View};
use terminal::sim_devices::{self, SimFiscal};
use tokio::sync::{mpsc, watch};

const LIMIT: Duration = Duration::from_secs(30);

async fn to_summary(core: &mpsc::Sender<CoreEvent>, view: &mut watch::Receiver<View>) {
    let send = |i: Intent| core.send(CoreEvent::Ui(i));
    send(Intent::Start(Purpose::Pay)).await.unwrap();
    assert!(wait_for_screen(view, LIMIT, |s| matches!(s, Screen::AccountEntry { .. })).await);
    send(Intent::SubmitAccount("1000000001".into()))
        .await
        .unwrap();
    assert!(wait_for_screen(view, LIMIT, |s| matches!(s, Screen::Summary { .. })).await);
}

async fn take_paper_receipt(core: &mpsc::Sender<CoreEvent>, view: &mut watch::Receiver<View>) {
    let send = |i: Intent| core.send(CoreEvent::Ui(i));
    assert!(
        wait_for_screen(view, LIMIT, |s| matches!(s, Screen::ReceiptChoice { .. })).await,
        "{:?}",
        view.borrow().screen
    );
    send(Intent::ChooseReceipt(ReceiptChoice::Paper))
        .await
        .unwrap();
    assert!(
        wait_for_screen(view, LIMIT, |s| matches!(s, Screen::Done { .. })).await,
        "the receipt was not fiscalised: {:?}",
        view.borrow().screen
    );
    send(Intent::Home).await.unwrap();
    assert!(wait_for_screen(view, LIMIT, |s| matches!(s, Screen::Welcome)).await);
}

/// What a phone's camera app would read off the paper.
fn qr_read_back(receipt: &DecodedReceipt, profile: &PrinterProfile) -> (Vec<u8>, String) {
    let png = render_png(receipt, profile.dots).unwrap();
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the receipt");
    let (_, content) = grids[0].decode().unwrap();
    (png, content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cash_and_card_payments_are_printed_by_the_emulated_kkt_with_the_journaled_qr() {
    let dir = tempfile::tempdir().unwrap();
    let (core_tx, core_rx) = mpsc::channel(64);
    let devices = sim_devices::start_with(core_tx.clone(), dir.path(), None, SimFiscal::Shtrih)
        .await
        .unwrap();
    let journal = Journal::open(&dir.path().join("journal.sqlite")).unwrap();
    let (core, mut view) = support::core(
        SessionConfig::new("SIM01", support::limits()),
        journal,
        devices.links.clone(),
    );
    let core_task = tokio::spawn(core.run(core_rx));
    let send = |i: Intent| core_tx.send(CoreEvent::Ui(i));

    // Cash: 1000 + 500, like a customer who waits for the validator to light up.
    to_summary(&core_tx, &mut view).await;
    send(Intent::PayCash).await.unwrap();
    assert!(wait_for_screen(&mut view, LIMIT, |s| matches!(s, Screen::Cash { .. })).await);
    let mut inserted = Money::ZERO;
    for rubles in [1_000, 500] {
        let deadline = Instant::now() + LIMIT;
        while devices.bill.insert(rubles).is_err() {
            assert!(Instant::now() < deadline, "the validator never accepted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        inserted += Money::from_rubles(rubles);
        assert!(
            wait_for_screen(&mut view, LIMIT, |s| {
                matches!(s, Screen::Cash { inserted: i, busy: false, .. } if *i == inserted)
            })
            .await
        );
    }
    send(Intent::FinishCash).await.unwrap();
    take_paper_receipt(&core_tx, &mut view).await;

    // Card: 700 ₽, approved by the emulated terminal.
    to_summary(&core_tx, &mut view).await;
    send(Intent::SetServiceAmount {
        index: 0,
        text: "700".into(),
    })
    .await
    .unwrap();
    send(Intent::PayCard).await.unwrap();
    take_paper_receipt(&core_tx, &mut view).await;

    core_tx.send(CoreEvent::Shutdown).await.unwrap();
    let journal = core_task.await.unwrap().unwrap();
    let fiscalised: Vec<_> = journal
        .events()
        .unwrap()
        .into_iter()
        .filter_map(|(_, e)| match e {
            JournalEvent::ReceiptFiscalised {
                fiscal,
                total_kopecks,
                ..
            } => Some((fiscal, total_kopecks)),
            _ => None,
        })
        .collect();
    assert_eq!(fiscalised.len(), 2, "{fiscalised:?}");
    assert_eq!(fiscalised[0].1, 150_000);

    let kkt = devices.kkt.as_ref().expect("a KKT in the cabinet");
    // One fiscal document per payment in the FN, each the one the journal names.
    let in_fn: Vec<(u32, String)> = kkt.emulator.with_core(|c| {
        c.documents()
            .iter()
            .filter(|d| matches!(d.kind, DocumentKind::Receipt(_)))
            .map(|d| (d.fd_number, format!("{:010}", d.fiscal_sign)))
            .collect()
    });
    let journaled: Vec<(u32, String)> = fiscalised
        .iter()
        .map(|(f, _)| (f.fd_number, f.fiscal_sign.clone()))
        .collect();
    assert_eq!(in_fn, journaled);

    // Both printed by the KKT, each carrying the journaled QR, readable off the rendered paper.
    let deadline = Instant::now() + Duration::from_secs(10);
    let printed = loop {
        let printed = kkt.printed.lock().unwrap().clone();
        if printed.len() >= 2 || Instant::now() > deadline {
            break printed;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(printed.len(), 2, "two printouts from the KKT");
    let profile = PrinterProfile::EPSON_TM_T20;
    for (n, (receipt, (fiscal, _))) in printed.iter().zip(&fiscalised).enumerate() {
        assert_eq!(receipt.qr_codes(), vec![fiscal.qr.as_str()]);
        let (png, read) = qr_read_back(receipt, &profile);
        assert_eq!(read, fiscal.qr);
        assert!(
            read.contains(&format!("&i={}&", fiscal.fd_number)) && read.ends_with("&n=1"),
            "{read}"
        );
        if let Ok(out) = std::env::var("KIOSK_DOCS_PNG_DIR") {
            let name = ["kkt-cash-receipt.png", "kkt-card-receipt.png"][n];
            std::fs::write(std::path::Path::new(&out).join(name), png).unwrap();
        }
    }
    let paid_by = |r: &DecodedReceipt| -> Vec<String> {
        r.text()
            .lines()
            .filter(|l| l.starts_with("НАЛИЧНЫМИ") || l.starts_with("БЕЗНАЛИЧНЫМИ"))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(paid_by(&printed[0]), ["НАЛИЧНЫМИ"], "{}", printed[0].text());
    assert_eq!(
        paid_by(&printed[1]),
        ["БЕЗНАЛИЧНЫМИ"],
        "{}",
        printed[1].text()
    );
    // The cabinet keeps the printouts where `run --simulate` says.
    let saved = kkt.printout_dir.join("kkt-receipt-0002.png");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !saved.exists() {
        assert!(Instant::now() < deadline, "{} not saved", saved.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}
