//! Account lookup: what the kiosk shows after identification (masked holder and address,
//! services with debts, meters with their tariff zones), behind the [`AccountSource`] trait.
//!
//! * [`FixtureSource`] serves accounts from a TOML or JSON file, or the built-in demo set, for
//!   simulation and tests; it can be switched "unreachable" to rehearse the offline mode.
//! * [`OfflineFallback`] wraps any source: when the source cannot be reached it still lets the
//!   customer pay to a checksum-valid account, returning it marked unverified with one service
//!   («Электроэнергия») whose debt is unknown.
//! * The back office is asked asynchronously (`crate::sync::BackOfficeAccounts`); the same offline
//!   rule applies through [`fall_back_when_unreachable`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::readings::{Meter, Zone, ZoneCode};
use kiosk_core::accounts::{mask_address, mask_full_name};
use kiosk_core::accounts::{AccountError, AccountNumber, AccountScheme};

/// One billed service on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    /// What the customer owes, in kopecks; negative is an advance (overpayment); `None` when the
    /// debt is not known (offline).
    pub debt_kopecks: Option<i64>,
}

/// Service id used for the electricity service of an unverified (offline) account.
pub const ELECTRICITY_SERVICE_ID: &str = "electricity";

/// An identified account, ready for the screen: personal data already masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub number: AccountNumber,
    /// «Ив***в И. И.»; empty when unknown.
    pub holder_masked: String,
    /// «г. Тверь, ул. Ленина, д. 5, кв. ***»; empty when unknown.
    pub address_masked: String,
    pub services: Vec<Service>,
    pub meters: Vec<Meter>,
    /// False when the account comes from the offline fallback: only the checksum vouches for it.
    pub verified: bool,
}

impl Account {
    /// The account the offline fallback offers: checksum-valid number, nothing else known.
    pub fn unverified(number: AccountNumber) -> Account {
        Account {
            number,
            holder_masked: String::new(),
            address_masked: String::new(),
            services: vec![Service {
                id: ELECTRICITY_SERVICE_ID.to_string(),
                name: "Электроэнергия".to_string(),
                debt_kopecks: None,
            }],
            meters: Vec::new(),
            verified: false,
        }
    }

    /// Sum of the known debts in kopecks (advances subtract); `None` if any debt is unknown.
    pub fn total_debt_kopecks(&self) -> Option<i64> {
        self.services
            .iter()
            .try_fold(0i64, |acc, s| s.debt_kopecks.map(|d| acc.saturating_add(d)))
    }
}

/// Why a lookup failed (as opposed to "no such account", which is `Ok(None)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The source could not be reached (network down, timeout): the offline fallback applies.
    #[error("account source unreachable: {0}")]
    Unreachable(String),
    /// The source answered with something unusable; not a reason to go offline.
    #[error("account source answered badly: {0}")]
    BadAnswer(String),
}

impl LookupError {
    pub fn customer_message(&self) -> String {
        match self {
            LookupError::Unreachable(_) => {
                "Нет связи с сервером — данные лицевого счёта сейчас недоступны".to_string()
            }
            LookupError::BadAnswer(_) => {
                "Не удалось получить данные лицевого счёта — попробуйте ещё раз".to_string()
            }
        }
    }
}

/// Where accounts come from. Synchronous: the caller runs it off the UI thread.
pub trait AccountSource {
    /// `Ok(None)` when the source is sure there is no such account.
    fn lookup(&self, account: &AccountNumber) -> Result<Option<Account>, LookupError>;
}

/// Any source, falling back to an unverified account when the source is unreachable.
pub struct OfflineFallback<S> {
    inner: S,
}

