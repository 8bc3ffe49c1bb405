//! `terminal` is the kiosk daemon: customer session core, journal, config, account lookup,
//! meter-reading rules, health monitor, service operations and device wiring.
pub mod gpio;
pub mod health;
pub mod metrics;
pub mod service_pin;
pub mod watchdog;
