//! The self-recovery ladder of one device: gentle steps first, each tried a few times with a
//! growing pause between tries.
//!
//! ```text
//! ReopenPort → ProtocolReset → PowerCycle (GPIO relay) → RestartProcess
//! ```
//!
//! Sans-IO. The driver reports a fault with [`RecoveryLadder::handle_fault`], asks
//! [`RecoveryLadder::poll_action`] for the step that is due, performs it, and reports the result
//! with [`RecoveryLadder::handle_step_result`] (succeeded = the device answers properly again).
//! Every step becomes a `RecoveryStep` journal event from [`RecoveryLadder::poll_event`].
//!
//! `RestartProcess` is special: the process that performs it cannot report afterwards. The ladder
//! therefore journals it when it hands the action out (`succeeded: true` meaning "restart
//! requested"), and allows it only if the previous restart is older than
//! `min_restart_interval_seconds` — so a kiosk with a dead device does not restart in a loop. The
//! driver passes the time of the last journaled restart to [`RecoveryLadder::new`].
//!
//! When every step has failed the ladder is *exhausted* (a technician is needed, the outage alert
//! has already called one); it starts over after `retry_exhausted_after_seconds`, since some
//! faults clear by themselves.

use std::collections::VecDeque;
use std::fmt;

use backend_sync::event::JournalEvent;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::monitor::Device;

/// One rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryStep {
    /// Close and re-open the serial port (USB adapters that re-enumerate, a stuck fd).
    ReopenPort,
    /// The protocol's own reset (CCNET RESET, ZVT abort + registration, ESC @).
    ProtocolReset,
    /// Cut the device's power through its GPIO relay, wait, restore it, wait for it to boot.
    PowerCycle,
    /// Exit and let systemd start the terminal afresh.
    RestartProcess,
}

impl RecoveryStep {
    pub const ALL: [RecoveryStep; 4] = [
        RecoveryStep::ReopenPort,
        RecoveryStep::ProtocolReset,
        RecoveryStep::PowerCycle,
        RecoveryStep::RestartProcess,
    ];

    /// The name journaled in `RecoveryStep.step`.
    pub fn name(self) -> &'static str {
        match self {
            RecoveryStep::ReopenPort => "reopen_port",
            RecoveryStep::ProtocolReset => "protocol_reset",
            RecoveryStep::PowerCycle => "power_cycle",
            RecoveryStep::RestartProcess => "restart_process",
        }
    }
}

impl fmt::Display for RecoveryStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn default_steps() -> Vec<RecoveryStep> {
    RecoveryStep::ALL.to_vec()
}
fn default_attempts() -> u32 {
    2
}
fn default_first_delay() -> u32 {
    2
}
fn default_max_delay() -> u32 {
    60
}
fn default_retry_exhausted() -> u32 {
    1800
}
fn default_min_restart_interval() -> u32 {
    3600
}

/// Ladder tuning (the `[health.recovery]` configuration section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderConfig {
    /// The rungs, in order. A device without a relay leaves out `power_cycle`.
    #[serde(default = "default_steps")]
    pub steps: Vec<RecoveryStep>,
    /// Tries per rung (`restart_process` is always tried once).
    #[serde(default = "default_attempts")]
    pub attempts_per_step: u32,
    /// Pause before the first try; it doubles with every further try.
    #[serde(default = "default_first_delay")]
    pub first_delay_seconds: u32,
    /// The pause never grows beyond this.
    #[serde(default = "default_max_delay")]
    pub max_delay_seconds: u32,
    /// An exhausted ladder starts over after this long.
    #[serde(default = "default_retry_exhausted")]
    pub retry_exhausted_after_seconds: u32,
    /// `restart_process` is skipped if the terminal restarted more recently than this.
    #[serde(default = "default_min_restart_interval")]
    pub min_restart_interval_seconds: u32,
}

impl Default for LadderConfig {
    fn default() -> Self {
        LadderConfig {
            steps: default_steps(),
            attempts_per_step: default_attempts(),
            first_delay_seconds: default_first_delay(),
            max_delay_seconds: default_max_delay(),
            retry_exhausted_after_seconds: default_retry_exhausted(),
            min_restart_interval_seconds: default_min_restart_interval(),
        }
    }
}

/// What the driver must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryAction {
    pub device: Device,
    pub step: RecoveryStep,
    /// 1-based try of this rung.
    pub attempt: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The device works (or nobody told us otherwise).
    Idle,
    /// Try number `tries` (0-based, counted over the whole ladder) of rung `rung` is due at `due`.
    Waiting {
        rung: usize,
        attempt: u32,
        tries: u32,
        due: DateTime<Utc>,
    },
    /// The action was handed out; waiting for its result.
    Running {
        rung: usize,
        attempt: u32,
        tries: u32,
    },
    /// Every rung failed; start over at `retry_at`.
    Exhausted { retry_at: DateTime<Utc> },
}

