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

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use chrono_tz::Tz;
use toml::{Table, Value};

use crate::accounts::{AccountScheme, ChecksumKind, MAX_ACCOUNT_LENGTH, MIN_ACCOUNT_LENGTH};
use crate::readings::{AcceptanceWindow, ReadingRules};

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
    /// The `[working_hours]` table as written; the health module interprets it.
    pub working_hours: Table,
    pub service: ServiceConfig,
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
    /// Automat number, tag 1036.
    pub machine_number: String,
    /// KKT registration number, 16 digits (tag 1037).
    pub kkt_reg_number: String,
    pub tax_system: TaxSystem,
    pub agent: Option<AgentConfig>,
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
        let config = parse_root(&root, base_dir, &mut errors);
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

/// A table being read, with its dotted path for messages.
struct Section<'a> {
    path: String,
    table: &'a Table,
}

impl<'a> Section<'a> {
    fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn err(&self, errors: &mut Vec<ConfigError>, key: &str, reason: impl Into<String>) {
        errors.push(ConfigError::key(self.key(key), reason));
    }

    /// Reports keys not in `known`.
    fn deny_unknown(&self, known: &[&str], errors: &mut Vec<ConfigError>) {
        for key in self.table.keys() {
            if !known.contains(&key.as_str()) {
                self.err(
                    errors,
                    key,
                    format!("unknown key (expected one of: {})", known.join(", ")),
                );
            }
        }
    }

    fn required(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<&'a Value> {
        let value = self.table.get(key);
        if value.is_none() {
            self.err(errors, key, "missing (required)");
        }
        value
    }

    fn table(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<Section<'a>> {
        let value = self.required(key, errors)?;
        self.as_table(key, value, errors)
    }

    fn optional_table(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<Section<'a>> {
        let value = self.table.get(key)?;
        self.as_table(key, value, errors)
    }

