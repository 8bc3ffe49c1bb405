//! `terminal` is the kiosk daemon: customer session core, journal, config, account lookup,
//! meter-reading rules, health monitor, service operations and device wiring.

pub mod accounts;
pub mod config;
pub mod readings;