/// The recovery ladder of one device (see the module docs).
#[derive(Debug, Clone)]
pub struct RecoveryLadder {
    device: Device,
    config: LadderConfig,
    last_restart: Option<DateTime<Utc>>,
    phase: Phase,
    events: VecDeque<JournalEvent>,
}

impl RecoveryLadder {
    /// `last_restart`: when the terminal last restarted itself for recovery (from the journal).
    pub fn new(device: Device, config: LadderConfig, last_restart: Option<DateTime<Utc>>) -> Self {
        RecoveryLadder {
            device,
            config,
            last_restart,
            phase: Phase::Idle,
            events: VecDeque::new(),
        }
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// True while the ladder is working on a fault.
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    /// True when every rung has failed and the ladder waits to start over.
    pub fn is_exhausted(&self) -> bool {
        matches!(self.phase, Phase::Exhausted { .. })
    }

    fn delay(&self, tries: u32) -> Duration {
        let first = u64::from(self.config.first_delay_seconds);
        let grown = first.saturating_mul(1u64.checked_shl(tries).unwrap_or(u64::MAX));
        let secs = grown.min(u64::from(self.config.max_delay_seconds));
        Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
    }

    /// The device failed with a self-recoverable fault. Starts the ladder unless it is already
    /// working on one.
    pub fn handle_fault(&mut self, now: DateTime<Utc>) {
        if matches!(self.phase, Phase::Idle) {
            self.schedule_from(0, 0, now);
        }
    }

    /// The device works again (by a step or by itself): the ladder goes idle.
    pub fn handle_recovered(&mut self) {
        self.phase = Phase::Idle;
    }

    /// Schedules the first usable rung at or after `rung`.
    fn schedule_from(&mut self, rung: usize, tries: u32, now: DateTime<Utc>) {
        let min_gap = Duration::seconds(i64::from(self.config.min_restart_interval_seconds));
        let usable = |step: RecoveryStep| {
            step != RecoveryStep::RestartProcess
                || self.last_restart.is_none_or(|t| now - t >= min_gap)
        };
        match (rung..self.config.steps.len()).find(|&i| usable(self.config.steps[i])) {
            Some(rung) => {
                self.phase = Phase::Waiting {
                    rung,
                    attempt: 1,
                    tries,
                    due: now + self.delay(tries),
                }
            }
            None => {
                self.phase = Phase::Exhausted {
                    retry_at: now
                        + Duration::seconds(i64::from(self.config.retry_exhausted_after_seconds)),
                }
            }
        }
    }

    /// Starts an exhausted ladder over when its time has come.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        if let Phase::Exhausted { retry_at } = self.phase {
            if now >= retry_at {
                self.schedule_from(0, 0, now);
            }
        }
    }

    /// The step to perform now, if one is due.
    pub fn poll_action(&mut self, now: DateTime<Utc>) -> Option<RecoveryAction> {
        self.handle_timeout(now);
        let Phase::Waiting {
            rung,
            attempt,
            tries,
            due,
        } = self.phase
        else {
            return None;
        };
        if now < due {
            return None;
        }
        let step = self.config.steps[rung];
        if step == RecoveryStep::RestartProcess {
            // Journaled now: whoever performs it cannot report back.
            self.last_restart = Some(now);
            self.events.push_back(JournalEvent::RecoveryStep {
                device: self.device.name().to_owned(),
                step: step.name().to_owned(),
                succeeded: true,
            });
            // If the process is still alive after a restart request, the rungs after it go on.
            self.schedule_from(rung + 1, tries + 1, now);
        } else {
            self.phase = Phase::Running {
                rung,
                attempt,
                tries,
            };
        }
        Some(RecoveryAction {
            device: self.device,
            step,
            attempt,
        })
    }

    /// The result of the step handed out by [`Self::poll_action`]. A result for a step that is
    /// not running is ignored (a late report after the device came back by itself).
    pub fn handle_step_result(&mut self, step: RecoveryStep, succeeded: bool, now: DateTime<Utc>) {
        let Phase::Running {
            rung,
            attempt,
            tries,
        } = self.phase
        else {
            return;
        };
        if self.config.steps[rung] != step {
            return;
        }
        self.events.push_back(JournalEvent::RecoveryStep {
            device: self.device.name().to_owned(),
            step: step.name().to_owned(),
            succeeded,
        });
        if succeeded {
            self.phase = Phase::Idle;
        } else if attempt < self.config.attempts_per_step.max(1) {
            self.phase = Phase::Waiting {
                rung,
                attempt: attempt + 1,
                tries: tries + 1,
                due: now + self.delay(tries + 1),
            };
        } else {
            self.schedule_from(rung + 1, tries + 1, now);
        }
    }

    /// When [`Self::poll_action`] or [`Self::handle_timeout`] has something to do next.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        match self.phase {
            Phase::Waiting { due, .. } => Some(due),
            Phase::Exhausted { retry_at } => Some(retry_at),
            Phase::Idle | Phase::Running { .. } => None,
        }
    }

    /// The next `RecoveryStep` event to journal.
    pub fn poll_event(&mut self) -> Option<JournalEvent> {
        self.events.pop_front()
    }
}
