//! The simulated kiosk cabinet used by `terminal demo`, `terminal run --simulate` and the UI tests:
//! a CCNET bill validator emulator, a ZVT card terminal emulator and an ESC/POS printer emulator,
//! each on its own pseudo-terminal and driven by the real drivers, a fiscal register (the
//! emulated module, or the Shtrih-M KKT emulator on a pty driven by the real driver, see
//! [`SimFiscal`]), and the demo account source. The validator's power runs through a simulated
//! GPIO relay, so the health desk's recovery ladder can power-cycle it like a real cabinet's.
//! The card terminal's end of day runs daily at 23:30 Moscow time (the default of
//! `[devices.card_reader] end_of_day`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bill_acceptor::{spawn_driver, DriverConfig, Emulator as BillEmulator, Protocol};
use fiscal_register::shtrih::emulator::{KktConfig, KktEmulator};
use fiscal_register::{EmulatedFiscalModule, FiscalModule, VatRate};
use receipt_printer::{Emulator as PrinterEmulator, PrinterHandle, PrinterProfile, SerialSettings};
use tokio::sync::mpsc;

use crate::accounts::{AccountScheme, FixtureSource, OfflineFallback};
use crate::config::FiscalConfig;
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
    #[error("{0}")]
    FiscalSetup(#[from] devices::fiscal::FiscalSetupError),
}

/// The fiscal register the simulated cabinet sells through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SimFiscal {
    /// The emulated fiscal module: the kiosk prints its receipts over ESC/POS.
    #[default]
    Emulated,
    /// The Shtrih-M KKT emulator on its own pty, driven by the real driver as `fiscal.kind =
    /// "shtrih"` drives one; the KKT prints its receipts (saved under `kkt-receipts/`).
    Shtrih,
}

/// The running cabinet: the core's links, and the emulators' handles (the technician's hands).
pub struct SimDevices {
    pub links: DeviceLinks,
    /// Where the core sends recovery steps ([`crate::runtime::Core::with_health`]).
    pub recovery: mpsc::Sender<RecoveryAction>,
    pub bill: Arc<bill_acceptor::EmulatorHandle>,
    pub printer: receipt_printer::EmulatorHandle,
    pub card: card_reader::EmulatorHandle,
    /// The bill scanner, USB-CDC on a pty (CR after each code), read by the real serial adapter.
    pub scanner: barcode_scanner::emulator::ScannerEmulator,
    /// The KKT emulator with [`SimFiscal::Shtrih`].
    pub kkt: Option<SimKkt>,
}

/// The emulated KKT of the cabinet and what it printed.
pub struct SimKkt {
    pub emulator: KktEmulator,
    /// Every printout of the KKT, decoded from the ESC/POS it sent to its printer.
    pub printed: Arc<Mutex<Vec<receipt_printer::DecodedReceipt>>>,
    /// Where the printouts are saved as text and PNG.
    pub printout_dir: std::path::PathBuf,
}

/// The simulated KKT's fiscal drive: the emulator keeps it in memory, so every start is a new
/// FN (its own number, FDs from 1), as if the KKT's FN had been replaced.
fn spawn_kkt(data_dir: &Path, profile: &PrinterProfile) -> Result<SimKkt, SimError> {
    let printout_dir = data_dir.join("kkt-receipts");
    std::fs::create_dir_all(&printout_dir)?;
    let sink = receipt_printer::kkt::EscPosSink::new(
        profile.clone(),
        receipt_printer::sample::header(),
        receipt_printer::sample::footer(),
    )
    .saving_to(printout_dir.clone());
    let printed = sink.decoded();
    let now = chrono::Utc::now();
    let config = KktConfig {
        fn_number: format!("99990789{:08}", now.timestamp().rem_euclid(100_000_000)),
        key: b"simulated-kkt-key".to_vec(),
        seller: receipt_printer::sample::seller(),
        password: 30,
        start_time: now.with_timezone(&chrono_tz::Europe::Moscow).naive_local(),
    };
    let emulator = KktEmulator::spawn(config, None, Some(Box::new(sink)))?;
    Ok(SimKkt {
        emulator,
        printed,
        printout_dir,
    })
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
    start_with(core, data_dir, transcript, SimFiscal::Emulated).await
}

