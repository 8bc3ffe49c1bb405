//! `terminal run`: the kiosk with its window.
//!
//! With `--simulate` it runs on wire-level emulators of the bill validator, the card terminal and
//! the receipt printer (each on its own pseudo-terminal, driven by the real drivers), a fiscal
//! register (the emulated module, or with `--fiscal shtrih` the Shtrih-M KKT emulator on a pty,
//! which prints the receipts) and a persistent journal under `var/sim/`; the technician's hands
//! are the standard input: `insert 1000`, `insert-fake`, `jam`, `fail`, `cassette-full`,
//! `cassette-out`, `cassette-in`, `card-off`, `paper-near-end`, `paper-out`, `paper-in`, `status`,
//! and the KKT's `kkt-paper-out`, `kkt-paper-in`, `kkt-off`, `kkt-on`, `kkt-lose-answer`. The
//! health desk watches every device: a fault shows on screen as a degraded or out-of-service
//! notice, the validator's recovery ladder re-opens its port and power-cycles it through a
//! simulated relay, and Prometheus metrics are served on localhost. Service mode opens with the
//! demo PIN ([`crate::service::DEMO_PIN`]). With `--config F` it runs on the devices the config
//! names (serial ports of the validator, the card reader, the printer and the KKT).
//!
//! Both sync the journal to the back office ([`crate::sync`]): `--config` to its `[back_office]`,
//! `--simulate` to an embedded one on 127.0.0.1 (demo accounts) unless one is given.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bill_acceptor::{spawn_driver, DriverConfig, Protocol};
use fiscal_register::shtrih::emulator::{Fault as KktFault, KktEmulator};
use fiscal_register::{Seller, VatRate};
use receipt_printer::{PrinterHandle, PrinterProfile, SerialSettings};
use tokio::sync::{mpsc, watch};

use crate::accounts::{FixtureSource, OfflineFallback};
use crate::config::{BillProtocol, Config};
use crate::devices;
use crate::devices::receipts::ReceiptSetup;
use crate::devices::recovery::RecoveryTools;
use crate::health::{Device, RecoveryAction, WorkingCalendar};
use crate::journal::Journal;
use crate::money::{Limits, Money};
use crate::reading_check::MeterRules;
use crate::runtime::health::HealthSetup;
use crate::runtime::{Core, CoreEvent, CoreSetup, DeviceLinks, ServiceSetup, SystemClock};
use crate::screen::ScreenBridge;
use crate::service::DEMO_PIN_HASH;
use crate::service_pin::ServiceAccessConfig;
use crate::session::{Session, SessionConfig, View};
use crate::sim_devices::{self, SimFiscal};
use crate::supervision::{self, DEFAULT_METRICS_ADDR};
use crate::sync::{BackOfficeLink, BackOfficeSetup, SyncSetupError};

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
    #[error("{0}")]
    Sync(#[from] SyncSetupError),
    #[error("the session core stopped: {0}")]
    Core(String),
}

/// The retailer's free hotline, on every notice.
const HOTLINE: &str = "8-800-000-00-00";

