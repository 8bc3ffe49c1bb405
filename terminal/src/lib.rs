//! `terminal` is the kiosk daemon: customer session core, journal, config, account lookup,
//! meter-reading rules, health monitor, service operations and device wiring.

pub mod accounts;
pub mod card_soak;
pub mod config;
pub mod content;
pub mod demo;
pub mod devices;
pub mod fault_sim;
pub mod gpio;
pub mod health;
pub mod journal;
pub mod ledger;
pub mod metrics;
pub mod money;
pub mod reading_check;
pub mod readings;
pub mod runtime;
pub mod screen;
pub mod service;
pub mod service_pin;
pub mod session;
pub mod sim_devices;
pub mod simulate;
pub mod soak;
pub mod supervision;
pub mod sync;
pub mod watchdog;