impl<S: AccountSource> OfflineFallback<S> {
    pub fn new(inner: S) -> Self {
        OfflineFallback { inner }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: AccountSource> AccountSource for OfflineFallback<S> {
    fn lookup(&self, account: &AccountNumber) -> Result<Option<Account>, LookupError> {
        fall_back_when_unreachable(account, self.inner.lookup(account))
    }
}

/// The offline rule on its own, for sources that are not an [`AccountSource`] (the back office is
/// asked asynchronously): an unreachable source yields the unverified account.
pub fn fall_back_when_unreachable(
    account: &AccountNumber,
    answer: Result<Option<Account>, LookupError>,
) -> Result<Option<Account>, LookupError> {
    match answer {
        Err(LookupError::Unreachable(reason)) => {
            // The number's type guarantees it passed the checksum.
            tracing::warn!(
                account = %account.masked(),
                %reason,
                "account source unreachable; offering unverified account"
            );
            Ok(Some(Account::unverified(account.clone())))
        }
        other => other,
    }
}

/// Accounts from a fixture file or the built-in demo set.
#[derive(Debug)]
pub struct FixtureSource {
    accounts: BTreeMap<AccountNumber, Account>,
    reachable: AtomicBool,
}

impl FixtureSource {
    /// Reads a fixture in TOML (`.toml`) or JSON (any other extension); see
    /// `config/accounts.example.toml` for the layout. Holder names and addresses in the file are
    /// full; they are masked here.
    pub fn load(path: &Path, scheme: &AccountScheme) -> Result<FixtureSource, FixtureError> {
        let text = std::fs::read_to_string(path).map_err(|e| FixtureError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        if is_toml {
            Self::from_toml(&text, scheme)
        } else {
            Self::from_json(&text, scheme)
        }
    }

    pub fn from_toml(text: &str, scheme: &AccountScheme) -> Result<FixtureSource, FixtureError> {
        let file: FixtureFile =
            toml::from_str(text).map_err(|e| FixtureError::Syntax(e.to_string()))?;
        Self::from_file(file, scheme)
    }

    pub fn from_json(text: &str, scheme: &AccountScheme) -> Result<FixtureSource, FixtureError> {
        let file: FixtureFile =
            serde_json::from_str(text).map_err(|e| FixtureError::Syntax(e.to_string()))?;
        Self::from_file(file, scheme)
    }

    /// The demo set used by `terminal run --simulate`; numbers are valid under the default scheme.
    ///
    /// * `1000000001` — Иванов Иван Иванович: electricity 1 350,00 ₽ + service fee 150,00 ₽
    ///   (1 500,00 ₽ in all), one two-zone meter.
    /// * `1000000028` — Петрова Анна Сергеевна: no debt, one single-zone meter.
    /// * `1000000036` — Сидоров Пётр Николаевич: advance of 200,00 ₽, two meters with 2 and 3
    ///   zones.
    pub fn demo() -> FixtureSource {
        // The demo text is part of the program; a failure here is a programming error caught by
        // the unit test `demo_set_loads`, so fall back to an empty set rather than panic.
        Self::from_toml(DEMO_FIXTURE, &AccountScheme::default()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "built-in demo accounts are broken");
            FixtureSource::empty()
        })
    }

    pub fn empty() -> FixtureSource {
        FixtureSource {
            accounts: BTreeMap::new(),
            reachable: AtomicBool::new(true),
        }
    }

    /// Simulates the back office going away (`false`) or coming back.
    pub fn set_reachable(&self, reachable: bool) {
        self.reachable.store(reachable, Ordering::SeqCst);
    }

    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    pub fn numbers(&self) -> impl Iterator<Item = &AccountNumber> {
        self.accounts.keys()
    }

    fn from_file(file: FixtureFile, scheme: &AccountScheme) -> Result<FixtureSource, FixtureError> {
        let mut accounts = BTreeMap::new();
        for (i, raw) in file.accounts.into_iter().enumerate() {
            let at = |field: &str| format!("accounts[{i}].{field}");
            let number = scheme
                .parse(&raw.number)
                .map_err(|e| FixtureError::BadAccountNumber {
                    at: at("number"),
                    error: e,
                })?;
            let mut meters = Vec::new();
            for (j, m) in raw.meters.into_iter().enumerate() {
                meters.push(m.into_meter(&at(&format!("meters[{j}]")))?);
            }
            let account = Account {
                number: number.clone(),
                holder_masked: mask_full_name(&raw.holder),
                address_masked: mask_address(&raw.address),
                services: raw
                    .services
                    .into_iter()
                    .map(|s| Service {
                        id: s.id,
                        name: s.name,
                        debt_kopecks: Some(s.debt_kopecks),
                    })
                    .collect(),
                meters,
                verified: true,
            };
            if accounts.insert(number, account).is_some() {
                return Err(FixtureError::Invalid {
                    at: at("number"),
                    reason: "account number appears twice".to_string(),
                });
            }
        }
        Ok(FixtureSource {
            accounts,
            reachable: AtomicBool::new(true),
        })
    }
}

impl AccountSource for FixtureSource {
    fn lookup(&self, account: &AccountNumber) -> Result<Option<Account>, LookupError> {
        if !self.reachable.load(Ordering::SeqCst) {
            return Err(LookupError::Unreachable(
                "fixture source switched off".to_string(),
            ));
        }
        Ok(self.accounts.get(account).cloned())
    }
}

/// A fixture file that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("fixture syntax: {0}")]
    Syntax(String),
    #[error("{at}: {error}")]
    BadAccountNumber { at: String, error: AccountError },
    #[error("{at}: {reason}")]
    Invalid { at: String, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    #[serde(default)]
    accounts: Vec<FixtureAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureAccount {
    number: String,
    holder: String,
    address: String,
    #[serde(default)]
    services: Vec<FixtureService>,
    #[serde(default)]
    meters: Vec<FixtureMeter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureService {
    id: String,
    name: String,
    debt_kopecks: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureMeter {
    id: String,
    serial: String,
    name: String,
    digits: u8,
    max_daily_kwh: Option<u64>,
    zones: Vec<FixtureZone>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureZone {
    code: String,
    previous_value: u64,
    /// `"YYYY-MM-DD"` (a string, so TOML and JSON fixtures read alike).
    previous_date: String,
}

impl FixtureMeter {
    fn into_meter(self, at: &str) -> Result<Meter, FixtureError> {
        let invalid = |reason: String| FixtureError::Invalid {
            at: at.to_string(),
            reason,
        };
        let mut zones = Vec::new();
        for z in self.zones {
            let code = ZoneCode::parse(&z.code)
                .ok_or_else(|| invalid(format!("zone code {:?} is not T1, T2 or T3", z.code)))?;
            let previous_date =
                NaiveDate::parse_from_str(&z.previous_date, "%Y-%m-%d").map_err(|_| {
                    invalid(format!(
                        "previous_date {:?} is not a date YYYY-MM-DD",
                        z.previous_date
                    ))
                })?;
            zones.push(Zone::new(code, z.previous_value, previous_date));
        }
        Meter::new(
            self.id,
            self.serial,
            self.name,
            self.digits,
            zones,
            self.max_daily_kwh,
        )
        .map_err(|e| invalid(e.to_string()))
    }
}

const DEMO_FIXTURE: &str = r#"
[[accounts]]
number = "1000000001"
holder = "Иванов Иван Иванович"
address = "г. Тверь, ул. Ленина, д. 5, кв. 12"
services = [
  { id = "electricity", name = "Электроэнергия", debt_kopecks = 135000 },
  { id = "service_fee", name = "Обслуживание прибора учёта", debt_kopecks = 15000 },
]
[[accounts.meters]]
id = "m-1001"
serial = "011076123456789"
name = "Меркурий 200"
digits = 6
max_daily_kwh = 100
zones = [
  { code = "T1", previous_value = 12345, previous_date = "2026-10-25" },
  { code = "T2", previous_value = 6789, previous_date = "2026-10-25" },
]

[[accounts]]
number = "1000000028"
holder = "Петрова Анна Сергеевна"
address = "г. Тверь, пр-т Чайковского, д. 28/2, кв. 45"
services = [
  { id = "electricity", name = "Электроэнергия", debt_kopecks = 0 },
]
[[accounts.meters]]
id = "m-2801"
serial = "1043210"
name = "СО-505"
digits = 5
zones = [
  { code = "T1", previous_value = 99870, previous_date = "2026-10-24" },
]

[[accounts]]
number = "1000000036"
holder = "Сидоров Пётр Николаевич"
address = "Тверская обл., г. Конаково, ул. Энергетиков, д. 3, кв. 7"
services = [
  { id = "electricity", name = "Электроэнергия", debt_kopecks = -20000 },
]
[[accounts.meters]]
id = "m-3601"
serial = "36011"
name = "Квартира"
digits = 6
max_daily_kwh = 60
zones = [
  { code = "T1", previous_value = 4210, previous_date = "2026-10-20" },
  { code = "T2", previous_value = 1804, previous_date = "2026-10-20" },
]
[[accounts.meters]]
id = "m-3602"
serial = "36022"
name = "Гараж"
digits = 5
max_daily_kwh = 40
zones = [
  { code = "T1", previous_value = 310, previous_date = "2026-10-20" },
  { code = "T2", previous_value = 120, previous_date = "2026-10-20" },
  { code = "T3", previous_value = 405, previous_date = "2026-10-20" },
]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_set_loads() {
        let source = FixtureSource::from_toml(DEMO_FIXTURE, &AccountScheme::default());
        assert_eq!(source.map(|s| s.len()).ok(), Some(3));
    }
}