/// Everything that differs between a simulated and a configured kiosk.
struct KioskSetup {
    terminal_id: String,
    tz: chrono_tz::Tz,
    limits: Limits,
    rules: MeterRules,
    data_dir: PathBuf,
    /// Bill reports held across a restart must be settled before customers are served.
    wait_for_bill_ready: bool,
    /// Working hours, alert thresholds, the recovery ladder and the fitted devices.
    health: HealthSetup,
    /// Who carries out recovery steps (None: nobody can, the ladders stay idle).
    recovery: Option<mpsc::Sender<RecoveryAction>>,
    /// The host office, where the out-of-service notice sends customers.
    office: String,
    /// `[fiscal] close_shift_at`.
    shift_close_at: Option<chrono::NaiveTime>,
    service: ServiceSetup,
    back_office: BackOfficeSetup,
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
    let journal_path = setup.data_dir.join("journal.sqlite");
    let mut journal = Journal::open(&journal_path)?;
    // Kept for as long as the window runs: its handle feeds heartbeats and metrics.
    let sync = {
        let _rt = runtime.enter();
        setup.back_office.start(&mut journal, &journal_path)?
    };
    let mut config = SessionConfig::new(setup.terminal_id.clone(), setup.limits);
    config.tz = setup.tz;
    config.shift_close_at = setup.shift_close_at;
    config.first_document_no = journal.last_seq() + 1;
    let session = Session::new(config, Box::new(setup.rules));
    let (view_tx, view_rx) = watch::channel(session.view());
    let terminal_id = setup.terminal_id.clone();
    let core_setup = CoreSetup {
        tz: setup.tz,
        terminal_id: setup.terminal_id,
        wait_for_bill_ready: setup.wait_for_bill_ready,
    };
    let office_hours = setup.health.calendar.week().describe_ru();
    let core = Core::new(session, journal, links, SystemClock, view_tx, core_setup)
        .and_then(|core| core.with_service(setup.service))
        .map_err(|e| SimulateError::Setup(e.to_string()))?
        .with_health(setup.health, setup.recovery);
    let metrics_addr = DEFAULT_METRICS_ADDR
        .parse()
        .map_err(|e| SimulateError::Setup(format!("metrics address: {e}")))?;
    let core = supervision::attach(
        core,
        &runtime,
        metrics_addr,
        window.handle(),
        &sync,
        &terminal_id,
    );
    {
        let _rt = runtime.enter();
        crate::signals::spawn_orderly_stop(core_tx.clone())
            .map_err(|e| SimulateError::Setup(format!("signal handlers: {e}")))?;
    }
    let ui = window.handle();
    let (core_ended, core_outcome) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let outcome = core.run(core_rx).await.map(|_| ());
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "core stopped");
        }
        let _ = core_ended.send(outcome.map_err(|e| e.to_string()));
        // The screen ends with the core: a kiosk whose core is gone must not look in service.
        let _ = ui.quit();
    });

    let local_info = crate::content::LocalInfo {
        office: setup.office.clone(),
        hours: office_hours.clone(),
        hotline: HOTLINE.into(),
    };
    let bridge = Arc::new(Mutex::new(
        ScreenBridge::new(HOTLINE)
            .with_office(setup.office, office_hours)
            .with_timezone(setup.tz),
    ));
    match sync.link().client() {
        Ok(client) => {
            let bridge = bridge.clone();
            let _rt = runtime.enter();
            crate::content::spawn(
                client,
                crate::content::ContentCache::new(&setup.data_dir),
                local_info,
                move |topics| {
                    if let Ok(mut b) = bridge.lock() {
                        b.set_info(topics);
                    }
                },
            );
        }
        Err(e) => tracing::warn!(error = %e, "no back-office client for information content"),
    }
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
    let shown = window.run();
    // The syncer stops between requests; what it has not sent waits in the outbox.
    runtime.block_on(sync.shutdown());
    drop(runtime);
    shown?;
    match core_outcome.try_recv() {
        Ok(Err(e)) => Err(SimulateError::Core(e)),
        // Ended in order, or the window was closed with the core still running.
        Ok(Ok(())) | Err(_) => Ok(()),
    }
}

fn prepare(data_dir: &std::path::Path) -> Result<(ui::Ui, tokio::runtime::Runtime), SimulateError> {
    // The window first: on a machine without a display this fails cleanly before anything starts.
    let window = ui::Ui::new()?;
    std::fs::create_dir_all(data_dir).map_err(|e| SimulateError::Io(data_dir.to_path_buf(), e))?;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| SimulateError::Setup(e.to_string()))?;
    Ok((window, runtime))
}

/// The simulated kiosk's terminal id (register it with `back-office terminal add SIM01` to use
/// an external back office).
pub const SIM_TERMINAL_ID: &str = "SIM01";

