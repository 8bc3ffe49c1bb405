//! The reading rules: what a customer may enter for a meter, and the exact Russian explanation
//! of every refusal (the standard demands the reason at once, with the numbers).
//!
//! Checks, in order (the first failure is reported):
//! 1. today is inside the acceptance window of the month;
//! 2. every zone of the meter has exactly one entry, no zone the meter lacks;
//! 3. each entry is whole kWh: not empty, digits only (no fraction), no more digits than the
//!    display has, not zero;
//! 4. not a repeat: if this meter already has a reading accepted this month with the very same
//!    values, it is refused as a duplicate (with the earlier registration number). A reading with
//!    different values inside the window is accepted as a **correction** that supersedes the
//!    earlier one (`corrects`); it is checked against the same previous values as the earlier one
//!    (the retailer's last reading before this month), so a typo can be fixed downwards;
//! 5. per zone: not below the previous value, unless the meter rolled over — the previous value in
//!    the top tenth of the display (≥ 90 % of 10^digits) and the consumption through zero plausible;
//! 6. per zone: consumption at most the daily limit × days since the previous reading (at least
//!    one day).
//!
//! Values are whole kWh, as read from the display's integer digits. Time is passed in (kiosk local
//! time); nothing here reads the clock.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::meter::{Meter, ZoneCode};
use super::registration::{RegisteredReading, RegistrationNumber, ValidatedReading, ZoneReading};
use super::window::{month_genitive, AcceptanceWindow};

/// The configured rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadingRules {
    pub window: AcceptanceWindow,
    /// Plausible kWh per day per zone for meters that do not state their own.
    pub default_max_daily_kwh: u64,
}

/// What the customer typed for one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInput {
    pub zone: ZoneCode,
    pub entered: String,
}

impl ZoneInput {
    pub fn new(zone: ZoneCode, entered: impl Into<String>) -> ZoneInput {
        ZoneInput {
            zone,
            entered: entered.into(),
        }
    }
}

/// Which zone a refusal is about; printed as « по зоне T2 (ночь)», or nothing on a one-zone meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneLabel {
    pub code: ZoneCode,
    pub name_ru: &'static str,
    pub only_zone: bool,
}

impl fmt::Display for ZoneLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.only_zone {
            Ok(())
        } else {
            write!(f, " по зоне {} ({})", self.code, self.name_ru)
        }
    }
}

/// Why a reading was not accepted. [`Refusal::customer_message`] is the on-screen explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("outside the acceptance window {first_day}..={last_day} (today {today})")]
    OutsideWindow {
        first_day: u32,
        last_day: u32,
        today: NaiveDate,
    },
    #[error("meter has no zone {zone}")]
    UnknownZone {
        zone: ZoneCode,
        meter_name: String,
        meter_serial: String,
    },
    #[error("zone {} entered twice", .0.code)]
    RepeatedZone(ZoneLabel),
    #[error("zone {} not entered", .0.code)]
    MissingZone(ZoneLabel),
    #[error("zone {} empty", .0.code)]
    Empty(ZoneLabel),
    #[error("zone {} has a fractional part", .0.code)]
    Fraction(ZoneLabel),
    #[error("zone {} is not a number: {entered:?}", .zone.code)]
    NotNumeric { zone: ZoneLabel, entered: String },
    #[error("zone {} has {entered_digits} digits, meter shows {capacity_digits}", .zone.code)]
    TooManyDigits {
        zone: ZoneLabel,
        entered_digits: usize,
        capacity_digits: u8,
    },
    #[error("zone {} is zero", .0.code)]
    Zero(ZoneLabel),
    #[error("same values already accepted as {registration}")]
    Duplicate {
        registration: RegistrationNumber,
        accepted_at: NaiveDateTime,
    },
    #[error("zone {}: {value} below previous {previous} of {previous_date}", .zone.code)]
    BelowPrevious {
        zone: ZoneLabel,
        value: u64,
        previous: u64,
        previous_date: NaiveDate,
    },
    #[error("zone {}: consumption {consumption} kWh in {days} days above limit {limit} kWh ({per_day}/day)", .zone.code)]
    Implausible {
        zone: ZoneLabel,
        consumption: u64,
        days: u64,
        limit: u64,
        per_day: u64,
    },
}

