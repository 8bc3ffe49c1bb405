//! `terminal run --config F`: the kiosk with its window, on the devices the config names (serial
//! ports of the validator, the card reader, the printer and the KKT, GPIO relays and sensors),
//! syncing its journal to the configured back office ([`crate::sync`]). The health desk watches
//! every device, the recovery ladder works through the relays, Prometheus metrics are served on
//! localhost, and SIGTERM is an orderly stop ([`crate::signals`]).
//!
//! [`run_kiosk`] is shared with `run --simulate` (`crate::simulate`, the `sim` feature): only the
//! devices and the back office differ.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bill_acceptor::{spawn_driver, DriverConfig, Protocol};
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
use crate::service_pin::ServiceAccessConfig;
use crate::session::{Session, SessionConfig, View};
use crate::supervision::{self, DEFAULT_METRICS_ADDR};
use crate::sync::{BackOfficeLink, BackOfficeSetup, SyncSetupError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
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

/// Everything that differs between a simulated and a configured kiosk.
pub(crate) struct KioskSetup {
    pub(crate) terminal_id: String,
    pub(crate) tz: chrono_tz::Tz,
    pub(crate) limits: Limits,
    pub(crate) rules: MeterRules,
    pub(crate) data_dir: PathBuf,
    /// Bill reports held across a restart must be settled before customers are served.
    pub(crate) wait_for_bill_ready: bool,
    /// Working hours, alert thresholds, the recovery ladder and the fitted devices.
    pub(crate) health: HealthSetup,
    /// Who carries out recovery steps (None: nobody can, the ladders stay idle).
    pub(crate) recovery: Option<mpsc::Sender<RecoveryAction>>,
    /// The host office, where the out-of-service notice sends customers.
    pub(crate) office: String,
    /// `[fiscal] close_shift_at`.
    pub(crate) shift_close_at: Option<chrono::NaiveTime>,
    pub(crate) service: ServiceSetup,
    /// The retailer's look and hotline.
    pub(crate) brand: ui::Brand,
}

/// Opens the journal, builds the session and the core over `links`, and runs the window until
/// it is closed or the core ends (an orderly stop).
pub(crate) fn run_kiosk(
    window: ui::Ui,
    runtime: tokio::runtime::Runtime,
    setup: KioskSetup,
    back_office: BackOfficeSetup,
    core_tx: mpsc::Sender<CoreEvent>,
    core_rx: mpsc::Receiver<CoreEvent>,
    links: DeviceLinks,
) -> Result<(), RunError> {
    let journal_path = setup.data_dir.join("journal.sqlite");
    let mut journal = Journal::open(&journal_path)?;
    let local_info = crate::content::LocalInfo {
        office: setup.office.clone(),
        hours: setup.health.calendar.week().describe_ru(),
        hotline: setup.brand.hotline().into(),
    };
    let (tz, data_dir, terminal_id) = (setup.tz, setup.data_dir.clone(), setup.terminal_id.clone());
    window.set_brand(&setup.brand);
    // Kept for as long as the window runs: its handle feeds heartbeats and metrics.
    let sync = {
        let _rt = runtime.enter();
        back_office.start(&mut journal, &journal_path)?
    };
    let (core, view_rx) = build_core(setup, journal, links)?;
    let metrics_addr = DEFAULT_METRICS_ADDR
        .parse()
        .map_err(|e| RunError::Setup(format!("metrics address: {e}")))?;
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
            .map_err(|e| RunError::Setup(format!("signal handlers: {e}")))?;
    }
    let core_outcome = spawn_core(&runtime, core, core_rx, window.handle());
    let bridge = Arc::new(Mutex::new(
        ScreenBridge::new(local_info.hotline.clone())
            .with_office(local_info.office.clone(), local_info.hours.clone())
            .with_timezone(tz),
    ));
    spawn_content(&runtime, &sync, &data_dir, local_info, bridge.clone());
    connect_window(&window, &runtime, bridge, view_rx, core_tx);
    let shown = window.run();
    // The syncer stops between requests; what it has not sent waits in the outbox.
    runtime.block_on(sync.shutdown());
    drop(runtime);
    shown?;
    match core_outcome.try_recv() {
        Ok(Err(e)) => Err(RunError::Core(e)),
        // Ended in order, or the window was closed with the core still running.
        Ok(Ok(())) | Err(_) => Ok(()),
    }
}