/// `terminal run --simulate`: runs until the window is closed. Syncs to `back_office`, or to an
/// embedded back office when none is given.
pub fn run(
    data_dir: PathBuf,
    back_office: Option<BackOfficeLink>,
    fiscal: SimFiscal,
) -> Result<(), SimulateError> {
    let (window, runtime) = prepare(&data_dir)?;
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let mut devices = runtime
        .block_on(sim_devices::start_with(
            core_tx.clone(),
            &data_dir,
            None,
            fiscal,
        ))
        .map_err(|e| SimulateError::Setup(e.to_string()))?;
    if let Some(kkt) = &devices.kkt {
        eprintln!(
            "Fiscal register: the Shtrih-M KKT emulator on {} (a new FN each start); its \
             printouts go to {} as text and PNG. KKT faults: `kkt-paper-out`, `kkt-paper-in`, \
             `kkt-off`, `kkt-on`, `kkt-lose-answer`.",
            kkt.emulator.path().display(),
            kkt.printout_dir.display()
        );
    }
    let back_office = runtime.block_on(BackOfficeSetup::simulated(
        SIM_TERMINAL_ID,
        back_office,
        core_tx.clone(),
    ))?;
    devices.links.lookup = {
        let _rt = runtime.enter();
        crate::devices::lookup::spawn_for(
            &back_office,
            crate::accounts::AccountScheme::default(),
            core_tx.clone(),
        )?
    };
    match back_office.embedded() {
        Some(_) => eprintln!(
            "Embedded back office: {} (fleet page; demo accounts 1000000001, 1000000028, 1000000036).",
            back_office.link.fleet_url()
        ),
        None => eprintln!("Back office: {}", back_office.link.fleet_url()),
    }
    // The console keeps the emulators for as long as the kiosk runs, even when nobody types on
    // standard input (it may be closed from the start: a desktop launcher, `< /dev/null`).
    spawn_console(
        devices.bill.clone(),
        Arc::new(devices.printer),
        devices.card,
        devices.kkt.take().map(|k| k.emulator),
    );
    eprintln!(
        "Kiosk running on emulated devices. Type `insert 1000`, `insert-fake`, `jam`, `fail`, \
         `cassette-full`, `cassette-out`, `cassette-in`, `card-off`, `paper-near-end`, \
         `paper-out`, `paper-in`, `status` here. Metrics: http://{DEFAULT_METRICS_ADDR}/metrics"
    );
    eprintln!(
        "Service mode: tap the top-left corner of the header 5 times, PIN {}.",
        crate::service::DEMO_PIN
    );
    let service = ServiceSetup {
        access: service_access(DEMO_PIN_HASH.into()),
        export_dir: data_dir.join("export"),
        idle_seconds: crate::config::ServiceConfig::DEFAULT_IDLE_SECONDS,
    };
    let setup = KioskSetup {
        terminal_id: SIM_TERMINAL_ID.into(),
        tz: chrono_tz::Europe::Moscow,
        limits: Limits {
            per_payment: Money::from_rubles(15_000),
            per_day: Money::from_rubles(60_000),
        },
        rules: MeterRules::any_day(chrono_tz::Europe::Moscow),
        data_dir,
        wait_for_bill_ready: true,
        health: HealthSetup::standard(chrono_tz::Europe::Moscow),
        recovery: Some(devices.recovery.clone()),
        office: "Офис «Энергосбыт», ул. Примерная, 1".into(),
        shift_close_at: None,
        service,
        back_office,
    };
    run_kiosk(window, runtime, setup, core_tx, core_rx, devices.links)
}

/// The service guard's settings: 5 wrong PINs lock it for 15 minutes, doubling per lockout.
fn service_access(pin_hash: String) -> ServiceAccessConfig {
    ServiceAccessConfig {
        pin_hash,
        card_hashes: Vec::new(),
        max_failures: 5,
        lockout_seconds: 900,
    }
}

/// A device channel nobody serves: the device is not configured (its feature is off on screen).
fn absent<T: Send + 'static>() -> mpsc::Sender<T> {
    let (tx, mut rx) = mpsc::channel::<T>(8);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    tx
}

fn tax_system(t: crate::config::TaxSystem) -> fiscal_register::TaxSystem {
    use crate::config::TaxSystem as C;
    use fiscal_register::TaxSystem as R;
    match t {
        C::Osn => R::General,
        C::UsnIncome => R::SimplifiedIncome,
        C::UsnIncomeOutcome => R::SimplifiedIncomeMinusExpense,
        C::Esn => R::Agricultural,
        C::Patent => R::Patent,
    }
}

