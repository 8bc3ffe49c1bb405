//! Meters and their tariff zones as the account source describes them.

use std::fmt;

use chrono::NaiveDate;
use serde::Serialize;

/// Largest digit capacity we accept (integer digits on the meter's display).
pub const MAX_METER_DIGITS: u8 = 9;

/// A tariff zone code as printed on the meter display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ZoneCode {
    T1,
    T2,
    T3,
}

impl ZoneCode {
    pub fn parse(s: &str) -> Option<ZoneCode> {
        // Bills print the Cyrillic «Т» as often as the Latin «T».
        match s
            .trim()
            .replace(['Т', 'т'], "T")
            .to_ascii_uppercase()
            .as_str()
        {
            "T1" => Some(ZoneCode::T1),
            "T2" => Some(ZoneCode::T2),
            "T3" => Some(ZoneCode::T3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ZoneCode::T1 => "T1",
            ZoneCode::T2 => "T2",
            ZoneCode::T3 => "T3",
        }
    }

    /// The Russian zone name for a meter with `zone_count` zones: one zone «круглосуточно»;
    /// two zones T1 «день», T2 «ночь»; three zones T1 «пик», T2 «ночь», T3 «полупик».
    pub fn name_ru(self, zone_count: usize) -> &'static str {
        match (zone_count, self) {
            (1, _) => "круглосуточно",
            (2, ZoneCode::T1) => "день",
            (_, ZoneCode::T2) => "ночь",
            (_, ZoneCode::T1) => "пик",
            (_, ZoneCode::T3) => "полупик",
        }
    }
}

impl fmt::Display for ZoneCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tariff zone of a meter, with the last reading the retailer holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Zone {
    pub code: ZoneCode,
    /// Filled in by [`Meter::new`] from the meter's zone count.
    pub name_ru: &'static str,
    /// Whole kWh.
    pub previous_value: u64,
    pub previous_date: NaiveDate,
}

impl Zone {
    pub fn new(code: ZoneCode, previous_value: u64, previous_date: NaiveDate) -> Zone {
        Zone {
            code,
            name_ru: "",
            previous_value,
            previous_date,
        }
    }
}

/// An electricity meter on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Meter {
    pub id: String,
    /// Factory (serial) number, shown so the customer picks the right meter.
    pub serial: String,
    /// Display name, e.g. «Квартира», «Гараж» or the model.
    pub name: String,
    /// Integer digits on the display; the reading rolls over from 10^digits − 1 to 0.
    pub digits: u8,
    /// T1, or T1 T2, or T1 T2 T3, in that order.
    pub zones: Vec<Zone>,
    /// Plausible consumption per day per zone (kWh); `None` uses the configured default.
    pub max_daily_kwh: Option<u64>,
}

impl Meter {
    /// Checks the description: 1–9 digits, zones exactly T1 / T1 T2 / T1 T2 T3 (any order given,
    /// stored in order), previous values within the capacity, plausibility limit positive.
    pub fn new(
        id: String,
        serial: String,
        name: String,
        digits: u8,
        mut zones: Vec<Zone>,
        max_daily_kwh: Option<u64>,
    ) -> Result<Meter, MeterError> {
        if digits == 0 || digits > MAX_METER_DIGITS {
            return Err(MeterError::Digits(digits));
        }
        zones.sort_by_key(|z| z.code);
        let codes: Vec<ZoneCode> = zones.iter().map(|z| z.code).collect();
        let expected: &[ZoneCode] = match zones.len() {
            1 => &[ZoneCode::T1],
            2 => &[ZoneCode::T1, ZoneCode::T2],
            3 => &[ZoneCode::T1, ZoneCode::T2, ZoneCode::T3],
            // No zones, or more than three: never valid.
            _ => &[],
        };
        if expected.is_empty() || codes != expected {
            return Err(MeterError::Zones(
                codes
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ));
        }
        let capacity = 10u64.pow(u32::from(digits));
        let count = zones.len();
        for zone in &mut zones {
            if zone.previous_value >= capacity {
                return Err(MeterError::PreviousTooLarge {
                    zone: zone.code,
                    value: zone.previous_value,
                    digits,
                });
            }
            zone.name_ru = zone.code.name_ru(count);
        }
        if max_daily_kwh == Some(0) {
            return Err(MeterError::ZeroLimit);
        }
        Ok(Meter {
            id,
            serial,
            name,
            digits,
            zones,
            max_daily_kwh,
        })
    }

    /// 10^digits: the first value the display cannot show.
    pub fn capacity(&self) -> u64 {
        10u64.pow(u32::from(self.digits))
    }

    pub fn zone(&self, code: ZoneCode) -> Option<&Zone> {
        self.zones.iter().find(|z| z.code == code)
    }
}

/// A meter description that cannot be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeterError {
    #[error("digit capacity {0} is outside 1..=9")]
    Digits(u8),
    #[error("zones [{0}] are not T1, T1 T2 or T1 T2 T3")]
    Zones(String),
    #[error("previous value {value} of zone {zone} does not fit {digits} digits")]
    PreviousTooLarge {
        zone: ZoneCode,
        value: u64,
        digits: u8,
    },
    #[error("plausibility limit per day must be positive")]
    ZeroLimit,
}
