//! `terminal run`: the kiosk with its window.
//!
//! With `--simulate` it runs on wire-level emulators of the bill validator, the card terminal and
//! the receipt printer (each on its own pseudo-terminal, driven by the real drivers), an emulated
//! fiscal module and a
//! persistent journal under `var/sim/`; the technician's hands are the standard input: `insert
//! 1000`, `insert-fake`, `jam`, `paper-out`, `paper-in`, `status`. With `--config F` it runs on the
//! devices the config names (serial ports of the validator, the card reader and the printer; the
//! emulated fiscal module until the KKT drivers land).

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bill_acceptor::{spawn_driver, DriverConfig, Protocol};
use receipt_printer::fiscal::{Seller, VatRate};
use receipt_printer::{EmulatedFiscalModule, PrinterHandle, PrinterProfile, SerialSettings};
use tokio::sync::{mpsc, watch};

use crate::accounts::{FixtureSource, OfflineFallback};
use crate::config::{BillProtocol, Config, FiscalKind};
use crate::devices;
use crate::devices::receipts::ReceiptSetup;
use crate::journal::Journal;
use crate::money::{Limits, Money};
use crate::reading_check::MeterRules;
use crate::runtime::{Core, CoreEvent, CoreSetup, DeviceLinks, SystemClock};
use crate::screen::ScreenBridge;
use crate::session::{Availability, DeviceInput, Session, SessionConfig, View};
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

/// Everything that differs between a simulated and a configured kiosk.
struct KioskSetup {
    terminal_id: String,
    tz: chrono_tz::Tz,
    limits: Limits,
    rules: MeterRules,
    data_dir: PathBuf,
    /// Bill reports held across a restart must be settled before customers are served.
    wait_for_bill_ready: bool,
}

/// Opens the journal, builds the session and the core over `links`, and runs the window until
/// it is closed.
fn run_kiosk(
    window: ui::Ui,
    runtime: tokio::runtime::Runtime,
    setup: KioskSetup,
    core_tx: mpsc::Sender<CoreEvent>,
    core_rx: mpsc::Receiver<CoreEvent>,
    links: DeviceLinks,
) -> Result<(), SimulateError> {
    let journal = Journal::open(&setup.data_dir.join("journal.sqlite"))?;
    let mut config = SessionConfig::new(setup.terminal_id.clone(), setup.limits);
    config.first_document_no = journal.last_seq() + 1;
    let session = Session::new(config, Box::new(setup.rules));
    let (view_tx, view_rx) = watch::channel(session.view());
    let core_setup = CoreSetup {
        tz: setup.tz,
        terminal_id: setup.terminal_id,
        wait_for_bill_ready: setup.wait_for_bill_ready,
    };
    let core = Core::new(session, journal, links, SystemClock, view_tx, core_setup)
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
                Ok(mut b) => b.view_state(view, chrono::Utc::now()),
                Err(_) => return,
            };
            let _ = handle.show(state);
        }
    };
    {
        // Intents from the glass go through the bridge into the core.
        let bridge = bridge.clone();
        let view_rx = view_rx.clone();
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
    window.run()?;
    drop(runtime);
    Ok(())
}

fn prepare(data_dir: &std::path::Path) -> Result<(ui::Ui, tokio::runtime::Runtime), SimulateError> {
    // The window first: on a machine without a display this fails cleanly before anything starts.
    let window = ui::Ui::new()?;
    std::fs::create_dir_all(data_dir).map_err(|e| SimulateError::Io(data_dir.to_path_buf(), e))?;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| SimulateError::Setup(e.to_string()))?;
    Ok((window, runtime))
}

/// `terminal run --simulate`: runs until the window is closed.
pub fn run(data_dir: PathBuf) -> Result<(), SimulateError> {
    let (window, runtime) = prepare(&data_dir)?;
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let devices = runtime
        .block_on(sim_devices::start(core_tx.clone(), &data_dir, None))
        .map_err(|e| SimulateError::Setup(e.to_string()))?;
    spawn_console(Arc::new(devices.bill), Arc::new(devices.printer));
    eprintln!("Kiosk running on emulated devices. Type `insert 1000`, `insert-fake`, `jam`, `paper-out`, `paper-in`, `status` here.");
    let setup = KioskSetup {
        terminal_id: "SIM01".into(),
        tz: chrono_tz::Europe::Moscow,
        limits: Limits {
            per_payment: Money::from_rubles(15_000),
            per_day: Money::from_rubles(60_000),
        },
        rules: MeterRules::any_day(chrono_tz::Europe::Moscow),
        data_dir,
        wait_for_bill_ready: true,
    };
    run_kiosk(window, runtime, setup, core_tx, core_rx, devices.links)
}

/// A device channel nobody serves: the device is not configured (its feature is off on screen).
fn absent<T: Send + 'static>() -> mpsc::Sender<T> {
    let (tx, mut rx) = mpsc::channel::<T>(8);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    tx
}