/// The health setup of a configured kiosk: its office calendar (the `[working_hours]` table in
/// the health monitor's calendar shape, or the standard office week when it is empty) and the
/// devices its config fits.
fn configured_health(config: &Config) -> Result<HealthSetup, SimulateError> {
    let mut setup = HealthSetup::standard(config.terminal.timezone);
    setup.alerts = config.health.alerts.clone();
    setup.ladder = config.health.recovery.clone();
    if !config.working_hours.is_empty() {
        let calendar: crate::health::CalendarConfig =
            toml::Value::Table(config.working_hours.clone())
                .try_into()
                .map_err(|e| SimulateError::Setup(format!("working_hours: {e}")))?;
        setup.calendar = WorkingCalendar::new(calendar)
            .map_err(|e| SimulateError::Setup(format!("working_hours: {e}")))?;
    }
    let devices = &config.devices;
    for (device, fitted) in [
        (Device::BillValidator, devices.bill_acceptor.is_some()),
        (Device::CardReader, devices.card_reader.is_some()),
        (Device::Printer, devices.printer.is_some()),
    ] {
        if !fitted {
            setup.fitted.remove(&device);
        }
    }
    Ok(setup)
}

/// `terminal run --config F`: the kiosk on the devices the config names.
pub fn run_configured(config: Config, data_dir: PathBuf) -> Result<(), SimulateError> {
    let health = configured_health(&config)?;
    let (window, runtime) = prepare(&data_dir)?;
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let tz = config.terminal.timezone;
    let link = BackOfficeLink::from_key_file(
        &config.back_office.url,
        &config.terminal.id,
        &config.back_office.key_file,
    )?;
    let (links, recovery, back_office) = runtime.block_on(async {
        let mut bill_reopen = None;
        let bill = match &config.devices.bill_acceptor {
            Some(b) => {
                let protocol = match b.protocol {
                    BillProtocol::Ccnet => Protocol::Ccnet,
                    BillProtocol::Id003 => Protocol::Id003,
                };
                let driver_config = DriverConfig::new(protocol, &b.port);
                let acceptor = spawn_driver(driver_config.clone()).await.map_err(|e| {
                    SimulateError::Setup(format!(
                        "devices.bill_acceptor.port {}: {e}",
                        b.port.display()
                    ))
                })?;
                let (commands, reopen) =
                    devices::bill::spawn_reopenable(acceptor, driver_config, core_tx.clone());
                bill_reopen = Some(reopen);
                commands
            }
            None => absent(),
        };
        let printer = match &config.devices.printer {
            Some(p) => {
                let profile = PrinterProfile::by_id(&p.profile).ok_or_else(|| {
                    SimulateError::Setup(format!(
                        "devices.printer.profile: unknown profile {:?}",
                        p.profile
                    ))
                })?;
                let settings = SerialSettings::for_profile(&profile);
                Some((
                    PrinterHandle::new(
                        p.port.to_string_lossy().into_owned(),
                        profile.clone(),
                        settings,
                    ),
                    profile,
                ))
            }
            None => None,
        };
        let fiscal = devices::fiscal::open_module(&config.fiscal, &config.terminal.id, &data_dir)
            .map_err(|e| SimulateError::Setup(e.to_string()))?;
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
        let card = match &config.devices.card_reader {
            Some(c) => {
                let reader =
                    card_reader::CardReader::open(&c.port, card_reader::DriverConfig::default())
                        .map_err(|e| {
                            SimulateError::Setup(format!(
                                "devices.card_reader.port {}: {e}",
                                c.port.display()
                            ))
                        })?;
                let setup = devices::card::CardSetup::daily(c.end_of_day, tz);
                Some(devices::card::spawn_with(reader, core_tx.clone(), setup))
            }
            None => None,
        };
        let back_office = BackOfficeSetup::configured(link, core_tx.clone());
        let scheme = config.accounts.scheme;
        // A fixture file stands in for the back office's accounts (bench set-ups); otherwise the
        // back office is asked, with the offline fallback.
        let lookup = match &config.accounts.fixture_file {
            Some(path) => {
                let source = FixtureSource::load(path, &scheme)
                    .map_err(|e| SimulateError::Setup(format!("accounts.fixture_file: {e}")))?;
                devices::lookup::spawn(scheme, OfflineFallback::new(source), core_tx.clone())
            }
            None => crate::devices::lookup::spawn_for(&back_office, scheme, core_tx.clone())?,
        };
        // What is not fitted is known to the health desk (`configured_health`).
        let card = card.unwrap_or_else(absent);
        // Relays go to the recovery executor, sensors to their own watcher: two banks over
        // distinct lines of the same chip.
        let gpio = match &config.gpio {
            Some(g) => {
                let open = |g: &crate::gpio::GpioConfig| {
                    crate::gpio::GpioBank::open_cdev(g)
                        .map_err(|e| SimulateError::Setup(format!("gpio: {e}")))
                };
                let relays = crate::gpio::GpioConfig {
                    sensors: Default::default(),
                    ..g.clone()
                };
                let sensors = crate::gpio::GpioConfig {
                    relays: Default::default(),
                    ..g.clone()
                };
                if !sensors.sensors.is_empty() {
                    devices::sensors::spawn(open(&sensors)?, core_tx.clone());
                }
                Some(open(&relays)?)
            }
            None => None,
        };
        let recovery = devices::recovery::spawn(
            RecoveryTools {
                gpio,
                bill_reopen,
                power_off_for: Duration::from_secs(3),
                settle: Duration::from_secs(30),
                // Only where systemd brings the process back.
                may_restart_process: std::env::var_os("NOTIFY_SOCKET").is_some(),
            },
            core_tx.clone(),
        );
        Ok::<_, SimulateError>((
            DeviceLinks {
                lookup,
                bill,
                card,
                receipts,
            },
            recovery,
            back_office,
        ))
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
        service: ServiceSetup {
            access: service_access(config.service.pin_hash.clone()),
            export_dir: config
                .service
                .export_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("export")),
            idle_seconds: config.service.idle_seconds,
        },
        data_dir,
        wait_for_bill_ready: config.devices.bill_acceptor.is_some(),
        health,
        recovery: Some(recovery),
        office: config.terminal.office.clone(),
        shift_close_at: config.fiscal.close_shift_at,
        back_office,
    };
    run_kiosk(window, runtime, setup, core_tx, core_rx, links)
}

