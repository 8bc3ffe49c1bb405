//! What the service desk reads about the kiosk: a plain snapshot the core assembles before every
//! step. The money and receipt parts come from the ledger and the journal; the device and outage
//! parts come from the health monitor through [`HealthFacts`].

use crate::money::Money;
use std::collections::BTreeMap;

/// One device's state as the health monitor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFact {
    /// Russian name for the screen, e.g. «Купюроприёмник».
    pub name: String,
    /// Russian state for the screen, e.g. «работает», «нет бумаги».
    pub state: String,
    pub ok: bool,
}

/// One outage of the kiosk's service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageFact {
    /// Pre-formatted local start, e.g. "27.11 10:05".
    pub started: String,
    /// Pre-formatted local end; `None` while it lasts.
    pub ended: Option<String>,
    pub working_minutes: u32,
    /// What was down, in Russian.
    pub cause: String,
}

/// One line of the device log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFact {
    /// Pre-formatted local time, e.g. "14:02".
    pub time: String,
    pub message: String,
}

/// Device states and the outage history, filled by the health monitor
/// (`HealthMonitor::conditions()` / `history()`). When `devices` is empty the desk falls back to
/// the last state each device reported to the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthFacts {
    pub devices: Vec<DeviceFact>,
    pub outages: Vec<OutageFact>,
    /// Paper state for the status screen («есть», «заканчивается», «нет»); `None`: unknown.
    pub paper: Option<String>,
}

/// The fiscal shift as the journal last recorded it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShiftFact {
    pub number: Option<u32>,
    pub open: bool,
}

/// Everything the desk reads, assembled by the core before each step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFacts {
    pub terminal_id: String,
    /// No customer session is in progress and no payment is open: service mode may start.
    pub customer_idle: bool,
    /// Bills in the cassette by denomination (kopecks), from the ledger.
    pub cassette: BTreeMap<i64, u32>,
    /// The cassette was reported removed with these expected counts and is not counted yet.
    pub removed_uncounted: Option<BTreeMap<i64, u32>>,
    /// Receipts that did not print, oldest first.
    pub unprinted: Vec<String>,
    /// Stuck notes not yet resolved: (reference, denomination, account), oldest first.
    pub stuck_notes: Vec<(String, Money, String)>,
    /// Recently fiscalised receipts, newest first.
    pub recent_receipts: Vec<String>,
    pub shift: ShiftFact,
    /// Device problems from the journal, newest first.
    pub last_errors: Vec<ErrorFact>,
    /// Last state each device reported to the journal (fallback for `health.devices`).
    pub journal_devices: Vec<DeviceFact>,
    /// Filled by the health monitor.
    pub health: HealthFacts,
}

/// Russian name of a device id as journaled (`bill_validator`, `printer`…).
pub fn device_name_ru(id: &str) -> String {
    match id {
        "bill_validator" => "Купюроприёмник".into(),
        "card_reader" => "Картридер".into(),
        "printer" => "Принтер чеков".into(),
        "fiscal" | "fiscal_module" => "Фискальный накопитель".into(),
        "back_office" => "Связь с офисом".into(),
        "ui" => "Экран".into(),
        "scanner" => "Сканер штрихкодов".into(),
        other => other.into(),
    }
}

/// Russian wording of a journaled device state, and whether the device works in it.
pub fn device_state_ru(state: &str) -> (String, bool) {
    let (text, ok) = match state {
        "up" | "ready" | "ok" => ("работает", true),
        "warning" => ("требует внимания", true),
        "down" => ("не работает", false),
        "link_restored" => ("связь восстановлена", true),
        "power_up" => ("включён", true),
        "paper_replaced" => ("бумага заменена", true),
        "link_lost" => ("нет связи", false),
        "jammed" => ("замятие", false),
        "cassette_full" => ("кассета заполнена", false),
        "cheated" => ("попытка обмана", false),
        "failure" => ("неисправность", false),
        "paper_out" => ("нет бумаги", false),
        other => return (other.to_owned(), false),
    };
    (text.to_owned(), ok)
}
