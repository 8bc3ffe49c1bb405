//! The emulator on a pseudo-terminal: a thread moves bytes between the pty master and the
//! [`PrinterCore`], answers status requests, and saves every finished receipt as text and PNG.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::{SerialPort, TTYPort};

use super::device::{Fault, PrinterCore};
use super::receipt::DecodedReceipt;
use super::saver::ReceiptSaver;
use crate::profile::PrinterProfile;
use crate::status::PrinterStatus;

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Spawns an emulated printer on a new pty pair. The driver opens [`EmulatorHandle::path`].
    /// With `out_dir`, each receipt is saved there as `receipt-NNNN.txt` and `.png`.
    pub fn spawn(
        profile: PrinterProfile,
        out_dir: Option<PathBuf>,
    ) -> std::io::Result<EmulatorHandle> {
        let (mut master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(std::io::Error::other)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| std::io::Error::other("pty has no slave name"))?;
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir)?;
        }
        let shared = Arc::new(Shared {
            core: Mutex::new(PrinterCore::new(profile)),
            receipts: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("printer-emulator".into())
                .spawn(move || run(master, &shared, &stop, out_dir.as_deref()))?
        };
        Ok(EmulatorHandle {
            path,
            shared,
            stop,
            thread: Some(thread),
            _slave: slave,
        })
    }
}

struct Shared {
    core: Mutex<PrinterCore>,
    receipts: Mutex<Vec<DecodedReceipt>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the emulator down with it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run(mut master: TTYPort, shared: &Shared, stop: &AtomicBool, out_dir: Option<&Path>) {
    let mut buf = [0u8; 4096];
    let width = lock(&shared.core).profile().dots;
    let saver = out_dir.map(|dir| ReceiptSaver::spawn(dir.to_path_buf(), "receipt", width));
    while !stop.load(Ordering::Relaxed) {
        let input = match master.read(&mut buf) {
            Ok(n) => &buf[..n],
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                &[][..]
            }
            Err(e) => {
                tracing::warn!(error = %e, "emulator pty read failed");
                std::thread::sleep(Duration::from_millis(20));
                &[][..]
            }
        };
        let (reply, finished) = {
            let mut core = lock(&shared.core);
            core.handle_input(input);
            let mut reply = Vec::new();
            while let Some(out) = core.poll_transmit() {
                reply.extend(out);
            }
            let mut finished = Vec::new();
            while let Some(r) = core.poll_receipt() {
                finished.push(r);
            }
            (reply, finished)
        };
        // Publish receipts before answering, so a driver that sees its final status reply
        // also sees the receipt.
        lock(&shared.receipts).extend(finished.iter().cloned());
        if !reply.is_empty() {
            if let Err(e) = master.write_all(&reply) {
                tracing::warn!(error = %e, "emulator pty write failed");
            }
        }
        if let Some(saver) = &saver {
            for receipt in finished {
                saver.save(receipt);
            }
        }
    }
}

/// A running emulator. Dropping it stops the thread.
pub struct EmulatorHandle {
    path: PathBuf,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    // Held so the pty stays usable while no driver has the slave open.
    _slave: TTYPort,
}

impl EmulatorHandle {
    /// The pty path a driver opens (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn set_fault(&self, fault: Fault, active: bool) {
        lock(&self.shared.core).set_fault(fault, active);
    }
    pub fn paper_near_end(&self, active: bool) {
        self.set_fault(Fault::PaperNearEnd, active);
    }
    /// Paper runs out now.
    pub fn paper_out(&self) {
        self.set_fault(Fault::PaperOut, true);
    }
    /// Paper runs out after `lines` more printed lines (mid-receipt faults in tests).
    pub fn paper_out_after(&self, lines: u32) {
        lock(&self.shared.core).paper_out_after(lines);
    }
    /// A new roll is loaded.
    pub fn paper_in(&self) {
        self.set_fault(Fault::PaperOut, false);
    }
    pub fn cover_open(&self) {
        self.set_fault(Fault::CoverOpen, true);
    }
    pub fn cover_close(&self) {
        self.set_fault(Fault::CoverOpen, false);
    }
    /// The cutter jams at the next cut (cleared by opening and closing the cover).
    pub fn cutter_jam(&self) {
        self.set_fault(Fault::CutterJam, true);
    }
    pub fn offline(&self, active: bool) {
        self.set_fault(Fault::Offline, active);
    }
    /// The printer stops answering at all.
    pub fn silent(&self, active: bool) {
        self.set_fault(Fault::Silent, active);
    }
    /// What the printer would report now.
    pub fn status(&self) -> PrinterStatus {
        lock(&self.shared.core).status()
    }
    /// Every receipt so far (cut or interrupted), oldest first.
    pub fn receipts(&self) -> Vec<DecodedReceipt> {
        lock(&self.shared.receipts).clone()
    }
    /// Waits until at least `count` receipts exist or `timeout` passes; returns them all.
    pub fn wait_for_receipts(&self, count: usize, timeout: Duration) -> Vec<DecodedReceipt> {
        let until = Instant::now() + timeout;
        loop {
            let receipts = self.receipts();
            if receipts.len() >= count || Instant::now() >= until {
                return receipts;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
