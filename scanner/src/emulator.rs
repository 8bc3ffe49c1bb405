//! A USB-CDC scanner on a pseudo-terminal, for tests and `terminal run --simulate`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

/// A USB-CDC scanner on a new pty pair: the kiosk opens [`ScannerEmulator::path`] like a real
/// scanner's /dev/ttyACM0. Dropping it is pulling the cable: the reader's next read fails.
pub struct ScannerEmulator {
    path: PathBuf,
    terminator: Vec<u8>,
    master: Mutex<TTYPort>,
    // Held so the pty stays usable while no reader has the slave open.
    _slave: TTYPort,
}

impl ScannerEmulator {
    /// `terminator` is the suffix the emulated scanner sends after each code (empty for none).
    pub fn spawn(terminator: Vec<u8>) -> std::io::Result<ScannerEmulator> {
        let (mut master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        // Long enough for a reader to drain a code larger than the pty buffer.
        master
            .set_timeout(Duration::from_secs(2))
            .map_err(std::io::Error::other)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| std::io::Error::other("pty has no slave name"))?;
        Ok(ScannerEmulator {
            path,
            terminator,
            master: Mutex::new(master),
            _slave: slave,
        })
    }

    /// The pty path a reader opens (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the code's bytes and the terminator to the line, as the scanner does when it reads
    /// a code.
    pub fn scan(&self, payload: &[u8]) -> std::io::Result<()> {
        let line = [payload, self.terminator.as_slice()].concat();
        self.write_raw(&line)
    }

    /// Writes bytes as they are: line noise, half a code, a bare terminator.
    pub fn write_raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut master = self.lock();
        master.write_all(bytes)?;
        master.flush()
    }

    fn lock(&self) -> MutexGuard<'_, TTYPort> {
        // A panicking test thread must not take the emulator down with it.
        self.master
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
