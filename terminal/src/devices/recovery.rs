//! The recovery executor: carries out the steps the health desk's ladders hand out.
//!
//! A step counts as succeeded when its device reports itself up again (the health desk sees that
//! directly); the executor only reports a *failure*, after `settle` has passed without the device
//! coming back. A late failure for a device that came back meanwhile is ignored by the desk.
//!
//! What each step means here:
//! - bill validator, reopen port / protocol reset: the bill task closes the port and starts the
//!   driver afresh, whose start-up sends the protocol's RESET;
//! - any device with a relay of its name in the [`GpioBank`], power cycle: power off, wait, on;
//! - restart process: only where a supervisor will start the terminal again (systemd); the
//!   process exits with [`RESTART_EXIT_CODE`];
//! - anything else cannot be done on this kiosk and is reported failed at once, so the ladder
//!   moves on to the next rung.

use std::time::Duration;

use embedded_hal::digital::{InputPin, OutputPin};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::gpio::GpioBank;
use crate::health::{Device, RecoveryAction, RecoveryStep};
use crate::runtime::CoreEvent;

/// The exit code of a recovery restart (systemd's `Restart=always` brings the terminal back).
pub const RESTART_EXIT_CODE: i32 = 75;

/// What the executor can act on.
pub struct RecoveryTools<P> {
    /// Relays named after [`Device::name`] (e.g. `bill_validator`).
    pub gpio: Option<GpioBank<P>>,
    /// Asks the bill task to re-open its port (see `devices::bill::spawn_reopenable`).
    pub bill_reopen: Option<mpsc::Sender<()>>,
    /// How long power stays off in a power cycle.
    pub power_off_for: Duration,
    /// How long a device has to come back before the step counts as failed.
    pub settle: Duration,
    /// Whether a supervisor restarts the process (true under systemd).
    pub may_restart_process: bool,
}

/// Runs the executor; returns the channel for [`crate::runtime::Core::with_health`].
pub fn spawn<P>(
    mut tools: RecoveryTools<P>,
    core: mpsc::Sender<CoreEvent>,
) -> mpsc::Sender<RecoveryAction>
where
    P: OutputPin + InputPin + Send + 'static,
{
    let (tx, mut actions) = mpsc::channel::<RecoveryAction>(8);
    tokio::spawn(async move {
        while let Some(action) = actions.recv().await {
            let started = perform(&mut tools, action).await;
            let core = core.clone();
            let settle = tools.settle;
            // The verdict waits in its own task so the next device's step is not held up.
            tokio::spawn(async move {
                if started {
                    tokio::time::sleep(settle).await;
                }
                let _ = core
                    .send(CoreEvent::RecoveryDone {
                        device: action.device,
                        step: action.step,
                        succeeded: false,
                    })
                    .await;
            });
        }
    });
    tx
}

/// Carries the step out; false when it cannot be done here (reported failed at once).
async fn perform<P>(tools: &mut RecoveryTools<P>, action: RecoveryAction) -> bool
where
    P: OutputPin + InputPin,
{
    let RecoveryAction { device, step, .. } = action;
    info!(%device, step = step.name(), attempt = action.attempt, "carrying out a recovery step");
    match (device, step) {
        (Device::BillValidator, RecoveryStep::ReopenPort | RecoveryStep::ProtocolReset) => {
            match &tools.bill_reopen {
                Some(reopen) => reopen.send(()).await.is_ok(),
                None => false,
            }
        }
        (_, RecoveryStep::PowerCycle) => {
            let Some(bank) = &mut tools.gpio else {
                return false;
            };
            let relay = match bank.relay(device.name()) {
                Ok(relay) => relay,
                Err(e) => {
                    warn!(%device, error = %e, "no relay for a power cycle");
                    return false;
                }
            };
            match relay.power_cycle(tools.power_off_for).await {
                Ok(()) => true,
                Err(e) => {
                    error!(%device, error = %e, "power cycle failed");
                    false
                }
            }
        }
        (_, RecoveryStep::RestartProcess) => {
            if tools.may_restart_process {
                error!(%device, "restarting the terminal to recover");
                std::process::exit(RESTART_EXIT_CODE);
            }
            false
        }
        _ => false,
    }
}