    /// An optional sub-table: `Some(None)` when absent, `None` when present but broken (the
    /// errors are recorded).
    fn optional_section<T>(
        &self,
        key: &str,
        errors: &mut Vec<ConfigError>,
        parse: impl FnOnce(&Section<'a>, &mut Vec<ConfigError>) -> Option<T>,
    ) -> Option<Option<T>> {
        if !self.table.contains_key(key) {
            return Some(None);
        }
        let section = self.optional_table(key, errors)?;
        parse(&section, errors).map(Some)
    }

    fn as_table(
        &self,
        key: &str,
        value: &'a Value,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Section<'a>> {
        match value {
            Value::Table(table) => Some(Section {
                path: self.key(key),
                table,
            }),
            other => {
                self.err(
                    errors,
                    key,
                    format!("expected a table, got {}", kind(other)),
                );
                None
            }
        }
    }

    fn string(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<&'a str> {
        let value = self.required(key, errors)?;
        self.as_str(key, value, errors)
    }

    fn optional_string(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<&'a str> {
        let value = self.table.get(key)?;
        self.as_str(key, value, errors)
    }

    fn as_str(
        &self,
        key: &str,
        value: &'a Value,
        errors: &mut Vec<ConfigError>,
    ) -> Option<&'a str> {
        match value {
            Value::String(s) => Some(s.as_str()),
            other => {
                self.err(
                    errors,
                    key,
                    format!("expected a string, got {}", kind(other)),
                );
                None
            }
        }
    }

    /// A required non-empty string.
    fn text(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<String> {
        let s = self.string(key, errors)?.trim();
        if s.is_empty() {
            self.err(errors, key, "must not be empty");
            return None;
        }
        Some(s.to_string())
    }

    fn integer(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<i64> {
        match self.required(key, errors)? {
            Value::Integer(i) => Some(*i),
            other => {
                self.err(
                    errors,
                    key,
                    format!("expected an integer, got {}", kind(other)),
                );
                None
            }
        }
    }

    /// A required integer within `range`.
    fn integer_in(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<i64> {
        let i = self.integer(key, errors)?;
        if !range.contains(&i) {
            self.err(
                errors,
                key,
                format!(
                    "must be between {} and {}, got {i}",
                    range.start(),
                    range.end()
                ),
            );
            return None;
        }
        Some(i)
    }

    /// A required string that must be one of `choices`.
    fn choice<T: Copy>(
        &self,
        key: &str,
        choices: &[(&str, T)],
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let s = self.string(key, errors)?;
        self.pick(key, s, choices, errors)
    }

    fn pick<T: Copy>(
        &self,
        key: &str,
        s: &str,
        choices: &[(&str, T)],
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == s) {
            return Some(*value);
        }
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let expected = match names.as_slice() {
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
            [] => String::new(),
        };
        self.err(errors, key, format!("expected {expected}, got \"{s}\""));
        None
    }

    fn path(&self, key: &str, base_dir: &Path, errors: &mut Vec<ConfigError>) -> Option<PathBuf> {
        let s = self.text(key, errors)?;
        Some(resolve(base_dir, &s))
    }

    /// A serial port: an absolute device path.
    fn port(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<PathBuf> {
        let s = self.text(key, errors)?;
        match check_port(&s) {
            Ok(()) => Some(PathBuf::from(s)),
            Err(reason) => {
                self.err(errors, key, reason);
                None
            }
        }
    }

    /// Runs `check` on a parsed value and reports its complaint under `key`.
    fn checked<T>(
        &self,
        key: &str,
        value: Option<T>,
        check: impl FnOnce(&T) -> Result<(), String>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let value = value?;
        match check(&value) {
            Ok(()) => Some(value),
            Err(reason) => {
                self.err(errors, key, reason);
                None
            }
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn resolve(base_dir: &Path, s: &str) -> PathBuf {
    let path = Path::new(s);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

fn check_port(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!(
            "expected an absolute device path such as \"/dev/ttyS0\", got \"{s}\""
        ));
    }
    if s.ends_with('/') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{s}\" is not a device path"));
    }
    Ok(())
}

/// INN check digits (10 digits for organisations, 12 for individuals).
pub fn inn_is_valid(inn: &str) -> bool {
    fn check(digits: &[u32], weights: &[u32]) -> u32 {
        let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        (sum % 11) % 10
    }
    if !inn.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let d: Vec<u32> = inn.bytes().map(|b| u32::from(b - b'0')).collect();
    match d.len() {
        10 => check(&d[..9], &[2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[9],
        12 => {
            check(&d[..10], &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[10]
                && check(&d[..11], &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[11]
        }
        _ => false,
    }
}

fn check_inn(inn: &str) -> Result<(), String> {
    if !inn.bytes().all(|b| b.is_ascii_digit()) || !(inn.len() == 10 || inn.len() == 12) {
        return Err(format!("expected 10 or 12 digits, got \"{inn}\""));
    }
    if !inn_is_valid(inn) {
        return Err(format!("check digits of INN \"{inn}\" are wrong"));
    }
    Ok(())
}

/// `https://host[:port][/path]`; `http://` only for loopback hosts.
fn check_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("expected an https:// URL, got \"{url}\""))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("unclosed [ in host of \"{url}\""))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !host_ok || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{url}\" has no valid host"));
    }
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p != 0) {
            return Err(format!("port \"{port}\" in \"{url}\" is not 1–65535"));
        }
    }
    let loopback = host == "localhost" || host.starts_with("127.") || host == "::1";
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "plain http is allowed only to localhost; use https for \"{url}\""
        )),
        other => Err(format!("expected an https:// URL, got scheme \"{other}\"")),
    }
}