fn tax_system(t: crate::config::TaxSystem) -> receipt_printer::fiscal::TaxSystem {
    use crate::config::TaxSystem as C;
    use receipt_printer::fiscal::TaxSystem as R;
    match t {
        C::Osn => R::General,
        C::UsnIncome => R::SimplifiedIncome,
        C::UsnIncomeOutcome => R::SimplifiedIncomeMinusExpense,
        C::Esn => R::Agricultural,
        C::Patent => R::Patent,
    }
}

/// `terminal run --config F`: the kiosk on the devices the config names.
pub fn run_configured(config: Config, data_dir: PathBuf) -> Result<(), SimulateError> {
    let (window, runtime) = prepare(&data_dir)?;
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let tz = config.terminal.timezone;
    let links = runtime.block_on(async {
        let bill = match &config.devices.bill_acceptor {
            Some(b) => {
                let protocol = match b.protocol {
                    BillProtocol::Ccnet => Protocol::Ccnet,
                    BillProtocol::Id003 => Protocol::Id003,
                };
                let acceptor = spawn_driver(DriverConfig::new(protocol, &b.port))
                    .await
                    .map_err(|e| SimulateError::Setup(format!("devices.bill_acceptor.port {}: {e}", b.port.display())))?;
                devices::bill::spawn(acceptor, core_tx.clone())
            }
            None => absent(),
        };
        let printer = match &config.devices.printer {
            Some(p) => {
                let profile = PrinterProfile::by_id(&p.profile)
                    .ok_or_else(|| SimulateError::Setup(format!("devices.printer.profile: unknown profile {:?}", p.profile)))?;
                let settings = SerialSettings::for_profile(&profile);
                Some((PrinterHandle::new(p.port.to_string_lossy().into_owned(), profile.clone(), settings), profile))
            }
            None => None,
        };
        let fiscal: Box<dyn receipt_printer::FiscalModule> = match config.fiscal.kind {
            FiscalKind::Emulated => Box::new(
                EmulatedFiscalModule::open(data_dir.join("fiscal.json"), "9999078900000001", config.terminal.id.as_bytes())
                    .map_err(|e| SimulateError::Setup(format!("fiscal: {e}")))?,
            ),
            other => {
                return Err(SimulateError::Setup(format!(
                    "fiscal.kind = {other:?}: that fiscal register's driver is not implemented yet; use kind = \"emulated\""
                )))
            }
        };
        let seller = Seller {
            inn: config.seller.inn.clone(),
            name: config.seller.name.clone(),
            address: config.seller.address.clone(),
            place: config.seller.place.clone(),
            tax_system: tax_system(config.fiscal.tax_system),
            machine_number: config.fiscal.machine_number.clone(),
            kkt_reg_number: config.fiscal.kkt_reg_number.clone(),
        };
        let columns = printer.as_ref().map_or(48, |(_, p)| p.columns);
        let receipts = devices::receipts::spawn(
            ReceiptSetup {
                fiscal,
                printer: printer.map(|(h, _)| h),
                seller,
                vat: VatRate::Vat22,
                tz,
                header: vec![config.terminal.name.clone()],
                footer: vec![config.terminal.office.clone()],
                store: Some(data_dir.join("receipts")),
                transcript: None,
                columns,
            },
            core_tx.clone(),
        );
        let scheme = config.accounts.scheme;
        let source = match &config.accounts.fixture_file {
            Some(path) => FixtureSource::load(path, &scheme)
                .map_err(|e| SimulateError::Setup(format!("accounts.fixture_file: {e}")))?,
            None => FixtureSource::demo(),
        };
        let lookup = devices::lookup::spawn(scheme, OfflineFallback::new(source), core_tx.clone());
        let card = match &config.devices.card_reader {
            Some(c) => {
                let reader = card_reader::CardReader::open(&c.port, card_reader::DriverConfig::default())
                    .map_err(|e| SimulateError::Setup(format!("devices.card_reader.port {}: {e}", c.port.display())))?;
                let setup = devices::card::CardSetup::daily(c.end_of_day, tz);
                Some(devices::card::spawn_with(reader, core_tx.clone(), setup))
            }
            None => None,
        };
        let availability = Availability {
            cash: config.devices.bill_acceptor.is_some(),
            card: card.is_some(),
            paper: config.devices.printer.is_some(),
            online: true,
        };
        let _ = core_tx.send(CoreEvent::Device(DeviceInput::Availability(availability), None)).await;
        let card = card.unwrap_or_else(absent);
        Ok::<_, SimulateError>(DeviceLinks { lookup, bill, card, receipts })
    })?;
    let setup = KioskSetup {
        terminal_id: config.terminal.id.clone(),
        tz,
        limits: Limits {
            per_payment: Money::from_kopecks(config.limits.per_payment_kopecks),
            per_day: Money::from_kopecks(config.limits.per_day_kopecks),
        },
        rules: MeterRules {
            rules: config.readings.rules(),
            tz,
        },
        data_dir,
        wait_for_bill_ready: config.devices.bill_acceptor.is_some(),
    };
    run_kiosk(window, runtime, setup, core_tx, core_rx, links)
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
