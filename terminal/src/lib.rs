//! `terminal` is the kiosk daemon: customer session core, journal, config, account lookup,
//! meter-reading rules, health monitor, service operations and device wiring.

pub mod demo;
pub mod devices;
pub mod journal;
pub mod ledger;
pub mod money;
pub mod runtime;
pub mod session;
pub mod soak;
