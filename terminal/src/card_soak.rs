//! `terminal card-soak`: a test harness (used by the card kill tests) that runs the real core,
//! journal, card task and ZVT driver against a card terminal on `--port`, with a scripted customer
//! who keeps paying by card, a different amount each time, and takes a paper receipt. It runs until
//! killed; killing it at any moment must leave every card payment credited or reversed, never both
//! and never lost, once the next start has recovered.
//!
//! `--answer-delay-ms` holds the core's goods-issued answer on its way to the card task, so a test
//! can kill the process after the approval is journaled and before the terminal hears the answer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use card_reader::{CardReader, DriverConfig};
use tokio::sync::mpsc;

use crate::devices::card::{self, CardSetup};
use crate::journal::Journal;
use crate::money::{Limits, Money};
use crate::runtime::{fakes, scripted_core, wait_for_screen, CoreError, CoreEvent, DeviceLinks};
use crate::session::{BillCommand, CardCommand, Intent, Purpose, ReceiptChoice, Screen};

#[derive(Debug, clap::Args)]
pub struct CardSoakArgs {
    /// Serial port (or emulator pty) of the card terminal.
    #[arg(long)]
    pub port: PathBuf,
    /// The journal file (kept across restarts).
    #[arg(long)]
    pub journal: PathBuf,
    /// Hold each goods-issued answer this long between the core and the card task.
    #[arg(long, default_value_t = 0)]
    pub answer_delay_ms: u64,
    /// Stop the customer after this many payments (the kiosk keeps running).
    #[arg(long)]
    pub payments: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CardSoakError {
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    #[error("core: {0}")]
    Core(#[from] CoreError),
    #[error("card reader: {0}")]
    Reader(#[from] card_reader::CardError),
    #[error("{0}")]
    Stopped(String),
}

/// Forwards the core's card commands, holding goods-issued answers for `delay`.
fn delaying_proxy(to: mpsc::Sender<CardCommand>, delay: Duration) -> mpsc::Sender<CardCommand> {
    let (tx, mut rx) = mpsc::channel::<CardCommand>(16);
    tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            if matches!(command, CardCommand::GoodsIssued { .. }) {
                tokio::time::sleep(delay).await;
            }
            if to.send(command).await.is_err() {
                return;
            }
        }
    });
    tx
}

/// A bill validator that is not there.
fn no_bills() -> mpsc::Sender<BillCommand> {
    let (tx, mut rx) = mpsc::channel::<BillCommand>(8);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    tx
}

pub async fn run(args: CardSoakArgs) -> Result<(), CardSoakError> {
    let journal = Journal::open(&args.journal)?;
    let first_no = journal.last_seq() + 1;
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let reader = CardReader::open(&args.port, DriverConfig::default())?;
    let card = card::spawn_with(reader, core_tx.clone(), CardSetup::default());
    let card = match args.answer_delay_ms {
        0 => card,
        ms => delaying_proxy(card, Duration::from_millis(ms)),
    };
    let mut account = crate::demo::demo_account();
    account.services.truncate(1);
    if let Some(service) = account.services.first_mut() {
        service.debt = Money::from_rubles(1_000_000);
    }
    let links = DeviceLinks {
        lookup: fakes::spawn_lookup(vec![account], core_tx.clone()),
        bill: no_bills(),
        card,
        receipts: fakes::spawn_receipts(core_tx.clone(), Arc::new(Mutex::new(Vec::new()))),
        sbp: fakes::no_sbp(),
    };
    let limits = Limits {
        per_payment: Money::from_rubles(90_000),
        per_day: Money::from_rubles(1_000_000_000),
    };
    let (core, mut view) = scripted_core("CSOAK1", limits, journal, links, false)?;
    let core_task = tokio::spawn(core.run(core_rx));

    let send = |i: Intent| {
        let tx = core_tx.clone();
        async move {
            let _ = tx.send(CoreEvent::Ui(i)).await;
        }
    };
    let limit = Duration::from_secs(60);
    let mut paid = 0;
    for n in first_no.. {
        if core_task.is_finished() || args.payments.is_some_and(|max| paid >= max) {
            break;
        }
        // Start-up recovery drops intents until it has settled: knock until the screen answers.
        send(Intent::Start(Purpose::Pay)).await;
        if !wait_for_screen(&mut view, Duration::from_millis(200), |s| {
            matches!(s, Screen::AccountEntry { .. })
        })
        .await
        {
            continue;
        }
        send(Intent::SubmitAccount("1000000001".into())).await;
        wait_for_screen(&mut view, limit, |s| matches!(s, Screen::Summary { .. })).await;
        // A different amount each time (never ending in 13 or 51 kopecks: the emulator's declines).
        let rubles = 100 + (n % 97) * 10;
        send(Intent::SetServiceAmount {
            index: 0,
            text: rubles.to_string(),
        })
        .await;
        wait_for_screen(&mut view, limit, |s| {
            matches!(s, Screen::Summary { total, .. } if *total == Money::from_rubles(rubles as i64))
        })
        .await;
        send(Intent::PayCard).await;
        paid += 1;
        wait_for_screen(&mut view, limit, |s| matches!(s, Screen::Card { .. })).await;
        let ended = wait_for_screen(&mut view, limit, |s| {
            matches!(
                s,
                Screen::ReceiptChoice { .. }
                    | Screen::Summary {
                        notice: Some(_),
                        ..
                    }
            )
        })
        .await;
        if ended && matches!(view.borrow().screen, Screen::ReceiptChoice { .. }) {
            send(Intent::ChooseReceipt(ReceiptChoice::Paper)).await;
            wait_for_screen(&mut view, limit, |s| matches!(s, Screen::Done { .. })).await;
        }
        send(Intent::Home).await;
        wait_for_screen(&mut view, limit, |s| matches!(s, Screen::Welcome)).await;
    }
    match core_task.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(CardSoakError::Stopped("core task panicked".into())),
    }
}
