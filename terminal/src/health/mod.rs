//! Health of the kiosk and the 60-minute rule. The pure rules (working calendar, monitor,
//! recovery ladder, `[health]` config) are the `kiosk-health` crate, re-exported here; this module
//! adds the fleet simulation and the service screens' view of the monitor.

pub use kiosk_health::*;

#[cfg(feature = "sim")]
pub mod fleet_sim;
pub mod service_facts;
