//! `terminal run --simulate`: the kiosk with its window, on wire-level emulators of the bill
//! validator and the receipt printer (each on its own pseudo-terminal, driven by the real drivers),
//! an emulated fiscal module and a persistent journal under `var/sim/`. The technician's hands are
//! the standard input: `insert 1000`, `insert-fake`, `jam`, `paper-out`, `paper-in`, `status`.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::journal::Journal;
use crate::money::{Limits, Money};
use crate::runtime::{Core, CoreEvent, CoreSetup, SystemClock};
use crate::screen::ScreenBridge;
use crate::session::{Session, SessionConfig, View};
use crate::sim_devices;

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("{0}")]
    Ui(#[from] ui::UiError),
    #[error("cannot prepare {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("journal: {0}")]
    Journal(#[from] crate::journal::JournalError),
    #[error("{0}")]
    Setup(String),
}

/// Runs until the window is closed.
pub fn run(data_dir: PathBuf) -> Result<(), SimulateError> {
    // The window first: on a machine without a display this fails cleanly before anything starts.
    let window = ui::Ui::new()?;
    std::fs::create_dir_all(&data_dir).map_err(|e| SimulateError::Io(data_dir.clone(), e))?;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| SimulateError::Setup(e.to_string()))?;

    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let journal = Journal::open(&data_dir.join("journal.sqlite"))?;
    let first_no = journal.last_seq() + 1;
    let limits = Limits {
        per_payment: Money::from_rubles(15_000),
        per_day: Money::from_rubles(60_000),
    };
    let mut config = SessionConfig::new("SIM01", limits);
    config.first_document_no = first_no;
    let session = Session::new(
        config,
        Box::new(crate::reading_check::MeterRules::any_day(
            chrono_tz::Europe::Moscow,
        )),
    );
    let (view_tx, view_rx) = watch::channel(session.view());

    let devices = runtime
        .block_on(sim_devices::start(core_tx.clone(), &data_dir, None))
        .map_err(|e| SimulateError::Setup(e.to_string()))?;
    let (links, bill_emulator, printer_emulator) = (
        devices.links,
        Arc::new(devices.bill),
        Arc::new(devices.printer),
    );
    let setup = CoreSetup {
        tz: chrono_tz::Europe::Moscow,
        terminal_id: "SIM01".into(),
        wait_for_bill_ready: true,
    };
    let core = Core::new(session, journal, links, SystemClock, view_tx, setup)
        .map_err(|e| SimulateError::Setup(e.to_string()))?;
    runtime.spawn(async move {
        if let Err(e) = core.run(core_rx).await {
            tracing::error!(error = %e, "core stopped");
        }
    });

    let bridge = Arc::new(Mutex::new(ScreenBridge::new("8-800-000-00-00")));
    let show = {
        let handle = window.handle();
        let bridge = bridge.clone();
        move |view: &View| {
            let state = match bridge.lock() {
                Ok(mut b) => b.view_state(view, Default::default(), chrono::Utc::now()),
                Err(_) => return,
            };
            let _ = handle.show(state);
        }
    };
    {
        // Intents from the glass go through the bridge into the core.
        let bridge = bridge.clone();
        let view_rx = view_rx.clone();
        let core_tx = core_tx.clone();
        let show = show.clone();
        window.on_intent(move |intent| {
            let view = view_rx.borrow().clone();
            let intents = match bridge.lock() {
                Ok(mut b) => b.on_intent(intent, &view),
                Err(_) => return,
            };
            for i in intents {
                let _ = core_tx.try_send(CoreEvent::Ui(i));
            }
            show(&view);
        });
    }
    {
        // Views from the core, and a once-a-second refresh for the idle countdown.
        let mut view_rx = view_rx.clone();
        runtime.spawn(async move {
            loop {
                let view = view_rx.borrow_and_update().clone();
                show(&view);
                let _ = tokio::time::timeout(Duration::from_secs(1), view_rx.changed()).await;
            }
        });
    }
    spawn_console(bill_emulator, printer_emulator);
    eprintln!("Kiosk running on emulated devices. Type `insert 1000`, `insert-fake`, `jam`, `paper-out`, `paper-in`, `status` here.");
    window.run()?;
    drop(runtime);
    Ok(())
}

/// The technician's console on standard input.
fn spawn_console(
    bill: Arc<bill_acceptor::EmulatorHandle>,
    printer: Arc<receipt_printer::EmulatorHandle>,
) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let result = match words.as_slice() {
                ["insert", rubles] => match rubles.parse::<i64>() {
                    Ok(r) => bill.insert(r).map_err(|e| e.to_string()),
                    Err(_) => Err(format!("not a denomination: {rubles}")),
                },
                ["insert-fake"] => bill.insert_fake().map_err(|e| e.to_string()),
                ["jam"] => {
                    bill.jam();
                    Ok(())
                }
                ["paper-out"] => {
                    printer.paper_out();
                    Ok(())
                }
                ["paper-in"] => {
                    printer.paper_in();
                    Ok(())
                }
                ["status"] => {
                    println!("cassette: {:?}", bill.cassette());
                    Ok(())
                }
                [] => Ok(()),
                _ => Err(format!("unknown command: {line}")),
            };
            if let Err(e) = result {
                eprintln!("{e}");
            }
        }
    });
}
