//! The USB-CDC adapter: a blocking read loop on its own thread, like the printer driver.

use std::io::Read;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serialport::TTYPort;
use tokio::sync::mpsc::Sender;

use crate::link::{deliver, supervise, DeviceError, Ended, IDLE_GAP, RETRY};
use crate::{ScannerEvent, SerialFramer, SerialFraming};

/// Short, so silence and a dropped receiver are noticed promptly.
const READ_TIMEOUT: Duration = Duration::from_millis(20);

/// A scanner in USB-CDC (virtual COM port) mode.
#[derive(Debug, Clone)]
pub struct SerialScannerConfig {
    /// `/dev/ttyACM0`, or better a `/dev/serial/by-id/...` link that survives replugging.
    pub path: PathBuf,
    /// Ignored by USB-CDC devices, used by RS-232 scanners behind an adapter.
    pub baud: u32,
    pub framing: SerialFraming,
}

/// Runs on a dedicated std thread (blocking serialport reads with a short timeout), sends events
/// with `blocking_send`; returns when the receiver is dropped. Idle gap 150 ms, reopen retry 2 s.
pub fn spawn_serial(
    config: SerialScannerConfig,
    events: Sender<ScannerEvent>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("scanner-serial".into())
        .spawn(move || {
            let device = config.path.display().to_string();
            supervise(
                &device,
                &events,
                RETRY,
                || open(&config, &device),
                |port, events| read(port, &device, &config.framing, events),
            );
            tracing::debug!(device, "serial scanner adapter stopped");
        })
}

fn open(config: &SerialScannerConfig, device: &str) -> Result<TTYPort, DeviceError> {
    serialport::new(config.path.to_string_lossy(), config.baud)
        .timeout(READ_TIMEOUT)
        .open_native()
        .map_err(|e| DeviceError::Open {
            path: device.to_owned(),
            source: e.into(),
        })
}

fn read(
    mut port: impl Read,
    device: &str,
    framing: &SerialFraming,
    events: &Sender<ScannerEvent>,
) -> Ended {
    // A new framer per session: bytes from before a failure are not half a code of the next.
    let mut framer = SerialFramer::new(framing.clone());
    let mut last_byte: Option<Instant> = None;
    let mut buf = [0u8; 1024];
    loop {
        if events.is_closed() {
            return Ended::ReceiverGone;
        }
        match port.read(&mut buf) {
            // A tty reads 0 only when it is gone; reading on would spin.
            Ok(0) => {
                return Ended::Lost(DeviceError::Closed {
                    path: device.to_owned(),
                })
            }
            Ok(n) => {
                tracing::trace!(device, bytes = n, "scanner bytes");
                last_byte = Some(Instant::now());
                for scan in framer.push(&buf[..n]) {
                    if !deliver(device, events, scan) {
                        return Ended::ReceiverGone;
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                return Ended::Lost(DeviceError::Read {
                    path: device.to_owned(),
                    source: e,
                })
            }
        }
        if last_byte.is_some_and(|at| at.elapsed() >= IDLE_GAP) {
            last_byte = None;
            if let Some(scan) = framer.idle() {
                if !deliver(device, events, scan) {
                    return Ended::ReceiverGone;
                }
            }
        }
    }
}
