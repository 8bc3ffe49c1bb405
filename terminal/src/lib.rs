//! `terminal` is the kiosk daemon: journal, config, account lookup, health monitor, device wiring,
//! the runtime that drives the pure core (`kiosk-core`, re-exported below) and the simulations.

pub use kiosk_core::{ledger, money, readings, service, service_pin, session};

pub mod accounts;
#[cfg(feature = "sim")]
pub mod card_soak;
pub mod config;
pub mod content;
#[cfg(feature = "sim")]
pub mod demo;
pub mod devices;
pub mod enrol;
#[cfg(feature = "sim")]
pub mod fault_sim;
pub mod gpio;
pub mod health;
pub mod journal;
pub mod kiosk;
pub mod metrics;
pub mod reading_check;
pub mod runtime;
pub mod screen;
mod signals;
#[cfg(feature = "sim")]
pub mod sim_devices;
#[cfg(feature = "sim")]
pub mod simulate;
pub mod slips;
#[cfg(feature = "sim")]
pub mod soak;
pub mod supervision;
pub mod sync;
pub mod watchdog;
