//! Meter readings (показания): meters and tariff zones, the acceptance rules with a Russian
//! explanation for every refusal, and registration numbers for accepted readings.

mod meter;
mod registration;
mod validate;
mod window;

pub use meter::{Meter, MeterError, Zone, ZoneCode, MAX_METER_DIGITS};
pub use registration::{BadRegistrationNumber, RegisteredReading, Registrar, RegistrationNumber};
pub use validate::{
    validate, ReadingRules, Refusal, ValidatedReading, ZoneInput, ZoneLabel, ZoneReading,
};
pub use window::{month_genitive, AcceptanceWindow};