/// The session over the journal and the core around it, with service mode and the health desk.
fn build_core(
    setup: KioskSetup,
    journal: Journal,
    links: DeviceLinks,
) -> Result<(Core<SystemClock>, watch::Receiver<View>), RunError> {
    let mut config = SessionConfig::new(setup.terminal_id.clone(), setup.limits);
    config.tz = setup.tz;
    config.shift_close_at = setup.shift_close_at;
    config.first_document_no = journal.last_seq() + 1;
    let session = Session::new(config, Box::new(setup.rules));
    let (view_tx, view_rx) = watch::channel(session.view());
    let core_setup = CoreSetup {
        tz: setup.tz,
        terminal_id: setup.terminal_id,
        wait_for_bill_ready: setup.wait_for_bill_ready,
    };
    let core = Core::new(session, journal, links, SystemClock, view_tx, core_setup)
        .and_then(|core| core.with_service(setup.service))
        .map_err(|e| RunError::Setup(e.to_string()))?
        .with_health(setup.health, setup.recovery);
    Ok((core, view_rx))
}

/// Runs the core; the window closes when it ends (a kiosk whose core is gone must not look in
/// service). The receiver gets how it ended.
fn spawn_core(
    runtime: &tokio::runtime::Runtime,
    core: Core<SystemClock>,
    core_rx: mpsc::Receiver<CoreEvent>,
    ui: ui::UiHandle,
) -> std::sync::mpsc::Receiver<Result<(), String>> {
    let (core_ended, core_outcome) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let outcome = core.run(core_rx).await.map(|_| ());
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "core stopped");
        }
        let _ = core_ended.send(outcome.map_err(|e| e.to_string()));
        let _ = ui.quit();
    });
    core_outcome
}

