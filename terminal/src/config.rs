//! The kiosk's configuration: one TOML file (see `config/kiosk.example.toml`, which documents every
//! key), read and checked once at start.
//!
//! Every problem is reported with the key it concerns and the reason, and all problems of a file
//! are reported together ([`check`]), so a technician fixes the file in one go:
//!
//! ```text
//! devices.bill_acceptor.protocol: expected "ccnet" or "id003", got "cctalk"
//! limits.per_payment_rub: must not exceed limits.per_day_rub (100000), got 150000
//! ```
//!
//! Money limits are whole rubles in the file (`per_payment_rub = 15000`) and kopecks in
//! [`Limits`]. Relative paths are resolved against the config file's folder. Unknown keys are
//! errors: a misspelt key would otherwise be silently ignored.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use chrono_tz::Tz;
use toml::Table;

use crate::accounts::AccountScheme;
use crate::readings::{AcceptanceWindow, ReadingRules};

mod checks;
mod reader;
mod sections;

pub use checks::inn_is_valid;

/// One problem with the config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("line {line}, column {column}: {reason}")]
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{key}: {reason}")]
    Key { key: String, reason: String },
}

impl ConfigError {
    fn key(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub terminal: TerminalConfig,
    pub devices: DevicesConfig,
    pub fiscal: FiscalConfig,
    pub seller: SellerConfig,
    pub back_office: BackOfficeConfig,
    pub limits: Limits,
    pub accounts: AccountsConfig,
    pub readings: ReadingsConfig,
    /// The `[working_hours]` table as written (checked to be a valid office calendar in the
    /// health monitor's shape, see `health::calendar`; empty means the standard office week).
    pub working_hours: Table,
    pub service: ServiceConfig,
    /// `[health]`: alert thresholds and the recovery ladder (defaults when absent).
    pub health: HealthTuning,
    /// `[gpio]`: relays that switch device power and cabinet sensors (none when absent).
    pub gpio: Option<crate::gpio::GpioConfig>,
    /// `[brand]`: the retailer's name, logo, colours, hotline and how-to-use text (the
    /// project's own look when absent).
    pub brand: ui::Brand,
}

/// The `[health]` section: `[health.alerts]` and `[health.recovery]`, both optional.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthTuning {
    #[serde(default)]
    pub alerts: crate::health::AlertConfig,
    #[serde(default)]
    pub recovery: crate::health::LadderConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TerminalConfig {
    /// 1–16 characters `A–Z`, `0–9`; appears in registration numbers and receipts.
    pub id: String,
    pub name: String,
    /// The host office (for the working-hours calendar and the information screen).
    pub office: String,
    pub timezone: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicesConfig {
    pub bill_acceptor: Option<BillAcceptorConfig>,
    pub card_reader: Option<CardReaderConfig>,
    pub printer: Option<PrinterConfig>,
    /// The bill scanner (reads the payment QR code on a bill).
    pub scanner: Option<ScannerConfig>,
}

impl ScannerConfig {
    /// The usual factory speed of kiosk scanners in USB-CDC mode (CDC ignores it anyway).
    pub const DEFAULT_BAUD: u32 = 9_600;
}

/// How the bill scanner is connected: the two ways built-in kiosk scanners come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerConfig {
    /// USB-CDC (or RS-232): the code's bytes and a terminator on a serial port.
    Serial {
        port: PathBuf,
        baud: u32,
        /// Empty: only a pause ends a code.
        terminator: Vec<u8>,
    },
    /// USB HID keyboard wedge, read from its evdev node (grabbed, so no keystroke reaches the UI).
    Hid {
        device: PathBuf,
        layout: barcode_scanner::KeyLayout,
        grab: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillProtocol {
    /// CashCode CCNET.
    Ccnet,
    /// JCM ID003.
    Id003,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillAcceptorConfig {
    pub protocol: BillProtocol,
    pub port: PathBuf,
    /// Enabled banknotes in rubles, ascending.
    pub denominations_rub: Vec<u32>,
}

/// Banknotes of the Bank of Russia in circulation.
pub const RUBLE_BANKNOTES: [u32; 8] = [10, 50, 100, 200, 500, 1000, 2000, 5000];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardProtocol {
    Zvt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardReaderConfig {
    pub protocol: CardProtocol,
    pub port: PathBuf,
    /// Local time of the daily end-of-day (settlement) run.
    pub end_of_day: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterConfig {
    /// Printer profile name (code page and quirks), owned by the `receipt-printer` crate.
    pub profile: String,
    pub port: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiscalKind {
    /// Host-rendered receipts with emulated fiscal attributes (simulation, tests).
    Emulated,
    Shtrih,
    Atol,
}

/// Tax system (tag 1055).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxSystem {
    Osn,
    UsnIncome,
    UsnIncomeOutcome,
    Esn,
    Patent,
}

impl TaxSystem {
    /// The value of tag 1055.
    pub fn tag_1055(self) -> u8 {
        match self {
            TaxSystem::Osn => 1,
            TaxSystem::UsnIncome => 2,
            TaxSystem::UsnIncomeOutcome => 4,
            TaxSystem::Esn => 16,
            TaxSystem::Patent => 32,
        }
    }
}

/// Agent sign (tags 1057/1222).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    BankPaymentAgent,
    BankPaymentSubagent,
    PaymentAgent,
    PaymentSubagent,
    Attorney,
    CommissionAgent,
    Other,
}

impl AgentKind {
    /// The bit of tag 1057/1222 (bit 0 = bank payment agent … bit 6 = other agent).
    pub fn bit(self) -> u8 {
        match self {
            AgentKind::BankPaymentAgent => 0,
            AgentKind::BankPaymentSubagent => 1,
            AgentKind::PaymentAgent => 2,
            AgentKind::PaymentSubagent => 3,
            AgentKind::Attorney => 4,
            AgentKind::CommissionAgent => 5,
            AgentKind::Other => 6,
        }
    }
}

/// When the kiosk operator takes payments on behalf of a supplier (tags 1057, 1222, 1224–1226).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub kind: AgentKind,
    pub supplier_inn: String,
    pub supplier_name: String,
    /// `+7` and ten digits.
    pub supplier_phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalConfig {
    pub kind: FiscalKind,
    /// Required for `shtrih` and `atol`.
    pub port: Option<PathBuf>,
    /// The KKT's line speed (`shtrih`; 115200 unless its exchange table says otherwise).
    pub baud: u32,
    /// The operator password the KKT is driven with (`shtrih`; 30, the administrator, by default).
    pub password: u32,
    /// The KKT prints the receipt on the printer wired to it (kiosk KKTs do); false: it returns
    /// the fiscal attributes and the kiosk prints over ESC/POS.
    pub prints: bool,
    /// Automat number, tag 1036.
    pub machine_number: String,
    /// KKT registration number, 16 digits (tag 1037).
    pub kkt_reg_number: String,
    pub tax_system: TaxSystem,
    pub agent: Option<AgentConfig>,
    /// The daily time (local) the kiosk closes the shift and opens a new one between customers
    /// (`close_shift_at = "23:45"`); without it a shift is renewed 23 hours after it opened.
    pub close_shift_at: Option<chrono::NaiveTime>,
}

impl FiscalConfig {
    /// `baud` when the file does not say.
    pub const DEFAULT_BAUD: u32 = 115_200;
    /// `password` when the file does not say: the Shtrih administrator's.
    pub const DEFAULT_PASSWORD: u32 = 30;

    /// A kiosk KKT that prints its own receipts, on `port` with the defaults, registered for
    /// `seller` (the simulated cabinet and the cash-soak harness plug this in).
    pub fn printing_shtrih(port: PathBuf, seller: &fiscal_register::Seller) -> Self {
        FiscalConfig {
            kind: FiscalKind::Shtrih,
            port: Some(port),
            baud: Self::DEFAULT_BAUD,
            password: Self::DEFAULT_PASSWORD,
            prints: true,
            machine_number: seller.machine_number.clone(),
            kkt_reg_number: seller.kkt_reg_number.clone(),
            tax_system: TaxSystem::Osn,
            agent: None,
            close_shift_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerConfig {
    /// Tag 1018, 10 or 12 digits with valid check digits.
    pub inn: String,
    /// Tag 1048.
    pub name: String,
    /// Tag 1009.
    pub address: String,
    /// Tag 1187.
    pub place: String,
    pub site: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackOfficeConfig {
    /// `https://…` (plain `http://` only to a loopback host, for tests and simulation).
    pub url: String,
    /// The per-terminal HMAC key file.
    pub key_file: PathBuf,
    /// PEM CA certificate(s) the back office's certificate chains to, when no public CA signed
    /// it (a retailer's own CA); without it the Mozilla roots only.
    pub ca_file: Option<PathBuf>,
    /// `sbp = true`: offer «По QR-коду СБП» whenever the back office says its bank answers
    /// (the back office must have a bank adapter configured).
    pub sbp: bool,
}

/// Cash and card limits, in kopecks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_payment_kopecks: i64,
    pub per_day_kopecks: i64,
}

/// Largest limit accepted in the file, in rubles (keeps kopeck arithmetic far from overflow).
pub const MAX_LIMIT_RUB: i64 = 100_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsConfig {
    pub scheme: AccountScheme,
    /// Accounts for simulation (TOML or JSON); `None` uses the built-in demo set.
    pub fixture_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingsConfig {
    pub window: AcceptanceWindow,
    pub max_daily_kwh: u64,
}

impl ReadingsConfig {
    pub fn rules(&self) -> ReadingRules {
        ReadingRules {
            window: self.window,
            default_max_daily_kwh: self.max_daily_kwh,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Argon2 PHC string of the service-menu PIN.
    pub pin_hash: String,
    /// Where the service menu exports the journal (the removable medium's mount point);
    /// `None`: `<data dir>/export`.
    pub export_dir: Option<PathBuf>,
    /// Seconds without a touch before service mode closes (`idle_timeout_s`, 30–3600).
    pub idle_seconds: i64,
}

impl ServiceConfig {
    pub const DEFAULT_IDLE_SECONDS: i64 = 120;
}

impl Config {
    /// Reads and checks `path`; on failure returns the first problem (see [`check`] for all).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        check(path).map_err(|mut errors| errors.remove(0))
    }

    /// Checks TOML text; relative paths resolve against `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, Vec<ConfigError>> {
        let root: Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            vec![ConfigError::Syntax {
                line,
                column,
                reason: e.message().to_string(),
            }]
        })?;
        let mut errors = Vec::new();
        let config = sections::parse_root(&root, base_dir, &mut errors);
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => {
                if errors.is_empty() {
                    // Defensive: a missing value always records its error; never return nothing.
                    errors.push(ConfigError::key("(file)", "incomplete configuration"));
                }
                Err(errors)
            }
        }
    }

    /// Files the config names that do not exist (key file, fixture file). Kept apart from
    /// [`check`] so a config can be checked on a machine other than the kiosk.
    pub fn missing_files(&self) -> Vec<ConfigError> {
        let mut files = vec![("back_office.key_file", &self.back_office.key_file)];
        if let Some(ca) = &self.back_office.ca_file {
            files.push(("back_office.ca_file", ca));
        }
        if let Some(fixture) = &self.accounts.fixture_file {
            files.push(("accounts.fixture_file", fixture));
        }
        files
            .into_iter()
            .filter(|(_, path)| !path.is_file())
            .map(|(key, path)| {
                ConfigError::key(key, format!("file {} does not exist", path.display()))
            })
            .collect()
    }
}

impl Config {
    /// A key file that exists but does not hold a key (64 hex digits). Its contents are never
    /// part of the message.
    pub fn key_file_problem(&self) -> Option<ConfigError> {
        let path = &self.back_office.key_file;
        if !path.is_file() {
            return None;
        }
        crate::sync::read_key_file(path).err().map(|e| {
            let reason = match e {
                crate::sync::SyncSetupError::KeyFile { reason, .. } => reason,
                other => other.to_string(),
            };
            ConfigError::key(
                "back_office.key_file",
                format!("{}: {reason}", path.display()),
            )
        })
    }
}

/// Reads and checks `path`, reporting every problem found (for `terminal config check`).
pub fn check(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        }]
    })?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    Config::from_toml_str(&text, base_dir)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl fmt::Display for BillProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BillProtocol::Ccnet => "ccnet",
            BillProtocol::Id003 => "id003",
        })
    }
}
