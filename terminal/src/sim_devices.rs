//! The simulated kiosk cabinet used by `terminal demo`, `terminal run --simulate` and the UI tests:
//! a CCNET bill validator emulator, a ZVT card terminal emulator and an ESC/POS printer emulator,
//! each on its own pseudo-terminal and driven by the real drivers, an emulated fiscal module, and
//! the demo account source. The validator's power runs through a simulated GPIO relay, so the
//! health desk's recovery ladder can power-cycle it like a real cabinet's.
//! the demo account source. The card terminal's end of day runs daily at 23:30 Moscow time (the
//! default of `[devices.card_reader] end_of_day`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bill_acceptor::{spawn_driver, DriverConfig, Emulator as BillEmulator, Protocol};
use fiscal_register::{EmulatedFiscalModule, VatRate};
use receipt_printer::{Emulator as PrinterEmulator, PrinterHandle, PrinterProfile, SerialSettings};
use tokio::sync::mpsc;

use crate::accounts::{AccountScheme, FixtureSource, OfflineFallback};
use crate::devices;
use crate::devices::card::{CardSetup, EndOfDaySchedule};
use crate::devices::receipts::ReceiptSetup;
use crate::devices::recovery::RecoveryTools;
use crate::gpio::{GpioBank, Level, Relay, SimPin};
use crate::health::{Device, RecoveryAction};
use crate::runtime::{CoreEvent, DeviceLinks};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("emulator: {0}")]
    Emulator(#[from] std::io::Error),
    #[error("bill validator driver: {0}")]
    Driver(#[from] bill_acceptor::DriverError),
    #[error("card reader: {0}")]
    Card(#[from] card_reader::CardError),
    #[error("fiscal module: {0}")]
    Fiscal(#[from] fiscal_register::FiscalError),
}

/// The running cabinet: the core's links, and the emulators' handles (the technician's hands).
pub struct SimDevices {
    pub links: DeviceLinks,
    /// Where the core sends recovery steps ([`crate::runtime::Core::with_health`]).
    pub recovery: mpsc::Sender<RecoveryAction>,
    pub bill: Arc<bill_acceptor::EmulatorHandle>,
    pub printer: receipt_printer::EmulatorHandle,
    pub card: card_reader::EmulatorHandle,
}

impl SimDevices {
    /// Blocks until the validator has finished the driver's start-up: idle for a whole second
    /// with no reset (which passes through initialising) in between. A fault injected before that
    /// would be cleared by the start-up RESET. False after `limit`.
    pub fn wait_validator_started(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let mut idle_since: Option<std::time::Instant> = None;
        while std::time::Instant::now() < deadline {
            let idle = matches!(
                self.bill.status(),
                bill_acceptor::DeviceStatus::Disabled | bill_acceptor::DeviceStatus::Idling
            );
            match (idle, idle_since) {
                (true, Some(since)) if since.elapsed() >= Duration::from_secs(1) => return true,
                (true, None) => idle_since = Some(std::time::Instant::now()),
                (false, _) => idle_since = None,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

/// Starts the cabinet (inside a tokio runtime). Fiscal state and receipts live under `data_dir`;
/// `transcript` collects the text of every printed receipt.
pub async fn start(
    core: mpsc::Sender<CoreEvent>,
    data_dir: &Path,
    transcript: Option<Arc<Mutex<Vec<String>>>>,
) -> Result<SimDevices, SimError> {
    let bill = Arc::new(BillEmulator::spawn(Protocol::Ccnet)?);
    let bill_config = DriverConfig::new(Protocol::Ccnet, bill.device_path());
    let acceptor = spawn_driver(bill_config.clone()).await?;
    let (bill_commands, bill_reopen) =
        devices::bill::spawn_reopenable(acceptor, bill_config, core.clone());
    let relay_pin = SimPin::new(true);
    wire_power(relay_pin.clone(), bill.clone());
    let mut gpio = GpioBank::new();
    gpio.add_relay(
        Device::BillValidator.name(),
        Relay::new(relay_pin, Level::Low),
    );
    let recovery = devices::recovery::spawn(
        RecoveryTools {
            gpio: Some(gpio),
            bill_reopen: Some(bill_reopen),
            power_off_for: Duration::from_millis(500),
            settle: Duration::from_secs(5),
            may_restart_process: false,
        },
        core.clone(),
    );
    let card = card_reader::Emulator::spawn()?;
    let reader = card_reader::CardReader::open(card.path(), card_reader::DriverConfig::default())?;
    let profile = PrinterProfile::EPSON_TM_T20;
    let printer = PrinterEmulator::spawn(profile.clone(), None)?;
    let printer_handle = PrinterHandle::new(
        printer.path().to_string_lossy().into_owned(),
        profile.clone(),
        SerialSettings::for_profile(&profile),
    );
    let fiscal = EmulatedFiscalModule::open(
        data_dir.join("fiscal.json"),
        "9999078900012345",
        b"simulated-device-key",
    )?;
    let setup = ReceiptSetup {
        fiscal: Box::new(fiscal),
        printer: Some(printer_handle),
        seller: receipt_printer::sample::seller(),
        vat: VatRate::Vat22,
        tz: chrono_tz::Europe::Moscow,
        header: receipt_printer::sample::header(),
        footer: receipt_printer::sample::footer(),
        store: Some(data_dir.join("receipts")),
        transcript,
        columns: profile.columns,
    };
    let links = DeviceLinks {
        lookup: devices::lookup::spawn(
            AccountScheme::default(),
            OfflineFallback::new(FixtureSource::demo()),
            core.clone(),
        ),
        bill: bill_commands,
        card: devices::card::spawn_with(
            reader,
            core.clone(),
            CardSetup {
                // A pty answers at once: a dead emulator is noticed within seconds.
                probe_every: Duration::from_secs(2),
                ..CardSetup::daily(EndOfDaySchedule::DEFAULT_TIME, chrono_tz::Europe::Moscow)
            },
        ),
        receipts: devices::receipts::spawn(setup, core),
    };
    Ok(SimDevices {
        links,
        recovery,
        bill,
        printer,
        card,
    })
}

/// The simulated relay is the validator's power line: a low level cuts the emulator's power
/// until the level is high again.
fn wire_power(pin: SimPin, bill: Arc<bill_acceptor::EmulatorHandle>) {
    tokio::spawn(async move {
        let mut powered = pin.level();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now_powered = pin.level();
            if now_powered != powered {
                // "Off" lasts until the relay closes again; an hour stands for "until further notice".
                bill.power_loss_for(if now_powered {
                    Duration::ZERO
                } else {
                    Duration::from_secs(3600)
                });
                powered = now_powered;
            }
            if Arc::strong_count(&bill) == 1 {
                return;
            }
        }
    });
}