/// [`start`] with the fiscal register of choice.
pub async fn start_with(
    core: mpsc::Sender<CoreEvent>,
    data_dir: &Path,
    transcript: Option<Arc<Mutex<Vec<String>>>>,
    fiscal: SimFiscal,
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
    let (fiscal, kkt): (Box<dyn FiscalModule>, _) = match fiscal {
        SimFiscal::Emulated => (
            Box::new(EmulatedFiscalModule::open(
                data_dir.join("fiscal.json"),
                "9999078900012345",
                b"simulated-device-key",
            )?),
            None,
        ),
        SimFiscal::Shtrih => {
            let kkt = spawn_kkt(data_dir, &PrinterProfile::EPSON_TM_T20)?;
            // Exactly what `run --config` builds for `[fiscal] kind = "shtrih"`.
            let config = FiscalConfig::printing_shtrih(
                kkt.emulator.path().to_path_buf(),
                &receipt_printer::sample::seller(),
            );
            let module = devices::fiscal::open_module(&config, "SIM01", data_dir)?;
            (module, Some(kkt))
        }
    };
    let setup = ReceiptSetup {
        fiscal,
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
        receipts: devices::receipts::spawn(setup, core.clone()),
        // Replaced by the real СБП task once the back office is up (`run --simulate`).
        sbp: crate::runtime::fakes::no_sbp(),
    };
    let scanner = spawn_scanner(core)?;
    Ok(SimDevices {
        links,
        recovery,
        bill,
        printer,
        card,
        scanner,
        kkt,
    })
}

/// The cabinet's bill scanner: its emulator, read exactly as `run --config` reads a
/// `mode = "serial"` scanner. Bills must name the simulated seller as payee.
fn spawn_scanner(
    core: mpsc::Sender<CoreEvent>,
) -> Result<barcode_scanner::emulator::ScannerEmulator, SimError> {
    const TERMINATOR: &[u8] = b"\r";
    let emulator = barcode_scanner::emulator::ScannerEmulator::spawn(TERMINATOR.to_vec())?;
    let config = crate::config::ScannerConfig::Serial {
        port: emulator.path().to_path_buf(),
        baud: crate::config::ScannerConfig::DEFAULT_BAUD,
        terminator: TERMINATOR.to_vec(),
    };
    let acceptance = crate::accounts::BillAcceptance {
        scheme: AccountScheme::default(),
        payee_inns: vec![receipt_printer::sample::seller().inn],
    };
    devices::scanner::spawn(&config, acceptance, core)?;
    Ok(emulator)
}

/// The bytes of the payment QR code on the demo customer's bill (account `1000000001`,
/// 1 800,00 ₽), in Windows-1251 as bills print it — what `scan` sends without an argument.
pub fn sample_bill_code() -> Vec<u8> {
    const BILL: &str = "ST00011|Name=АО «Энергосбыт»|PersonalAcc=40702810900000012345|BankName=ПАО Сбербанк|BIC=042809679|CorrespAcc=30101810700000000679|PayeeINN=7701234567|PersAcc=1000000001|Sum=180000|Purpose=Оплата электроэнергии за 11.2026";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(BILL);
    bytes.into_owned()
}

/// What the console's `scan ARG` puts on the scanner's line: the file's bytes when ARG names
/// one; a bill typed as text, encoded as its header says; anything else as typed (garbage
/// for the refusal messages). No argument: [`sample_bill_code`].
pub fn scan_payload(arg: &str) -> Vec<u8> {
    let arg = arg.trim();
    if arg.is_empty() {
        return sample_bill_code();
    }
    if let Ok(bytes) = std::fs::read(arg) {
        return bytes;
    }
    crate::accounts::parse_payment_qr_text(arg)
        .ok()
        .and_then(|qr| qr.to_bytes().ok())
        .unwrap_or_else(|| arg.as_bytes().to_vec())
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