impl Refusal {
    /// The explanation for the customer's screen.
    pub fn customer_message(&self) -> String {
        match self {
            Refusal::OutsideWindow {
                first_day,
                last_day,
                today,
            } => format!(
                "Показания принимаются с {first_day} по {last_day} число месяца; сегодня {} {}",
                today.day(),
                month_genitive(today.month())
            ),
            Refusal::UnknownZone {
                zone,
                meter_name,
                meter_serial,
            } => format!("У счётчика «{meter_name}» (зав. № {meter_serial}) нет зоны {zone}"),
            Refusal::RepeatedZone(zone) => {
                format!("Показание{zone} введено дважды — оставьте одно")
            }
            Refusal::MissingZone(zone) => format!(
                "Не введено показание{zone} — введите показания всех зон счётчика"
            ),
            Refusal::Empty(zone) => format!("Введите показание{zone}"),
            Refusal::Fraction(zone) => format!(
                "Введите показание{zone} без цифр после запятой — только целые кВт·ч"
            ),
            Refusal::NotNumeric { zone, entered } => format!(
                "Показание{zone} «{entered}» должно состоять только из цифр"
            ),
            Refusal::TooManyDigits {
                zone,
                entered_digits,
                capacity_digits,
            } => format!(
                "В показании{zone} {entered_digits} {}, а на табло счётчика {capacity_digits} {} до запятой",
                digits_word(*entered_digits as u64),
                digits_word(u64::from(*capacity_digits))
            ),
            Refusal::Zero(zone) => format!(
                "Показание{zone} не может быть равно нулю — введите цифры с табло счётчика"
            ),
            Refusal::Duplicate {
                registration,
                accepted_at,
            } => format!(
                "Эти показания уже приняты {}, регистрационный номер {registration}",
                accepted_at.format("%d.%m.%Y в %H:%M")
            ),
            Refusal::BelowPrevious {
                zone,
                value,
                previous,
                previous_date,
            } => format!(
                "Показание{zone} {value} меньше предыдущего {previous} (от {})",
                previous_date.format("%d.%m.%Y")
            ),
            Refusal::Implausible {
                zone,
                consumption,
                days,
                limit,
                per_day,
            } => format!(
                "Расход{zone} {consumption} кВт·ч за {days} {} больше допустимого {limit} кВт·ч (не более {per_day} кВт·ч в сутки) — проверьте показание",
                days_word(*days)
            ),
        }
    }
}

/// «цифра / цифры / цифр» after a count (nominative).
fn digits_word(n: u64) -> &'static str {
    match (n % 10, n % 100) {
        (_, 11..=14) => "цифр",
        (1, _) => "цифра",
        (2..=4, _) => "цифры",
        _ => "цифр",
    }
}

/// «день / дня / дней» after a count.
fn days_word(n: u64) -> &'static str {
    match (n % 10, n % 100) {
        (_, 11..=14) => "дней",
        (1, _) => "день",
        (2..=4, _) => "дня",
        _ => "дней",
    }
}