/// The technician's console on standard input.
fn spawn_console(
    bill: Arc<bill_acceptor::EmulatorHandle>,
    printer: Arc<receipt_printer::EmulatorHandle>,
    card: card_reader::EmulatorHandle,
    kkt: Option<KktEmulator>,
) {
    let mut card = Some(card);
    // The KKT's faults, for a cabinet that has one.
    let kkt_fault = move |fault: KktFault, on: bool| match &kkt {
        None => Err("no KKT in this cabinet: start with --fiscal shtrih".to_string()),
        Some(k) => {
            k.set_fault(fault, on);
            Ok(())
        }
    };
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
                // The card terminal loses power for good (its pty closes): the kiosk notices at
                // the next status enquiry.
                ["card-off"] => card
                    .take()
                    .map(drop)
                    .ok_or_else(|| "the card terminal is already off".to_string()),
                ["cassette-full"] => {
                    bill.cassette_full();
                    Ok(())
                }
                // A failure a reset does not always clear; the recovery ladder takes it from here.
                ["fail"] => {
                    bill.fail(bill_acceptor::FailureCode {
                        kind: bill_acceptor::FailureKind::StackMotor,
                        code: 0x50,
                    });
                    Ok(())
                }
                ["paper-near-end"] => {
                    printer.paper_near_end(true);
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
                ["cassette-out"] => bill
                    .remove_cassette()
                    .map(|taken| {
                        println!("cassette removed with {taken:?}");
                    })
                    .map_err(|e| e.to_string()),
                ["cassette-in"] => bill.insert_cassette().map_err(|e| e.to_string()),
                ["status"] => {
                    println!("cassette: {:?}", bill.cassette());
                    Ok(())
                }
                ["kkt-paper-out"] => kkt_fault(KktFault::PaperOut, true),
                // Paper loaded; a receipt held for it waits for the host's continue-print.
                ["kkt-paper-in"] => kkt_fault(KktFault::PaperOut, false),
                ["kkt-off"] => kkt_fault(KktFault::Silent, true),
                ["kkt-on"] => kkt_fault(KktFault::Silent, false),
                // The next sale registers in the FN but its answer never reaches the kiosk.
                ["kkt-lose-answer"] => kkt_fault(KktFault::LoseAnswerAfterRegistration, true),
                [] => Ok(()),
                _ => Err(format!("unknown command: {line}")),
            };
            if let Err(e) = result {
                eprintln!("{e}");
            }
        }
        // Standard input closed: the cabinet stays powered (this thread keeps the emulators)
        // until the kiosk exits.
        loop {
            std::thread::park();
        }
    });
}
