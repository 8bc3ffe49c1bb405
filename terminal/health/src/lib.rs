//! Health of the kiosk and the 60-minute rule: how each device is doing, whether the kiosk is in
//! service, how many *working* minutes an outage has lasted, when to alert, and how to heal.
//!
//! - [`calendar`]: the host office's working hours; outage time in working minutes.
//! - [`monitor`]: device conditions → service state, outage alerts (`Started`, `Escalated`,
//!   `Breach`, `Recovered`), debounced.
//! - [`recovery`]: the per-device self-recovery ladder with backoff.
//!
//! All of them are sans-IO: time is passed in as a value, and they hand out journal events and
//! actions for the driver to carry out. The terminal's health desk (`terminal::runtime::health`)
//! drives them; its fleet simulation (`terminal simulate-fleet`) runs all three over a simulated
//! clock.

pub mod calendar;
pub mod monitor;
pub mod recovery;

use serde::{Deserialize, Serialize};

pub use calendar::{default_calendar, CalendarConfig, CalendarError, WorkingCalendar};
pub use monitor::{
    AlertConfig, Capabilities, Device, DeviceCondition, FaultKind, HealthMonitor, OutageRecord,
    ServiceState,
};
pub use recovery::{LadderConfig, RecoveryAction, RecoveryLadder, RecoveryStep};

/// The `[health]` configuration section:
///
/// ```toml
/// [health.calendar]          # see `calendar` for the full shape
/// time_zone = "Europe/Moscow"
/// [health.calendar.week]
/// mon = { open = "08:00", close = "20:00", lunch = { start = "13:00", end = "14:00" } }
///
/// [health.alerts]            # all optional; these are the defaults
/// escalate_after_working_minutes = 30
/// breach_after_working_minutes = 60
/// recovery_hold_seconds = 300
///
/// [health.recovery]          # all optional; these are the defaults
/// steps = ["reopen_port", "protocol_reset", "power_cycle", "restart_process"]
/// attempts_per_step = 2
/// first_delay_seconds = 2
/// max_delay_seconds = 60
/// retry_exhausted_after_seconds = 1800
/// min_restart_interval_seconds = 3600
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    pub calendar: CalendarConfig,
    #[serde(default)]
    pub alerts: AlertConfig,
    #[serde(default)]
    pub recovery: LadderConfig,
}
