//! SIGTERM and SIGINT become an orderly stop.
//!
//! systemd (a `systemctl stop`, a reboot, a package upgrade) sends SIGTERM and waits the unit's
//! `TimeoutStopSec=` before it kills. The first signal tells systemd `STOPPING=1` and asks the
//! core to stop ([`CoreEvent::Stop`]): the session finishes what the customer is doing (see
//! `kiosk_core::session` `stop.rs`) and the core ends once no money is in flight. A second
//! signal ends the process at once, as a crash: the journal's recovery rules settle what is
//! left at the next start.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::runtime::CoreEvent;
use crate::watchdog::{Notification, Notifier, SystemdNotifier};

/// The exit code of a second signal (128 + SIGTERM, as the shell reports a killed process).
const FORCED_EXIT_CODE: i32 = 143;

/// Listens for SIGTERM and SIGINT on the current tokio runtime. Fails only when the signal
/// handlers cannot be installed.
pub fn spawn_orderly_stop(core: mpsc::Sender<CoreEvent>) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let mut asked = false;
        loop {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if asked {
                tracing::warn!(signal = name, "second stop signal: ending at once");
                std::process::exit(FORCED_EXIT_CODE);
            }
            asked = true;
            tracing::info!(
                signal = name,
                "stopping: the customer's business finishes first"
            );
            if let Err(e) = SystemdNotifier.notify(&Notification::Stopping) {
                tracing::warn!(error = %e, "could not tell systemd that the terminal is stopping");
            }
            if core.send(CoreEvent::Stop).await.is_err() {
                // The core has ended already: nothing is left to finish.
                std::process::exit(0);
            }
        }
    });
    Ok(())
}
