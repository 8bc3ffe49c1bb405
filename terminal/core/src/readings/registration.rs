//! Registration numbers and slips for accepted readings (the standard asks that every reading be
//! recorded with its date and who accepted it).
//!
//! A number looks like `T0042-261127-0003`: terminal id, local date (YYMMDD) and a per-day
//! sequence. It is unique as long as the sequence survives restarts: the caller resumes the
//! [`Registrar`] from the last number in the journal.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Serialize, Serializer};

use super::meter::ZoneCode;
use crate::accounts::AccountNumber;

/// `T{terminal}-{YYMMDD}-{seq:04}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationNumber {
    pub terminal_id: String,
    pub date: NaiveDate,
    pub seq: u32,
}

impl fmt::Display for RegistrationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "T{}-{}-{:04}",
            self.terminal_id,
            self.date.format("%y%m%d"),
            self.seq
        )
    }
}

impl Serialize for RegistrationNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A string that is not a registration number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a registration number: {0:?}")]
pub struct BadRegistrationNumber(pub String);

impl FromStr for RegistrationNumber {
    type Err = BadRegistrationNumber;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadRegistrationNumber(s.to_string());
        let body = s.strip_prefix('T').ok_or_else(bad)?;
        let mut parts = body.rsplitn(3, '-');
        let seq = parts.next().ok_or_else(bad)?;
        let date = parts.next().ok_or_else(bad)?;
        let terminal_id = parts.next().ok_or_else(bad)?;
        if terminal_id.is_empty()
            || date.len() != 6
            || seq.len() < 4
            || !seq.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let date = NaiveDate::parse_from_str(date, "%y%m%d").map_err(|_| bad())?;
        let seq = seq.parse().map_err(|_| bad())?;
        Ok(RegistrationNumber {
            terminal_id: terminal_id.to_string(),
            date,
            seq,
        })
    }
}

/// Hands out registration numbers for one terminal.
#[derive(Debug, Clone)]
pub struct Registrar {
    terminal_id: String,
    last: Option<(NaiveDate, u32)>,
}

impl Registrar {
    /// A registrar that has issued nothing yet.
    pub fn new(terminal_id: impl Into<String>) -> Registrar {
        Registrar {
            terminal_id: terminal_id.into(),
            last: None,
        }
    }

    /// Continues after `last_issued` (from the journal), so no number is given twice.
    pub fn resume(
        terminal_id: impl Into<String>,
        last_issued: Option<&RegistrationNumber>,
    ) -> Registrar {
        Registrar {
            terminal_id: terminal_id.into(),
            last: last_issued.map(|n| (n.date, n.seq)),
        }
    }

    pub fn terminal_id(&self) -> &str {
        &self.terminal_id
    }

    /// The next number for a reading accepted at `now` (kiosk local time). The sequence restarts
    /// each day; if the clock goes back to an earlier day, numbering continues under the latest
    /// day seen so that numbers stay unique.
    pub fn next_number(&mut self, now: NaiveDateTime) -> RegistrationNumber {
        let today = now.date();
        let (date, seq) = match self.last {
            Some((day, seq)) if day >= today => (day, seq.saturating_add(1)),
            _ => (today, 1),
        };
        self.last = Some((date, seq));
        RegistrationNumber {
            terminal_id: self.terminal_id.clone(),
            date,
            seq,
        }
    }

    /// Registers a validated reading: number, time and terminal id.
    pub fn register(
        &mut self,
        account: &AccountNumber,
        reading: ValidatedReading,
        now: NaiveDateTime,
    ) -> RegisteredReading {
        RegisteredReading {
            registration: self.next_number(now),
            terminal_id: self.terminal_id.clone(),
            account: account.clone(),
            accepted_at: now,
            meter_id: reading.meter_id,
            meter_serial: reading.meter_serial,
            meter_name: reading.meter_name,
            zones: reading.zones,
            corrects: reading.corrects,
        }
    }
}

/// One accepted zone value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneReading {
    pub zone: ZoneCode,
    pub zone_name: &'static str,
    pub value: u64,
    pub previous: u64,
    /// kWh since the previous reading (through zero when `rollover`).
    pub consumption: u64,
    pub rollover: bool,
}

/// A reading that passed every check, not yet registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidatedReading {
    pub meter_id: String,
    pub meter_serial: String,
    pub meter_name: String,
    pub zones: Vec<ZoneReading>,
    /// The earlier reading of this month that this one corrects.
    pub corrects: Option<RegistrationNumber>,
}

/// An accepted meter reading (all zones of one meter), as journalled and printed on the slip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredReading {
    pub registration: RegistrationNumber,
    pub terminal_id: String,
    pub account: AccountNumber,
    /// Kiosk local time.
    pub accepted_at: NaiveDateTime,
    pub meter_id: String,
    pub meter_serial: String,
    pub meter_name: String,
    pub zones: Vec<ZoneReading>,
    /// The earlier reading of this month that this one corrects.
    pub corrects: Option<RegistrationNumber>,
}

impl RegisteredReading {
    /// The slip's lines (Russian), for the receipt printer or the screen.
    pub fn slip_lines(&self) -> Vec<String> {
        let mut lines = vec![
            "ПОКАЗАНИЯ ПРИБОРА УЧЁТА ПРИНЯТЫ".to_string(),
            format!("Рег. номер: {}", self.registration),
            format!(
                "Дата и время: {}",
                self.accepted_at.format("%d.%m.%Y %H:%M")
            ),
            format!("Терминал: {}", self.terminal_id),
            format!("Лицевой счёт: {}", self.account),
            format!("Счётчик: {}, зав. № {}", self.meter_name, self.meter_serial),
        ];
        for zone in &self.zones {
            lines.push(format!(
                "{} ({}): {} кВт·ч, расход {} кВт·ч",
                zone.zone, zone.zone_name, zone.value, zone.consumption
            ));
        }
        if let Some(earlier) = &self.corrects {
            lines.push(format!("Исправляет показания № {earlier}"));
        }
        lines
    }
}
