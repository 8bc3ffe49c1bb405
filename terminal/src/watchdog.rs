//! The systemd watchdog, fed only while the terminal's vital tasks are alive.
//!
//! The unit (`deploy/kiosk-terminal.service`) is `Type=notify` with `WatchdogSec=`. The daemon
//! sends `READY=1` once it is up, then `WATCHDOG=1` every half watchdog period — but only if
//! every registered task (the session core, each device task) has beaten its [`Heartbeat`]
//! recently enough. A task that hangs or dies stops the feeding, and systemd restarts the
//! terminal (`Restart=always`). A dropped [`Heartbeat`] (its task ended or panicked) counts as
//! dead, not as gone.
//!
//! [`WatchdogCore`] is the sans-IO decision (time passed in); [`run`] is the thin loop around it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One registered task's liveness.
#[derive(Debug, Clone, Copy)]
struct Beat {
    last: Instant,
    max_silence: Duration,
    dead: bool,
    /// Which registration this is, so a stale handle cannot touch its successor.
    generation: u64,
}

#[derive(Debug, Default)]
struct Registry {
    tasks: BTreeMap<String, Beat>,
    next_generation: u64,
}

/// The registry of vital tasks. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    registry: Arc<Mutex<Registry>>,
}

impl Liveness {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies `f` to the task's entry if it is still the registration `generation`.
    fn with_task(&self, name: &str, generation: u64, f: impl FnOnce(&mut Beat)) {
        self.with(|r| {
            if let Some(b) = r.tasks.get_mut(name).filter(|b| b.generation == generation) {
                f(b);
            }
        });
    }

    /// Registers a vital task that must beat at least every `max_silence`. Registering a name
    /// again replaces the old entry (a restarted task).
    pub fn register(
        &self,
        name: impl Into<String>,
        max_silence: Duration,
        now: Instant,
    ) -> Heartbeat {
        let name = name.into();
        let generation = self.with(|r| {
            r.next_generation += 1;
            let generation = r.next_generation;
            r.tasks.insert(
                name.clone(),
                Beat {
                    last: now,
                    max_silence,
                    dead: false,
                    generation,
                },
            );
            generation
        });
        Heartbeat {
            name,
            generation,
            liveness: self.clone(),
        }
    }

    /// Removes a task on purpose (an orderly shutdown of an optional device).
    pub fn deregister(&self, name: &str) {
        self.with(|r| r.tasks.remove(name));
    }

    /// The tasks that are dead or silent for too long at `now`.
    pub fn stale(&self, now: Instant) -> Vec<String> {
        self.with(|r| {
            r.tasks
                .iter()
                .filter(|(_, b)| b.dead || now.saturating_duration_since(b.last) > b.max_silence)
                .map(|(n, _)| n.clone())
                .collect()
        })
    }
}

/// A task's handle for reporting that it is alive.
#[derive(Debug)]
pub struct Heartbeat {
    name: String,
    generation: u64,
    liveness: Liveness,
}

impl Heartbeat {
    pub fn beat(&self) {
        self.beat_at(Instant::now());
    }

    pub fn beat_at(&self, now: Instant) {
        self.liveness
            .with_task(&self.name, self.generation, |b| b.last = b.last.max(now));
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.liveness
            .with_task(&self.name, self.generation, |b| b.dead = true);
    }
}

/// A message to the service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    Ready,
    Watchdog,
    Stopping,
    Status(String),
}

/// Whoever delivers [`Notification`]s (systemd, or a recorder in tests).
pub trait Notifier {
    fn notify(&mut self, n: &Notification) -> std::io::Result<()>;
}

/// Delivers to systemd through `$NOTIFY_SOCKET` (a no-op when not run by systemd).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemdNotifier;

impl Notifier for SystemdNotifier {
    fn notify(&mut self, n: &Notification) -> std::io::Result<()> {
        use sd_notify::NotifyState;
        match n {
            Notification::Ready => sd_notify::notify(false, &[NotifyState::Ready]),
            Notification::Watchdog => sd_notify::notify(false, &[NotifyState::Watchdog]),
            Notification::Stopping => sd_notify::notify(false, &[NotifyState::Stopping]),
            Notification::Status(s) => sd_notify::notify(false, &[NotifyState::Status(s)]),
        }
    }
}

/// Half the watchdog period systemd asked for (`$WATCHDOG_USEC`), or `None` when the watchdog
/// is off.
pub fn feed_interval_from_env() -> Option<Duration> {
    let mut usec = 0u64;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2))
}

/// The decision at each tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Everyone is alive: send `WATCHDOG=1`.
    Feed,
    /// These tasks are dead or silent: do not feed.
    Withhold { stale: Vec<String> },
}

/// Sans-IO watchdog decision.
#[derive(Debug, Clone)]
pub struct WatchdogCore {
    liveness: Liveness,
}

impl WatchdogCore {
    pub fn new(liveness: Liveness) -> Self {
        WatchdogCore { liveness }
    }

    pub fn tick(&self, now: Instant) -> Tick {
        let stale = self.liveness.stale(now);
        if stale.is_empty() {
            Tick::Feed
        } else {
            Tick::Withhold { stale }
        }
    }

    /// The notifications for one tick: `WATCHDOG=1`, or a status line naming the stale tasks.
    pub fn notifications(&self, now: Instant) -> Vec<Notification> {
        match self.tick(now) {
            Tick::Feed => vec![Notification::Watchdog],
            Tick::Withhold { stale } => vec![Notification::Status(format!(
                "not feeding the watchdog: stale tasks {}",
                stale.join(", ")
            ))],
        }
    }
}

/// Sends `READY=1`, then feeds the watchdog every `interval` while all tasks are alive. Runs
/// until cancelled.
pub async fn run(liveness: Liveness, mut notifier: impl Notifier, interval: Duration) {
    let core = WatchdogCore::new(liveness);
    if let Err(e) = notifier.notify(&Notification::Ready) {
        tracing::warn!(error = %e, "could not notify systemd of readiness");
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_feeding = true;
    loop {
        ticker.tick().await;
        let notes = core.notifications(Instant::now());
        let feeding = notes == [Notification::Watchdog];
        if !feeding && was_feeding {
            tracing::error!(status = ?notes, "watchdog not fed; systemd will restart the terminal");
        }
        was_feeding = feeding;
        for n in &notes {
            if let Err(e) = notifier.notify(n) {
                tracing::warn!(error = %e, "could not notify systemd");
            }
        }
    }
}
