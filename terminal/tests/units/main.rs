//! Unit-level tests of the terminal library (domain rules and health), gathered in one test
//! binary so a change to the library relinks one executable instead of ten.

mod domain_accounts;
mod domain_config;
mod domain_qr;
mod domain_readings;
mod health_calendar;
mod health_fleet;
mod health_io;
mod health_monitor;
mod health_recovery;
mod health_service_pin;