fn parse_root(root: &Table, base_dir: &Path, errors: &mut Vec<ConfigError>) -> Option<Config> {
    let root = Section {
        path: String::new(),
        table: root,
    };
    root.deny_unknown(
        &[
            "terminal",
            "devices",
            "fiscal",
            "seller",
            "back_office",
            "limits",
            "accounts",
            "readings",
            "working_hours",
            "service",
        ],
        errors,
    );
    let terminal = root
        .table("terminal", errors)
        .and_then(|s| parse_terminal(&s, errors));
    let devices = root
        .table("devices", errors)
        .and_then(|s| parse_devices(&s, errors));
    let fiscal = root
        .table("fiscal", errors)
        .and_then(|s| parse_fiscal(&s, errors));
    let seller = root
        .table("seller", errors)
        .and_then(|s| parse_seller(&s, errors));
    let back_office = root
        .table("back_office", errors)
        .and_then(|s| parse_back_office(&s, base_dir, errors));
    let limits = root
        .table("limits", errors)
        .and_then(|s| parse_limits(&s, errors));
    let accounts = root
        .optional_section("accounts", errors, |s, errors| {
            parse_accounts(s, base_dir, errors)
        })
        .map(|accounts| {
            accounts.unwrap_or(AccountsConfig {
                scheme: AccountScheme::default(),
                fixture_file: None,
            })
        });
    let readings = root
        .table("readings", errors)
        .and_then(|s| parse_readings(&s, errors));
    let working_hours = root
        .optional_section("working_hours", errors, |s, _| Some(s.table.clone()))
        .map(Option::unwrap_or_default);
    let service = root
        .table("service", errors)
        .and_then(|s| parse_service(&s, errors));

    if let (Some(devices), Some(fiscal)) = (&devices, &fiscal) {
        check_port_clashes(devices, fiscal, errors);
    }

    Some(Config {
        terminal: terminal?,
        devices: devices?,
        fiscal: fiscal?,
        seller: seller?,
        back_office: back_office?,
        limits: limits?,
        accounts: accounts?,
        readings: readings?,
        working_hours: working_hours?,
        service: service?,
    })
}

fn parse_terminal(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<TerminalConfig> {
    s.deny_unknown(&["id", "name", "office", "timezone"], errors);
    let id = s.checked(
        "id",
        s.string("id", errors).map(str::to_string),
        |id| {
            let ok = (1..=16).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if ok {
                Ok(())
            } else {
                Err(format!(
                    "expected 1–16 characters A–Z or 0–9 (e.g. \"0042\"), got \"{id}\""
                ))
            }
        },
        errors,
    );
    let name = s.text("name", errors);
    let office = s.text("office", errors);
    let timezone = s.string("timezone", errors).and_then(|tz| match tz.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            s.err(
                errors,
                "timezone",
                format!("unknown time zone \"{tz}\" (expected an IANA name such as \"Europe/Moscow\")"),
            );
            None
        }
    });
    Some(TerminalConfig {
        id: id?,
        name: name?,
        office: office?,
        timezone: timezone?,
    })
}