/// Checks a customer's reading of one meter; see the module documentation for the rules.
///
/// `accepted_this_month` may hold any registered readings of the account; only this meter's
/// readings from `now`'s month count.
pub fn validate(
    meter: &Meter,
    inputs: &[ZoneInput],
    now: NaiveDateTime,
    rules: &ReadingRules,
    accepted_this_month: &[RegisteredReading],
) -> Result<ValidatedReading, Refusal> {
    let today = now.date();
    if !rules.window.contains(today) {
        return Err(Refusal::OutsideWindow {
            first_day: rules.window.first_day,
            last_day: rules.window.last_day,
            today,
        });
    }
    let label = |code: ZoneCode| ZoneLabel {
        code,
        name_ru: code.name_ru(meter.zones.len()),
        only_zone: meter.zones.len() == 1,
    };

    // Every input names a zone of this meter, once.
    for (i, input) in inputs.iter().enumerate() {
        if meter.zone(input.zone).is_none() {
            return Err(Refusal::UnknownZone {
                zone: input.zone,
                meter_name: meter.name.clone(),
                meter_serial: meter.serial.clone(),
            });
        }
        if inputs[..i].iter().any(|earlier| earlier.zone == input.zone) {
            return Err(Refusal::RepeatedZone(label(input.zone)));
        }
    }

    // Every zone has a well-formed value.
    let mut values = Vec::with_capacity(meter.zones.len());
    for zone in &meter.zones {
        let input = inputs
            .iter()
            .find(|input| input.zone == zone.code)
            .ok_or(Refusal::MissingZone(label(zone.code)))?;
        values.push(parse_entry(&input.entered, meter.digits, label(zone.code))?);
    }

    // A repeat of this month's reading is a duplicate; a changed one is a correction.
    let earlier = accepted_this_month
        .iter()
        .filter(|r| {
            r.meter_id == meter.id
                && r.accepted_at.year() == today.year()
                && r.accepted_at.month() == today.month()
        })
        .max_by_key(|r| (r.accepted_at, r.registration.clone()));
    if let Some(earlier) = earlier {
        let same = meter.zones.iter().zip(&values).all(|(zone, value)| {
            earlier
                .zones
                .iter()
                .any(|z| z.zone == zone.code && z.value == *value)
        });
        if same {
            return Err(Refusal::Duplicate {
                registration: earlier.registration.clone(),
                accepted_at: earlier.accepted_at,
            });
        }
    }

    let per_day = meter.max_daily_kwh.unwrap_or(rules.default_max_daily_kwh);
    let capacity = meter.capacity();
    let mut zones = Vec::with_capacity(values.len());
    for (zone, &value) in meter.zones.iter().zip(&values) {
        let days = u64::try_from((today - zone.previous_date).num_days())
            .unwrap_or(0)
            .max(1);
        let limit = per_day.saturating_mul(days);
        let previous = zone.previous_value;
        let (consumption, rollover) = if value >= previous {
            (value - previous, false)
        } else {
            let near_capacity = previous >= capacity - capacity / 10;
            let through_zero = capacity - previous + value;
            if !near_capacity || through_zero > limit {
                return Err(Refusal::BelowPrevious {
                    zone: label(zone.code),
                    value,
                    previous,
                    previous_date: zone.previous_date,
                });
            }
            (through_zero, true)
        };
        if consumption > limit {
            return Err(Refusal::Implausible {
                zone: label(zone.code),
                consumption,
                days,
                limit,
                per_day,
            });
        }
        zones.push(ZoneReading {
            zone: zone.code,
            zone_name: zone.code.name_ru(meter.zones.len()),
            value,
            previous,
            consumption,
            rollover,
        });
    }

    Ok(ValidatedReading {
        meter_id: meter.id.clone(),
        meter_serial: meter.serial.clone(),
        meter_name: meter.name.clone(),
        zones,
        corrects: earlier.map(|r| r.registration.clone()),
    })
}

/// Longest entered text echoed back in a refusal.
const ECHO_LIMIT: usize = 20;

fn parse_entry(entered: &str, digits: u8, zone: ZoneLabel) -> Result<u64, Refusal> {
    let entered = entered.trim();
    if entered.is_empty() {
        return Err(Refusal::Empty(zone));
    }
    if let Some((whole, _)) = entered.split_once([',', '.']) {
        if !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::Fraction(zone));
        }
    }
    if !entered.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::NotNumeric {
            zone,
            entered: entered.chars().take(ECHO_LIMIT).collect(),
        });
    }
    if entered.len() > usize::from(digits) {
        return Err(Refusal::TooManyDigits {
            zone,
            entered_digits: entered.len(),
            capacity_digits: digits,
        });
    }
    // At most 9 digits (the meter capacity bound), so this fits.
    let value: u64 = entered.parse().map_err(|_| Refusal::NotNumeric {
        zone,
        entered: entered.to_string(),
    })?;
    if value == 0 {
        return Err(Refusal::Zero(zone));
    }
    Ok(value)
}
