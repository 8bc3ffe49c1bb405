//! `terminal cash-soak`: a test harness (used by the kill tests) that runs the real core, journal and
//! bill-validator driver against a validator on `--port`, with a scripted customer who keeps paying
//! in cash: every few bills they finish, take a paper receipt and start again. It runs until killed;
//! killing it at any moment must never lose a bill or count one twice. With `--back-office-url` it
//! also syncs its journal there (the sync kill test: nothing lost, nothing twice at the server).
//! With `--fiscal-port` its receipts are fiscalised on a Shtrih-M KKT there, through the real
//! receipt task and driver (the fiscal kill test: exactly one fiscal document per payment).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bill_acceptor::{spawn_driver, DriverConfig, Protocol};
use tokio::sync::{mpsc, watch};

use crate::devices;
use crate::journal::Journal;
use crate::money::{Limits, Money};
use crate::runtime::{fakes, scripted_core, wait_for_screen, CoreError, CoreEvent, DeviceLinks};
use crate::session::{Intent, Purpose, ReceiptChoice, Screen, View};

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// Serial port (or emulator pty link) of the validator.
    #[arg(long)]
    pub port: PathBuf,
    #[arg(long, value_enum, default_value = "ccnet")]
    pub protocol: Protocol,
    /// The journal file (kept across restarts).
    #[arg(long)]
    pub journal: PathBuf,
    /// Bills per payment before the customer presses "finish".
    #[arg(long, default_value_t = 3)]
    pub bills_per_payment: usize,
    /// Sync the journal to this back office.
    #[arg(long, requires = "key_file")]
    pub back_office_url: Option<String>,
    /// The file holding the terminal's key (with --back-office-url).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    #[arg(long, default_value = "SOAK01")]
    pub terminal_id: String,
    /// The serial port of a Shtrih-M KKT (password 30) that fiscalises and prints the receipts;
    /// without it a fake receipt task answers every request at once.
    #[arg(long)]
    pub fiscal_port: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    #[error("core: {0}")]
    Core(#[from] CoreError),
    #[error("bill validator: {0}")]
    Driver(String),
    #[error("sync: {0}")]
    Sync(#[from] crate::sync::SyncSetupError),
    #[error("{0}")]
    Fiscal(#[from] devices::fiscal::FiscalSetupError),
    #[error("signal handlers: {0}")]
    Signals(std::io::Error),
}

/// The receipt task on the KKT at `port`, as `[fiscal] kind = "shtrih"` with a printing KKT.
fn kkt_receipts(
    port: &std::path::Path,
    terminal_id: &str,
    core: mpsc::Sender<CoreEvent>,
) -> Result<mpsc::Sender<crate::runtime::ReceiptJob>, SoakError> {
    let seller = fiscal_register::sample::seller();
    let config = crate::config::FiscalConfig::printing_shtrih(port.to_path_buf(), &seller);
    let fiscal = devices::fiscal::open_module(&config, terminal_id, std::path::Path::new("."))?;
    Ok(devices::receipts::spawn(
        devices::receipts::ReceiptSetup {
            fiscal,
            printer: None,
            seller,
            vat: fiscal_register::VatRate::Vat22,
            tz: chrono_tz::Europe::Moscow,
            header: Vec::new(),
            footer: Vec::new(),
            store: None,
            transcript: None,
            columns: 48,
        },
        core,
    ))
}

async fn until(view: &mut watch::Receiver<View>, pred: impl Fn(&Screen) -> bool) -> bool {
    wait_for_screen(view, Duration::from_secs(30), pred).await
}

pub async fn run(args: SoakArgs) -> Result<(), SoakError> {
    let mut journal = Journal::open(&args.journal)?;
    // Kept alive for the whole run.
    let _sync = match (&args.back_office_url, &args.key_file) {
        (Some(url), Some(key_file)) => {
            let link =
                crate::sync::BackOfficeLink::from_key_file(url, &args.terminal_id, key_file)?;
            Some(crate::sync::KioskSync::start(
                &mut journal,
                &args.journal,
                link,
                crate::sync::SyncTiming::quick(),
                None,
            )?)
        }
        _ => None,
    };
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    // SIGTERM stops it in order, as it stops the kiosk (the stop test).
    crate::signals::spawn_orderly_stop(core_tx.clone()).map_err(SoakError::Signals)?;
    let acceptor = spawn_driver(DriverConfig::new(args.protocol, &args.port))
        .await
        .map_err(|e| SoakError::Driver(e.to_string()))?;
    let mut account = crate::demo::demo_account();
    // The soak pays far beyond any debt; the overflow is an advance.
    account.services[0].debt = Money::from_rubles(1_000_000);
    let links = DeviceLinks {
        lookup: fakes::spawn_lookup(vec![account], core_tx.clone()),
        bill: devices::bill::spawn(acceptor, core_tx.clone()),
        card: fakes::spawn_card(core_tx.clone()),
        receipts: match &args.fiscal_port {
            Some(port) => kkt_receipts(port, &args.terminal_id, core_tx.clone())?,
            None => fakes::spawn_receipts(core_tx.clone(), Arc::new(Mutex::new(Vec::new()))),
        },
        sbp: fakes::no_sbp(),
    };
    let limits = Limits {
        per_payment: Money::from_rubles(10_000_000),
        per_day: Money::from_rubles(1_000_000_000),
    };
    let (core, mut view) = scripted_core(&args.terminal_id, limits, journal, links, true)?;
    let core_task = tokio::spawn(core.run(core_rx));

    let send = |i: Intent| {
        let tx = core_tx.clone();
        async move {
            let _ = tx.send(CoreEvent::Ui(i)).await;
        }
    };
    loop {
        if core_task.is_finished() {
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
        until(&mut view, |s| matches!(s, Screen::Summary { .. })).await;
        send(Intent::PayCash).await;
        until(&mut view, |s| matches!(s, Screen::Cash { .. })).await;
        let mut bills = 0;
        let mut last = Money::ZERO;
        while bills < args.bills_per_payment {
            let changed = until(
                &mut view,
                |s| matches!(s, Screen::Cash { inserted, busy: false, .. } if *inserted != last),
            )
            .await;
            if let Screen::Cash { inserted, .. } = &view.borrow().screen {
                if changed {
                    last = *inserted;
                    bills += 1;
                }
            }
            if core_task.is_finished() {
                break;
            }
        }
        send(Intent::FinishCash).await;
        until(&mut view, |s| matches!(s, Screen::ReceiptChoice { .. })).await;
        send(Intent::ChooseReceipt(ReceiptChoice::Paper)).await;
        until(&mut view, |s| matches!(s, Screen::Done { .. })).await;
        send(Intent::Home).await;
    }
    match core_task.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(SoakError::Driver("core task panicked".into())),
    }
}
