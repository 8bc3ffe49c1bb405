//! The KKT emulator on a pseudo-terminal: a thread moves bytes between the pty master and the
//! [`KktCore`], drives its timers, and hands every printed document to a [`ReceiptSink`]
//! (`receipt-printer` provides one that renders ESC/POS). Faults are set through the handle.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

use super::core::{Fault, KktConfig, KktCore};
use super::model::Printed;

/// Where the emulated KKT's printer output goes.
pub trait ReceiptSink: Send {
    fn printed(&mut self, printed: &Printed);
}

struct Shared {
    core: Mutex<KktCore>,
    printed: Mutex<Vec<Printed>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the emulator down with it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running KKT emulator. Dropping it stops the thread and removes the link.
pub struct KktEmulator {
    path: PathBuf,
    link: Option<PathBuf>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _slave: TTYPort,
}

impl KktEmulator {
    /// Spawns the emulator on a new pty pair; with `link`, a symlink to the pty is made there.
    pub fn spawn(
        config: KktConfig,
        link: Option<&Path>,
        sink: Option<Box<dyn ReceiptSink>>,
    ) -> std::io::Result<KktEmulator> {
        let (mut master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        master
            .set_timeout(Duration::from_millis(5))
            .map_err(std::io::Error::other)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| std::io::Error::other("pty has no slave name"))?;
        if let Some(link) = link {
            let _ = std::fs::remove_file(link);
            std::os::unix::fs::symlink(&path, link)?;
        }
        let shared = Arc::new(Shared {
            core: Mutex::new(KktCore::new(config, Instant::now())),
            printed: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("kkt-emulator".into())
                .spawn(move || run(&mut master, &shared, &stop, sink))?
        };
        tracing::info!(path = %path.display(), "KKT emulator listening");
        Ok(KktEmulator {
            path,
            link: link.map(Path::to_path_buf),
            shared,
            stop,
            thread: Some(thread),
            _slave: slave,
        })
    }

    /// The pty device a driver opens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn set_fault(&self, fault: Fault, active: bool) {
        lock(&self.shared.core).set_fault(fault, active);
    }

    /// Loads paper (clears paper out; a held receipt waits for B0h).
    pub fn paper_in(&self) {
        lock(&self.shared.core).set_fault(Fault::PaperOut, false);
    }

    /// Everything printed so far.
    pub fn printed(&self) -> Vec<Printed> {
        lock(&self.shared.printed).clone()
    }

    /// The FN's last FD number.
    pub fn last_fd(&self) -> u32 {
        lock(&self.shared.core).last_fd()
    }

    /// Runs `f` on the core (tests look at documents and executed commands).
    pub fn with_core<T>(&self, f: impl FnOnce(&mut KktCore) -> T) -> T {
        f(&mut lock(&self.shared.core))
    }
}

impl Drop for KktEmulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }
}

fn read_some(master: &mut TTYPort, buf: &mut [u8]) -> usize {
    match master.read(buf) {
        Ok(n) => n,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::Interrupted
            ) =>
        {
            0
        }
        Err(e) => {
            // EIO while no client has the slave open: wait for one.
            tracing::trace!(error = %e, "KKT emulator pty read");
            std::thread::sleep(Duration::from_millis(5));
            0
        }
    }
}

fn run(
    master: &mut TTYPort,
    shared: &Shared,
    stop: &AtomicBool,
    mut sink: Option<Box<dyn ReceiptSink>>,
) {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let n = read_some(master, &mut buf);
        let now = Instant::now();
        let (out, printed) = {
            let mut core = lock(&shared.core);
            if n > 0 {
                core.handle_input(&buf[..n], now);
            }
            if core.poll_timeout().is_some_and(|t| now >= t) {
                core.handle_timeout(now);
            }
            let mut out = Vec::new();
            while let Some(bytes) = core.poll_transmit() {
                out.extend(bytes);
            }
            let mut printed = Vec::new();
            while let Some(p) = core.poll_printed() {
                printed.push(p);
            }
            (out, printed)
        };
        if !out.is_empty() {
            if let Err(e) = master.write_all(&out) {
                tracing::warn!(error = %e, "KKT emulator pty write failed");
            }
        }
        for p in printed {
            if let Some(sink) = sink.as_mut() {
                sink.printed(&p);
            }
            lock(&shared.printed).push(p);
        }
    }
}
