//! A wire-level validator emulator on one end of a pty pair: the driver (or any other CCNET /
//! ID003 host) opens [`EmulatorHandle::device_path`] as if it were the serial port.

pub mod device;
pub mod model;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::model::{DeviceStatus, FailureCode};
use crate::port::AsyncPort;
use crate::protocol::Protocol;

pub use device::{DeviceCore, WireFaults};
pub use model::{rub_bill_table, EmulatorError, Timing, ValidatorModel, RUB_TABLE};

/// Emulator settings.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub protocol: Protocol,
    pub timing: Timing,
    /// How long the validator stays dark after `power_loss`.
    pub power_off: Duration,
}

impl EmulatorConfig {
    pub fn new(protocol: Protocol) -> Self {
        Self {
            protocol,
            timing: Timing::default(),
            power_off: Duration::from_millis(1500),
        }
    }
}

struct Shared {
    core: Mutex<DeviceCore>,
    wake: Notify,
}

/// Entry point: `Emulator::spawn(protocol)` inside a tokio runtime.
pub struct Emulator;

impl Emulator {
    pub fn spawn(protocol: Protocol) -> io::Result<EmulatorHandle> {
        Self::spawn_with(EmulatorConfig::new(protocol))
    }

    pub fn spawn_with(config: EmulatorConfig) -> io::Result<EmulatorHandle> {
        let (master, slave) = TTYPort::pair().map_err(|e| io::Error::other(e.to_string()))?;
        let path = PathBuf::from(
            slave
                .name()
                .ok_or_else(|| io::Error::other("pty has no device name"))?,
        );
        let master = AsyncPort::from_tty(master)?;
        let wire = config.protocol.wire();
        let shared = Arc::new(Shared {
            core: Mutex::new(DeviceCore::new(
                wire,
                ValidatorModel::new(config.protocol, config.timing.clone()),
            )),
            wake: Notify::new(),
        });
        let task = tokio::spawn(serve(master, shared.clone(), slave));
        Ok(EmulatorHandle {
            shared,
            task,
            path,
            link: None,
            power_off: config.power_off,
        })
    }
}

/// `slave` stays open here so the pty never hangs up between hosts.
async fn serve(master: AsyncPort, shared: Arc<Shared>, slave: TTYPort) {
    let slave_fd = slave.as_raw_fd();
    let mut buf = [0u8; 512];
    loop {
        // A host killed with SIGKILL leaves TIOCEXCL set on the pty (we hold it open), which
        // would refuse its successor unless it runs as root; the host's flock still keeps two
        // live hosts apart.
        // SAFETY: TIOCNXCL on a descriptor this task owns.
        unsafe { libc::ioctl(slave_fd, libc::TIOCNXCL) };
        let (due, next) = {
            let mut core = lock(&shared);
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(bytes) = core.poll_transmit(now) {
                due.push(bytes);
            }
            (due, core.poll_timeout())
        };
        for bytes in due {
            if let Err(err) = master.write_all(&bytes).await {
                tracing::warn!(%err, "emulator write failed");
            }
        }
        let sleep_until = next
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            read = master.read(&mut buf) => match read {
                Ok(n) => lock(&shared).handle_input(&buf[..n], Instant::now()),
                Err(err) => {
                    // No slave open (we keep one, so this is unusual): wait, do not spin.
                    tracing::debug!(%err, "emulator read failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep_until(sleep_until) => {}
        }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, DeviceCore> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    shared.core.lock().unwrap_or_else(|p| p.into_inner())
}

/// Control of a running emulator: the customer's and the technician's hands, the fault
/// injector, and the ground truth of what is in the cassette.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    path: PathBuf,
    link: Option<PathBuf>,
    power_off: Duration,
}

impl EmulatorHandle {
    /// The pty device the host opens.
    pub fn device_path(&self) -> &Path {
        &self.path
    }

    /// Also reachable as `link` (a symlink to the pty), removed when the emulator stops.
    pub fn link_to(&mut self, link: &Path) -> io::Result<()> {
        if link.symlink_metadata().is_ok() {
            std::fs::remove_file(link)?;
        }
        std::os::unix::fs::symlink(&self.path, link)?;
        self.link = Some(link.to_path_buf());
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut DeviceCore, Instant) -> T) -> T {
        let out = f(&mut lock(&self.shared), Instant::now());
        self.shared.wake.notify_one();
        out
    }

    /// A customer inserts a genuine note of `rubles`.
    pub fn insert(&self, rubles: i64) -> Result<(), EmulatorError> {
        self.with(|c, now| c.model.insert(rubles, now))
    }

    pub fn insert_fake(&self) -> Result<(), EmulatorError> {
        self.with(|c, now| c.model.insert_fake(now))
    }

    pub fn jam(&self) {
        self.with(|c, now| c.model.jam(now))
    }

    pub fn clear_jam(&self) -> Result<(), EmulatorError> {
        self.with(|c, now| c.model.clear_jam(now))
    }

    pub fn cassette_full(&self) {
        self.with(|c, _| c.model.cassette_full())
    }

    /// Encashment: the cassette comes out with its contents.
    pub fn remove_cassette(&self) -> Result<BTreeMap<i64, u32>, EmulatorError> {
        self.with(|c, now| c.model.remove_cassette(now))
    }

    /// An empty cassette goes in.
    pub fn insert_cassette(&self) -> Result<(), EmulatorError> {
        self.with(|c, _| c.model.insert_cassette())
    }

    pub fn cheat(&self) -> Result<(), EmulatorError> {
        self.with(|c, now| c.model.cheat(now))
    }

    pub fn fail(&self, code: FailureCode) {
        self.with(|c, _| c.model.fail(code))
    }

    /// Cut the power for the configured off time, in whatever state it is.
    pub fn power_loss(&self) {
        let off = self.power_off;
        self.with(|c, now| c.power_loss(now, off))
    }

    pub fn power_loss_for(&self, off: Duration) {
        self.with(|c, now| c.power_loss(now, off))
    }

    pub fn set_reply_delay(&self, delay: Duration) {
        self.with(|c, _| c.faults.reply_delay = delay)
    }

    /// Damage the next `n` replies.
    pub fn garble_next(&self, n: u32) {
        self.with(|c, _| c.faults.garble_replies += n)
    }

    /// Lose the next `n` ACKs from the host.
    pub fn drop_next_ack(&self, n: u32) {
        self.with(|c, _| c.faults.drop_acks += n)
    }

    /// Ground truth: bills in the cassette now, kopecks → count.
    pub fn cassette(&self) -> BTreeMap<i64, u32> {
        self.with(|c, _| c.model.cassette())
    }

    /// Every bill stacked since start (cassette plus removed cassettes), kopecks → count.
    pub fn stacked_total(&self) -> BTreeMap<i64, u32> {
        self.with(|c, _| c.model.stacked_total())
    }

    /// Bills handed back to the customer (returned, rejected, pulled out), kopecks.
    pub fn returned_to_customer(&self) -> Vec<i64> {
        self.with(|c, _| c.model.returned_to_customer().to_vec())
    }

    /// For benchmarks: (arrival, time since escrow) of each STACK received since the last call.
    pub fn take_stack_decisions(&self) -> Vec<(Instant, Duration)> {
        self.with(|c, _| c.model.take_stack_decisions())
    }

    pub fn status(&self) -> DeviceStatus {
        self.with(|c, now| {
            c.model.tick(now);
            c.model.status()
        })
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }
}
