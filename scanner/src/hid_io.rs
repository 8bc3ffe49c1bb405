//! The USB HID keyboard-wedge adapter: EV_KEY events from an evdev device into [`HidDecoder`].
//! Not tested against a live device (no /dev/input where the suite runs): the decoding is in the
//! sans-IO decoder, this file only reads events and keeps time.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evdev::raw_stream::RawDevice;
use evdev::{EventType, SynchronizationCode};
use tokio::sync::mpsc::Sender;

use crate::link::{deliver, supervise, DeviceError, Ended, IDLE_GAP, RETRY};
use crate::{HidDecoder, KeyLayout, ScannerEvent};

/// Between non-blocking reads that found nothing.
const POLL: Duration = Duration::from_millis(10);

/// A scanner in USB HID keyboard mode.
#[derive(Debug, Clone)]
pub struct HidScannerConfig {
    /// `/dev/input/by-id/usb-...-event-kbd`.
    pub path: PathBuf,
    pub layout: KeyLayout,
    /// Take the device for this process alone, so its keystrokes do not reach the UI as typing.
    pub grab: bool,
}

/// Runs on a dedicated std thread, feeds EV_KEY events to [`HidDecoder`], sends events with
/// `blocking_send`; returns when the receiver is dropped. Idle gap 150 ms, reopen retry 2 s.
pub fn spawn_hid(
    config: HidScannerConfig,
    events: Sender<ScannerEvent>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("scanner-hid".into())
        .spawn(move || {
            let device = config.path.display().to_string();
            supervise(
                &device,
                &events,
                RETRY,
                || open(&config, &device),
                |input, events| read(input, &device, config.layout, events),
            );
            tracing::debug!(device, "HID scanner adapter stopped");
        })
}

fn open(config: &HidScannerConfig, device: &str) -> Result<RawDevice, DeviceError> {
    let failed = |source| DeviceError::Open {
        path: device.to_owned(),
        source,
    };
    // Non-blocking, so the loop can keep the idle gap and notice a dropped receiver.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&config.path)
        .map_err(failed)?;
    // Fails on anything that is not an evdev device.
    let mut input = RawDevice::try_from(file).map_err(failed)?;
    if config.grab {
        input.grab().map_err(failed)?;
    }
    Ok(input)
}

fn read(
    mut input: RawDevice,
    device: &str,
    layout: KeyLayout,
    events: &Sender<ScannerEvent>,
) -> Ended {
    let mut decoder = HidDecoder::new(layout);
    let mut last_key: Option<Instant> = None;
    loop {
        if events.is_closed() {
            return Ended::ReceiverGone;
        }
        let batch: Vec<(EventType, u16, i32)> = match input.fetch_events() {
            Ok(batch) => batch
                .map(|e| (e.event_type(), e.code(), e.value()))
                .collect(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                Vec::new()
            }
            Err(e) => {
                return Ended::Lost(DeviceError::Read {
                    path: device.to_owned(),
                    source: e,
                })
            }
        };
        if batch.is_empty() {
            std::thread::sleep(POLL);
        }
        for (kind, code, value) in batch {
            let scan = if kind == EventType::KEY {
                last_key = Some(Instant::now());
                decoder.key(code, value)
            } else {
                if kind == EventType::SYNCHRONIZATION && code == SynchronizationCode::SYN_DROPPED.0
                {
                    tracing::warn!(device, "input events dropped by the kernel");
                    decoder.events_dropped();
                }
                None
            };
            if let Some(scan) = scan {
                if !deliver(device, events, scan) {
                    return Ended::ReceiverGone;
                }
            }
        }
        if last_key.is_some_and(|at| at.elapsed() >= IDLE_GAP) {
            last_key = None;
            if let Some(scan) = decoder.idle() {
                if !deliver(device, events, scan) {
                    return Ended::ReceiverGone;
                }
            }
        }
    }
}
