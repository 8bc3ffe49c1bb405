//! A ZVT payment-terminal emulator on a pseudo-terminal: real frames, real timers, scriptable
//! faults. See [`core`] for the amount rule and the unattended-handshake model.

pub mod core;

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

pub use self::core::{EmulatorConfig, Faults, TerminalCore, Transaction, TxnState};
use crate::messages::EndOfDayTotals;
use crate::port;

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// An emulator with default settings on a fresh pty; open [`EmulatorHandle::path`] as the
    /// card terminal's serial port.
    pub fn spawn() -> io::Result<EmulatorHandle> {
        Self::spawn_with(EmulatorConfig::default())
    }

    pub fn spawn_with(config: EmulatorConfig) -> io::Result<EmulatorHandle> {
        let (master, mut slave) = TTYPort::pair().map_err(io::Error::from)?;
        slave.set_exclusive(false).map_err(io::Error::from)?;
        port::set_raw(slave.as_raw_fd())?;
        port::set_raw(master.as_raw_fd())?;
        port::set_nonblocking(master.as_raw_fd())?;
        let path = PathBuf::from(
            slave
                .name()
                .ok_or_else(|| io::Error::other("pty without a name"))?,
        );
        let core = Arc::new(Mutex::new(TerminalCore::new(config)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let core = Arc::clone(&core);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("zvt-emulator".into())
                .spawn(move || run(master, slave, core, stop))?
        };
        Ok(EmulatorHandle {
            path,
            core,
            stop,
            thread: Some(thread),
        })
    }
}

fn run(master: TTYPort, _slave: TTYPort, core: Arc<Mutex<TerminalCore>>, stop: Arc<AtomicBool>) {
    // `_slave` stays open so the pty survives the driver closing and reopening its end.
    let fd = master.as_raw_fd();
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        let wait = {
            let core = lock(&core);
            core.poll_timeout()
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_millis(50))
                .min(Duration::from_millis(50))
        };
        let readable = port::wait_fd(fd, libc::POLLIN, wait).unwrap_or(false);
        let now = Instant::now();
        let mut core = lock(&core);
        if readable {
            match port::read_available(fd, &mut buf) {
                Ok(n) if n > 0 => core.handle_input(&buf[..n], now),
                Ok(_) => {}
                Err(e) => {
                    // EIO while nobody has the other end open: wait for the driver to come back.
                    tracing::debug!(error = %e, "emulator: pty read");
                    drop(core);
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
        }
        core.handle_timeout(now);
        while let Some(bytes) = core.poll_transmit(now) {
            if let Err(e) = port::write_all(fd, &bytes) {
                tracing::warn!(error = %e, "emulator: pty write failed");
            }
        }
    }
}

fn lock(core: &Mutex<TerminalCore>) -> MutexGuard<'_, TerminalCore> {
    // A panic elsewhere must not take the emulator's state with it.
    core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Controls a running emulator; dropping it stops the emulator.
pub struct EmulatorHandle {
    path: PathBuf,
    core: Arc<Mutex<TerminalCore>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EmulatorHandle {
    /// The serial device the ECR (our driver) opens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next authorisation is declined (result code 05).
    pub fn decline_next(&self) {
        lock(&self.core).faults_mut().decline_next = true;
    }

    /// The link drops right after the next approval reaches the ECR, for `drop_duration`.
    pub fn drop_link_next(&self) {
        lock(&self.core).faults_mut().drop_link_next = true;
    }

    /// The customer presses cancel on the terminal during the next authorisation.
    pub fn cancel_next(&self) {
        lock(&self.core).faults_mut().cancel_next = true;
    }

    /// The next command is refused with 84 A0 (busy).
    pub fn busy_next(&self) {
        lock(&self.core).faults_mut().busy_next = true;
    }

    /// The link-level ACK to the next frame from the ECR is lost.
    pub fn lose_ack_next(&self) {
        lock(&self.core).faults_mut().lose_ack_next = true;
    }

    /// After the next booking, the slip and the completion come 3 s late.
    pub fn slow_slip_next(&self) {
        lock(&self.core).faults_mut().slow_slip_next = true;
    }

    /// Slow reply: the "host" takes this much longer for every authorisation (04 FF keeps coming).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.core).faults_mut().extra_delay = delay;
    }

    /// A misconfigured terminal that sends full card numbers (the driver must mask them).
    pub fn set_unmasked_pan(&self, on: bool) {
        lock(&self.core).faults_mut().unmasked_pan = on;
    }

    /// Totals of the open batch (what end of day would report now).
    pub fn batch(&self) -> EndOfDayTotals {
        lock(&self.core).batch()
    }

    pub fn transactions(&self) -> Vec<Transaction> {
        lock(&self.core).transactions().to_vec()
    }

    pub fn is_idle(&self) -> bool {
        lock(&self.core).is_idle()
    }

    pub fn is_registered(&self) -> bool {
        lock(&self.core).is_registered()
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