fn parse_devices(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<DevicesConfig> {
    s.deny_unknown(&["bill_acceptor", "card_reader", "printer"], errors);
    let present = |key: &str| s.table.contains_key(key);
    if !present("bill_acceptor") && !present("card_reader") {
        errors.push(ConfigError::key(
            "devices",
            "at least one of bill_acceptor or card_reader must be configured, or no payment is possible",
        ));
    }
    let bill_acceptor = s.optional_section("bill_acceptor", errors, parse_bill_acceptor);
    let card_reader = s.optional_section("card_reader", errors, parse_card_reader);
    let printer = s.optional_section("printer", errors, parse_printer);
    Some(DevicesConfig {
        bill_acceptor: bill_acceptor?,
        card_reader: card_reader?,
        printer: printer?,
    })
}

fn parse_bill_acceptor(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<BillAcceptorConfig> {
    s.deny_unknown(&["protocol", "port", "denominations"], errors);
    let protocol = s.choice(
        "protocol",
        &[
            ("ccnet", BillProtocol::Ccnet),
            ("id003", BillProtocol::Id003),
        ],
        errors,
    );
    let port = s.port("port", errors);
    let denominations = parse_denominations(s, errors);
    Some(BillAcceptorConfig {
        protocol: protocol?,
        port: port?,
        denominations_rub: denominations?,
    })
}

fn parse_denominations(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<Vec<u32>> {
    let key = "denominations";
    let items = match s.required(key, errors)? {
        Value::Array(items) => items,
        other => {
            s.err(
                errors,
                key,
                format!("expected an array of rubles, got {}", kind(other)),
            );
            return None;
        }
    };
    let mut out = Vec::new();
    for item in items {
        let note = item
            .as_integer()
            .and_then(|i| u32::try_from(i).ok())
            .filter(|i| RUBLE_BANKNOTES.contains(i));
        match note {
            Some(note) if out.contains(&note) => {
                s.err(errors, key, format!("{note} is listed twice"));
                return None;
            }
            Some(note) => out.push(note),
            None => {
                s.err(
                    errors,
                    key,
                    format!(
                        "{item} is not a ruble banknote (expected some of {RUBLE_BANKNOTES:?})"
                    ),
                );
                return None;
            }
        }
    }
    if out.is_empty() {
        s.err(errors, key, "enable at least one banknote");
        return None;
    }
    out.sort_unstable();
    Some(out)
}

fn parse_card_reader(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<CardReaderConfig> {
    s.deny_unknown(&["protocol", "port", "end_of_day"], errors);
    let protocol = s.choice("protocol", &[("zvt", CardProtocol::Zvt)], errors);
    let port = s.port("port", errors);
    let end_of_day =
        s.string("end_of_day", errors)
            .and_then(|t| match NaiveTime::parse_from_str(t, "%H:%M") {
                Ok(time) => Some(time),
                Err(_) => {
                    s.err(
                        errors,
                        "end_of_day",
                        format!("expected a time HH:MM such as \"23:30\", got \"{t}\""),
                    );
                    None
                }
            });
    Some(CardReaderConfig {
        protocol: protocol?,
        port: port?,
        end_of_day: end_of_day?,
    })
}

fn parse_printer(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<PrinterConfig> {
    s.deny_unknown(&["profile", "port"], errors);
    let profile = s.checked(
        "profile",
        s.text("profile", errors),
        |p| {
            if p
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                Ok(())
            } else {
                Err(format!(
                    "expected a profile name of a–z, 0–9, '-' and '_' (e.g. \"custom-vkp80\"), got \"{p}\""
                ))
            }
        },
        errors,
    );
    let port = s.port("port", errors);
    Some(PrinterConfig {
        profile: profile?,
        port: port?,
    })
}

fn parse_fiscal(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<FiscalConfig> {
    s.deny_unknown(
        &[
            "kind",
            "port",
            "machine_number",
            "kkt_reg_number",
            "tax_system",
            "agent",
        ],
        errors,
    );
    let kind = s.choice(
        "kind",
        &[
            ("emulated", FiscalKind::Emulated),
            ("shtrih", FiscalKind::Shtrih),
            ("atol", FiscalKind::Atol),
        ],
        errors,
    );
    let port = if s.table.contains_key("port") {
        s.port("port", errors).map(Some)
    } else {
        if matches!(kind, Some(FiscalKind::Shtrih | FiscalKind::Atol)) {
            s.err(
                errors,
                "port",
                "missing (required unless kind is \"emulated\")",
            );
        }
        Some(None)
    };
    let machine_number = s.checked(
        "machine_number",
        s.text("machine_number", errors),
        |n| {
            if n.chars().count() <= 20 {
                Ok(())
            } else {
                Err(format!(
                    "at most 20 characters (tag 1036), got {}",
                    n.chars().count()
                ))
            }
        },
        errors,
    );
    let kkt_reg_number = s.checked(
        "kkt_reg_number",
        s.string("kkt_reg_number", errors).map(str::to_string),
        |n| {
            if n.len() == 16 && n.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(format!("expected 16 digits, got \"{n}\""))
            }
        },
        errors,
    );
    let tax_system = s.choice(
        "tax_system",
        &[
            ("osn", TaxSystem::Osn),
            ("usn_income", TaxSystem::UsnIncome),
            ("usn_income_outcome", TaxSystem::UsnIncomeOutcome),
            ("esn", TaxSystem::Esn),
            ("patent", TaxSystem::Patent),
        ],
        errors,
    );
    let agent = s.optional_section("agent", errors, parse_agent);
    let kind = kind?;
    let port = port?;
    if port.is_none() && kind != FiscalKind::Emulated {
        return None;
    }
    Some(FiscalConfig {
        kind,
        port,
        machine_number: machine_number?,
        kkt_reg_number: kkt_reg_number?,
        tax_system: tax_system?,
        agent: agent?,
    })
}

fn parse_agent(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<AgentConfig> {
    s.deny_unknown(
        &["kind", "supplier_inn", "supplier_name", "supplier_phone"],
        errors,
    );
    let kind = s.choice(
        "kind",
        &[
            ("bank_payment_agent", AgentKind::BankPaymentAgent),
            ("bank_payment_subagent", AgentKind::BankPaymentSubagent),
            ("payment_agent", AgentKind::PaymentAgent),
            ("payment_subagent", AgentKind::PaymentSubagent),
            ("attorney", AgentKind::Attorney),
            ("commission_agent", AgentKind::CommissionAgent),
            ("other", AgentKind::Other),
        ],
        errors,
    );
    let supplier_inn = s.checked(
        "supplier_inn",
        s.string("supplier_inn", errors).map(str::to_string),
        |inn| check_inn(inn),
        errors,
    );
    let supplier_name = s.text("supplier_name", errors);
    let supplier_phone = s.checked(
        "supplier_phone",
        s.string("supplier_phone", errors).map(str::to_string),
        |p| {
            let ok = p
                .strip_prefix("+7")
                .is_some_and(|rest| rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit()));
            if ok {
                Ok(())
            } else {
                Err(format!("expected +7 and 10 digits, got \"{p}\""))
            }
        },
        errors,
    );
    Some(AgentConfig {
        kind: kind?,
        supplier_inn: supplier_inn?,
        supplier_name: supplier_name?,
        supplier_phone: supplier_phone?,
    })
}

fn parse_seller(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<SellerConfig> {
    s.deny_unknown(&["inn", "name", "address", "place", "site"], errors);
    let inn = s.checked(
        "inn",
        s.string("inn", errors).map(str::to_string),
        |inn| check_inn(inn),
        errors,
    );
    let name = s.text("name", errors);
    let address = s.text("address", errors);
    let place = s.text("place", errors);
    let site = match s.optional_string("site", errors) {
        Some(site) if site.trim().is_empty() => {
            s.err(
                errors,
                "site",
                "must not be empty (leave the key out instead)",
            );
            None
        }
        Some(site) => Some(Some(site.trim().to_string())),
        None if s.table.contains_key("site") => None,
        None => Some(None),
    };
    Some(SellerConfig {
        inn: inn?,
        name: name?,
        address: address?,
        place: place?,
        site: site?,
    })
}

fn parse_back_office(
    s: &Section<'_>,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<BackOfficeConfig> {
    s.deny_unknown(&["url", "key_file"], errors);
    let url = s.checked("url", s.text("url", errors), |u| check_url(u), errors);
    let key_file = s.path("key_file", base_dir, errors);
    Some(BackOfficeConfig {
        url: url?,
        key_file: key_file?,
    })
}

fn parse_limits(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<Limits> {
    s.deny_unknown(&["per_payment_rub", "per_day_rub"], errors);
    let per_payment = s.integer_in("per_payment_rub", 1..=MAX_LIMIT_RUB, errors);
    let per_day = s.integer_in("per_day_rub", 1..=MAX_LIMIT_RUB, errors);
    let (per_payment, per_day) = (per_payment?, per_day?);
    if per_payment > per_day {
        s.err(
            errors,
            "per_payment_rub",
            format!("must not exceed limits.per_day_rub ({per_day}), got {per_payment}"),
        );
        return None;
    }
    Some(Limits {
        per_payment_kopecks: per_payment * 100,
        per_day_kopecks: per_day * 100,
    })
}

fn parse_accounts(
    s: &Section<'_>,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<AccountsConfig> {
    s.deny_unknown(&["scheme", "length", "fixture_file"], errors);
    let kind = if s.table.contains_key("scheme") {
        s.choice(
            "scheme",
            &[
                ("mod11", ChecksumKind::Mod11),
                ("luhn", ChecksumKind::Luhn),
                ("none", ChecksumKind::None),
            ],
            errors,
        )
    } else {
        Some(AccountScheme::default().kind)
    };
    let length = if s.table.contains_key("length") {
        s.integer_in(
            "length",
            MIN_ACCOUNT_LENGTH as i64..=MAX_ACCOUNT_LENGTH as i64,
            errors,
        )
        .map(|l| l as usize)
    } else {
        Some(AccountScheme::default().length)
    };
    let fixture_file = if s.table.contains_key("fixture_file") {
        s.path("fixture_file", base_dir, errors).map(Some)
    } else {
        Some(None)
    };
    Some(AccountsConfig {
        scheme: AccountScheme {
            kind: kind?,
            length: length?,
        },
        fixture_file: fixture_file?,
    })
}

fn parse_readings(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<ReadingsConfig> {
    s.deny_unknown(
        &["window_first_day", "window_last_day", "max_daily_kwh"],
        errors,
    );
    let first = s.integer_in("window_first_day", 1..=31, errors);
    let last = s.integer_in("window_last_day", 1..=31, errors);
    let max_daily_kwh = s.integer_in("max_daily_kwh", 1..=1_000_000, errors);
    let (first, last) = (first?, last?);
    let Some(window) = AcceptanceWindow::new(first as u32, last as u32) else {
        s.err(
            errors,
            "window_last_day",
            format!("must not be before window_first_day ({first}), got {last}"),
        );
        return None;
    };
    Some(ReadingsConfig {
        window,
        max_daily_kwh: max_daily_kwh? as u64,
    })
}

fn parse_service(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<ServiceConfig> {
    s.deny_unknown(&["pin_hash"], errors);
    let pin_hash = s.checked(
        "pin_hash",
        s.string("pin_hash", errors).map(str::to_string),
        |h| match argon2::password_hash::PasswordHash::new(h) {
            Ok(parsed) if parsed.algorithm.as_str().starts_with("argon2") => Ok(()),
            Ok(parsed) => Err(format!(
                "expected an argon2 hash, got algorithm \"{}\"",
                parsed.algorithm
            )),
            // Never echo the value: it is a secret's hash.
            Err(e) => Err(format!("not a PHC hash string ($argon2id$v=19$...): {e}")),
        },
        errors,
    );
    Some(ServiceConfig {
        pin_hash: pin_hash?,
    })
}

/// Two devices on one serial port cannot both work.
fn check_port_clashes(
    devices: &DevicesConfig,
    fiscal: &FiscalConfig,
    errors: &mut Vec<ConfigError>,
) {
    let mut ports: Vec<(&str, &PathBuf)> = Vec::new();
    if let Some(d) = &devices.bill_acceptor {
        ports.push(("devices.bill_acceptor.port", &d.port));
    }
    if let Some(d) = &devices.card_reader {
        ports.push(("devices.card_reader.port", &d.port));
    }
    if let Some(d) = &devices.printer {
        ports.push(("devices.printer.port", &d.port));
    }
    if let Some(port) = &fiscal.port {
        ports.push(("fiscal.port", port));
    }
    let mut seen: BTreeSet<&PathBuf> = BTreeSet::new();
    for (i, (key, port)) in ports.iter().enumerate() {
        if !seen.insert(*port) {
            if let Some((first, _)) = ports[..i].iter().find(|(_, p)| p == port) {
                errors.push(ConfigError::key(
                    *key,
                    format!("{} is already used by {first}", port.display()),
                ));
            }
        }
    }
}

impl fmt::Display for BillProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BillProtocol::Ccnet => "ccnet",
            BillProtocol::Id003 => "id003",
        })
    }
}