/// The information pages, fetched from the back office into the bridge (cached on disk).
fn spawn_content(
    runtime: &tokio::runtime::Runtime,
    sync: &crate::sync::KioskSync,
    data_dir: &std::path::Path,
    local_info: crate::content::LocalInfo,
    bridge: Arc<Mutex<ScreenBridge>>,
) {
    match sync.link().client() {
        Ok(client) => {
            let _rt = runtime.enter();
            crate::content::spawn(
                client,
                crate::content::ContentCache::new(data_dir),
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
}

/// Intents from the glass go through the bridge into the core; views from the core (and a
/// once-a-second refresh for the idle countdown) go through the bridge onto the glass.
fn connect_window(
    window: &ui::Ui,
    runtime: &tokio::runtime::Runtime,
    bridge: Arc<Mutex<ScreenBridge>>,
    view_rx: watch::Receiver<View>,
    core_tx: mpsc::Sender<CoreEvent>,
) {
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
    let mut view_rx = view_rx;
    runtime.spawn(async move {
        loop {
            let view = view_rx.borrow_and_update().clone();
            show(&view);
            let _ = tokio::time::timeout(Duration::from_secs(1), view_rx.changed()).await;
        }
    });
}

pub(crate) fn prepare(
    data_dir: &std::path::Path,
) -> Result<(ui::Ui, tokio::runtime::Runtime), RunError> {
    // The window first: on a machine without a display this fails cleanly before anything starts.
    let window = ui::Ui::new()?;
    std::fs::create_dir_all(data_dir).map_err(|e| RunError::Io(data_dir.to_path_buf(), e))?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| RunError::Setup(e.to_string()))?;
    Ok((window, runtime))
}

/// The service guard's settings: 5 wrong PINs lock it for 15 minutes, doubling per lockout.
pub(crate) fn service_access(pin_hash: String) -> ServiceAccessConfig {
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
fn configured_health(config: &Config) -> Result<HealthSetup, RunError> {
    let mut setup = HealthSetup::standard(config.terminal.timezone);
    setup.alerts = config.health.alerts.clone();
    setup.ladder = config.health.recovery.clone();
    if !config.working_hours.is_empty() {
        let calendar: crate::health::CalendarConfig =
            toml::Value::Table(config.working_hours.clone())
                .try_into()
                .map_err(|e| RunError::Setup(format!("working_hours: {e}")))?;
        setup.calendar = WorkingCalendar::new(calendar)
            .map_err(|e| RunError::Setup(format!("working_hours: {e}")))?;
    }
    let devices = &config.devices;
    for (device, fitted) in [
        (Device::BillValidator, devices.bill_acceptor.is_some()),
        (Device::CardReader, devices.card_reader.is_some()),
        (Device::Printer, devices.printer.is_some()),
        (Device::Scanner, devices.scanner.is_some()),
        (Device::Sbp, config.back_office.sbp),
    ] {
        if !fitted {
            setup.fitted.remove(&device);
        }
    }
    Ok(setup)
}

/// `terminal run --config F`: the kiosk on the configured devices, until the window closes or an
/// orderly stop ends it.
pub fn run_configured(config: Config, data_dir: PathBuf) -> Result<(), RunError> {
    let health = configured_health(&config)?;
    let (window, runtime) = prepare(&data_dir)?;
    let (core_tx, core_rx) = mpsc::channel::<CoreEvent>(64);
    let link = BackOfficeLink::from_key_file(
        &config.back_office.url,
        &config.terminal.id,
        &config.back_office.key_file,
    )?
    .with_ca_file(config.back_office.ca_file.as_deref())?;
    let (links, recovery, back_office) =
        runtime.block_on(open_devices(&config, &data_dir, link, &core_tx))?;
    let tz = config.terminal.timezone;
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
        brand: config.brand.clone(),
    };
    run_kiosk(window, runtime, setup, back_office, core_tx, core_rx, links)
}

/// Opens every configured device and the back office; what is not fitted gets a channel nobody
/// serves (the health desk knows it from `configured_health`).
async fn open_devices(
    config: &Config,
    data_dir: &std::path::Path,
    link: BackOfficeLink,
    core_tx: &mpsc::Sender<CoreEvent>,
) -> Result<(DeviceLinks, mpsc::Sender<RecoveryAction>, BackOfficeSetup), RunError> {
    let (bill, bill_reopen) = match &config.devices.bill_acceptor {
        Some(b) => {
            let (commands, reopen) = open_bill_acceptor(b, core_tx).await?;
            (commands, Some(reopen))
        }
        None => (absent(), None),
    };
    let receipts = open_receipts(config, data_dir, core_tx)?;
    let card = match &config.devices.card_reader {
        Some(c) => {
            let reader =
                card_reader::CardReader::open(&c.port, card_reader::DriverConfig::default())
                    .map_err(|e| {
                        RunError::Setup(format!(
                            "devices.card_reader.port {}: {e}",
                            c.port.display()
                        ))
                    })?;
            let setup = devices::card::CardSetup::daily(c.end_of_day, config.terminal.timezone);
            devices::card::spawn_with(reader, core_tx.clone(), setup)
        }
        None => absent(),
    };
    let mut back_office = BackOfficeSetup::configured(link, core_tx.clone());
    if config.back_office.sbp {
        back_office.availability = back_office.availability.with_sbp();
    }
    // Always there: a journal may hold a СБП payment from before `sbp` was switched off.
    let sbp = devices::sbp::spawn(
        back_office
            .link
            .client()
            .map_err(|e| RunError::Setup(format!("back_office: {e}")))?,
        devices::sbp::SbpTiming::default(),
        core_tx.clone(),
    );
    let lookup = open_lookup(config, &back_office, core_tx)?;
    if let Some(scanner) = &config.devices.scanner {
        open_scanner(scanner, config, core_tx)?;
    }
    let recovery = devices::recovery::spawn(
        RecoveryTools {
            gpio: open_gpio(config, core_tx)?,
            bill_reopen,
            power_off_for: Duration::from_secs(3),
            settle: Duration::from_secs(30),
            // Only where systemd brings the process back.
            may_restart_process: std::env::var_os("NOTIFY_SOCKET").is_some(),
        },
        core_tx.clone(),
    );
    let links = DeviceLinks {
        lookup,
        bill,
        card,
        receipts,
        sbp,
    };
    Ok((links, recovery, back_office))
}

/// The bill scanner. Bills must name the seller, or the supplier the kiosk sells for as agent,
/// as payee.
fn open_scanner(
    scanner: &crate::config::ScannerConfig,
    config: &Config,
    core_tx: &mpsc::Sender<CoreEvent>,
) -> Result<(), RunError> {
    let mut payee_inns = vec![config.seller.inn.clone()];
    if let Some(agent) = &config.fiscal.agent {
        payee_inns.push(agent.supplier_inn.clone());
    }
    let acceptance = crate::accounts::BillAcceptance {
        scheme: config.accounts.scheme,
        payee_inns,
    };
    devices::scanner::spawn(scanner, acceptance, core_tx.clone())
        .map_err(|e| RunError::Setup(format!("devices.scanner: {e}")))
}

/// The validator's driver and its task, which the recovery ladder can make re-open the port.
async fn open_bill_acceptor(
    b: &crate::config::BillAcceptorConfig,
    core_tx: &mpsc::Sender<CoreEvent>,
) -> Result<(mpsc::Sender<crate::session::BillCommand>, mpsc::Sender<()>), RunError> {
    let protocol = match b.protocol {
        BillProtocol::Ccnet => Protocol::Ccnet,
        BillProtocol::Id003 => Protocol::Id003,
    };
    let driver_config = DriverConfig::new(protocol, &b.port);
    let acceptor = spawn_driver(driver_config.clone()).await.map_err(|e| {
        RunError::Setup(format!(
            "devices.bill_acceptor.port {}: {e}",
            b.port.display()
        ))
    })?;
    Ok(devices::bill::spawn_reopenable(
        acceptor,
        driver_config,
        core_tx.clone(),
    ))
}

/// The receipt task: the fiscal module, the printer if one is fitted, and the stored receipts.
fn open_receipts(
    config: &Config,
    data_dir: &std::path::Path,
    core_tx: &mpsc::Sender<CoreEvent>,
) -> Result<mpsc::Sender<crate::runtime::ReceiptJob>, RunError> {
    let printer = match &config.devices.printer {
        Some(p) => {
            let profile = PrinterProfile::by_id(&p.profile).ok_or_else(|| {
                RunError::Setup(format!(
                    "devices.printer.profile: unknown profile {:?}",
                    p.profile
                ))
            })?;
            let settings = SerialSettings::for_profile(&profile);
            let port = p.port.to_string_lossy().into_owned();
            Some((PrinterHandle::new(port, profile.clone(), settings), profile))
        }
        None => None,
    };
    let fiscal = devices::fiscal::open_module(&config.fiscal, &config.terminal.id, data_dir)
        .map_err(|e| RunError::Setup(e.to_string()))?;
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
    Ok(devices::receipts::spawn(
        ReceiptSetup {
            fiscal,
            printer: printer.map(|(h, _)| h),
            seller,
            vat: VatRate::Vat22,
            tz: config.terminal.timezone,
            header: vec![config.terminal.name.clone()],
            footer: vec![config.terminal.office.clone()],
            store: Some(data_dir.join("receipts")),
            transcript: None,
            columns,
        },
        core_tx.clone(),
    ))
}

/// Account lookups: a fixture file stands in for the back office's accounts (bench set-ups);
/// otherwise the back office is asked, with the offline fallback.
fn open_lookup(
    config: &Config,
    back_office: &BackOfficeSetup,
    core_tx: &mpsc::Sender<CoreEvent>,
) -> Result<mpsc::Sender<String>, RunError> {
    let scheme = config.accounts.scheme;
    match &config.accounts.fixture_file {
        Some(path) => {
            let source = FixtureSource::load(path, &scheme)
                .map_err(|e| RunError::Setup(format!("accounts.fixture_file: {e}")))?;
            Ok(devices::lookup::spawn(
                scheme,
                OfflineFallback::new(source),
                core_tx.clone(),
            ))
        }
        None => Ok(crate::devices::lookup::spawn_for(
            back_office,
            scheme,
            core_tx.clone(),
        )?),
    }
}

/// The GPIO relays for the recovery executor; the sensors get their own watcher (two banks over
/// distinct lines of the same chip).
fn open_gpio(
    config: &Config,
    core_tx: &mpsc::Sender<CoreEvent>,
) -> Result<Option<crate::gpio::GpioBank<linux_embedded_hal::CdevPin>>, RunError> {
    let Some(g) = &config.gpio else {
        return Ok(None);
    };
    let open = |g: &crate::gpio::GpioConfig| {
        crate::gpio::GpioBank::open_cdev(g).map_err(|e| RunError::Setup(format!("gpio: {e}")))
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
    Ok(Some(open(&relays)?))
}
