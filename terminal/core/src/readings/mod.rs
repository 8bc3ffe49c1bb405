//! Meter readings (показания): meters and tariff zones, the acceptance rules with a Russian
//! explanation for every refusal, and registration numbers for accepted readings.

mod meter;
mod registration;
mod validate;
mod window;

pub use meter::{Meter, MeterError, Zone, ZoneCode, MAX_METER_DIGITS};
pub use registration::{
    BadRegistrationNumber, RegisteredReading, Registrar, RegistrationNumber, ValidatedReading,
    ZoneReading,
};
pub use validate::{validate, ReadingRules, Refusal, ZoneInput, ZoneLabel};
pub use window::{month_genitive, AcceptanceWindow};
