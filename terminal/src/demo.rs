//! `terminal demo`: a scripted customer pays a fixture account 1 500,00 ₽ in cash (1000 + 500)
//! through the real session core and journal, on simulated devices; the receipt goes to stdout and
//! the journal is verified. Runs headless on any machine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::journal::Journal;
use crate::money::{Limits, Money};
use crate::runtime::{scripted_core, wait_for_screen, CoreEvent};
use crate::session::{CustomerAccount, Intent, Purpose, ReceiptChoice, Screen, View};
use crate::sim_devices::{self, SimDevices};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo customer got stuck: expected {expected}, the screen shows {shown}")]
    Stuck {
        expected: &'static str,
        shown: String,
    },
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    #[error("journal verification failed: {0}")]
    Verify(#[from] crate::journal::VerifyError),
    #[error("core: {0}")]
    Core(#[from] crate::runtime::CoreError),
    #[error("core task panicked")]
    Join,
    #[error("bill validator emulator: {0}")]
    Emulator(std::io::Error),
    #[error("bill validator: {0}")]
    Driver(String),
    #[error("simulated devices: {0}")]
    Devices(#[from] crate::sim_devices::SimError),
    #[error("the journal credited {journal} but the cassette holds {cassette}")]
    Mismatch { journal: Money, cassette: Money },
}

/// The demo account 1000000001 (1 500,00 ₽ owed), as the lookup hands it to the session.
pub fn demo_account() -> CustomerAccount {
    use crate::accounts::{AccountScheme, AccountSource, FixtureSource};
    let scheme = AccountScheme::default();
    scheme
        .parse("1000000001")
        .ok()
        .and_then(|n| FixtureSource::demo().lookup(&n).ok().flatten())
        .map(crate::devices::lookup::customer_account)
        .unwrap_or_else(|| CustomerAccount {
            number: "1000000001".into(),
            verified: false,
            holder_masked: String::new(),
            address_masked: String::new(),
            services: Vec::new(),
            meters: Vec::new(),
            paid_today: Money::ZERO,
        })
}

async fn wait_for(
    view: &mut watch::Receiver<View>,
    expected: &'static str,
    pred: impl Fn(&Screen) -> bool,
) -> Result<(), DemoError> {
    if wait_for_screen(view, Duration::from_secs(30), pred).await {
        Ok(())
    } else {
        Err(DemoError::Stuck {
            expected,
            shown: format!("{:?}", view.borrow().screen),
        })
    }
}

/// Runs the scripted payment; returns the printed receipt text and the journal length.
pub async fn run_demo() -> Result<(String, u64), DemoError> {
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let printed = Arc::new(Mutex::new(Vec::<String>::new()));
    // The real CCNET driver and ESC/POS encoder talk to wire-level emulators over ptys; the
    // printer emulator decodes the bytes back into text.
    let work = tempfile::tempdir().map_err(DemoError::Emulator)?;
    let SimDevices {
        links,
        bill: emulator,
        printer: printer_emulator,
        card: _card_emulator,
        recovery: _,
        kkt: _,
        scanner: _scanner,
    } = sim_devices::start(core_tx.clone(), work.path(), Some(printed.clone())).await?;
    let limits = Limits {
        per_payment: Money::from_rubles(15_000),
        per_day: Money::from_rubles(60_000),
    };
    let (core, mut view) = scripted_core("DEMO01", limits, Journal::in_memory()?, links, false)?;
    let core_task = tokio::spawn(core.run(core_rx));

    let ui = |i: Intent| {
        let tx = core_tx.clone();
        async move {
            let _ = tx.send(CoreEvent::Ui(i)).await;
        }
    };
    ui(Intent::Start(Purpose::Pay)).await;
    ui(Intent::SubmitAccount("1000000001".into())).await;
    wait_for(&mut view, "the account summary", |s| {
        matches!(s, Screen::Summary { .. })
    })
    .await?;
    ui(Intent::PayCash).await;
    wait_for(&mut view, "the cash screen", |s| {
        matches!(s, Screen::Cash { .. })
    })
    .await?;
    for rubles in [1_000, 500] {
        // Like a customer, wait for the validator to light up before feeding the bill.
        let mut tries = 0;
        while let Err(e) = emulator.insert(rubles) {
            tries += 1;
            if tries > 150 {
                return Err(DemoError::Driver(e.to_string()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let want = Money::from_rubles(if rubles == 1_000 { 1_000 } else { 1_500 });
        wait_for(
            &mut view,
            "the bill to be credited",
            |s| matches!(s, Screen::Cash { inserted, busy: false, .. } if *inserted == want),
        )
        .await?;
    }
    ui(Intent::FinishCash).await;
    wait_for(&mut view, "the receipt choice", |s| {
        matches!(s, Screen::ReceiptChoice { .. })
    })
    .await?;
    ui(Intent::ChooseReceipt(ReceiptChoice::Paper)).await;
    wait_for(&mut view, "the final screen", |s| {
        matches!(s, Screen::Done { .. })
    })
    .await?;
    let _ = core_tx.send(CoreEvent::Shutdown).await;
    let journal = core_task.await.map_err(|_| DemoError::Join)??;
    let entries = journal.verify()?;
    let cassette = Money::from_kopecks(
        emulator
            .cassette()
            .iter()
            .map(|(d, n)| d * i64::from(*n))
            .sum(),
    );
    let stacked: Money = journal
        .events()?
        .iter()
        .filter_map(|(_, e)| match e {
            backend_sync::JournalEvent::BillStacked {
                denomination_kopecks,
                ..
            } => Some(Money::from_kopecks(*denomination_kopecks)),
            _ => None,
        })
        .sum();
    if stacked != cassette {
        return Err(DemoError::Mismatch {
            journal: stacked,
            cassette,
        });
    }
    // What the printer emulator decoded from the ESC/POS bytes on the wire.
    let decoded = printer_emulator.wait_for_receipts(1, Duration::from_secs(10));
    let receipt = match decoded.last() {
        Some(r) => r.text(),
        None => printed.lock().map(|p| p.join("\n")).unwrap_or_default(),
    };
    Ok((
        format!("{receipt}\nКассета купюроприёмника: {cassette}, в журнале: {stacked}"),
        entries,
    ))
}
