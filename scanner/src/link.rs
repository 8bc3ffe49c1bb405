//! What the adapters share: the events they report and the open–read–reopen loop.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;

use crate::Scan;

/// Silence after which pending bytes or keys become a code.
pub(crate) const IDLE_GAP: Duration = Duration::from_millis(150);
/// Between attempts to reopen a lost device.
pub(crate) const RETRY: Duration = Duration::from_secs(2);
/// How often a waiting adapter looks whether its owner is still there.
const CLOSED_CHECK: Duration = Duration::from_millis(50);

/// What a running scanner reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannerEvent {
    /// The device is open and read (sent once after each successful open).
    Connected,
    Scan(Scan),
    /// Read or open failed (cable pulled, no such device); the adapter retries opening every
    /// `retry` interval and sends Connected again when it works. Sent once per outage.
    Lost {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeviceError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("reading {path} failed: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} was closed")]
    Closed { path: String },
}

/// Why reading a device stopped.
pub(crate) enum Ended {
    /// The owner dropped its receiver: the adapter's work is done.
    ReceiverGone,
    Lost(DeviceError),
}

/// Opens the device, reads it until it fails, reopens it every `retry`, until the owner drops
/// its receiver. `Lost` is sent once per outage, not on every failed reopen.
pub(crate) fn supervise<D>(
    device: &str,
    events: &Sender<ScannerEvent>,
    retry: Duration,
    mut open: impl FnMut() -> Result<D, DeviceError>,
    mut read: impl FnMut(D, &Sender<ScannerEvent>) -> Ended,
) {
    let mut outage_reported = false;
    loop {
        if events.is_closed() {
            return;
        }
        let failure = match open() {
            Ok(opened) => {
                outage_reported = false;
                tracing::info!(device, "scanner connected");
                if events.blocking_send(ScannerEvent::Connected).is_err() {
                    return;
                }
                match read(opened, events) {
                    Ended::ReceiverGone => return,
                    Ended::Lost(e) => e,
                }
            }
            Err(e) => e,
        };
        if outage_reported {
            tracing::debug!(device, error = %failure, "scanner still unavailable");
        } else {
            tracing::warn!(device, error = %failure, "scanner lost");
            let lost = ScannerEvent::Lost {
                reason: failure.to_string(),
            };
            if events.blocking_send(lost).is_err() {
                return;
            }
            outage_reported = true;
        }
        if !wait_unless_closed(events, retry) {
            return;
        }
    }
}

/// Reports a scan; false when the owner is gone. The bytes are not logged: a payment code
/// carries the payer's name and account.
pub(crate) fn deliver(device: &str, events: &Sender<ScannerEvent>, scan: Scan) -> bool {
    match &scan {
        Scan::Code(bytes) => tracing::info!(device, len = bytes.len(), "code scanned"),
        Scan::Overlong { len } => tracing::warn!(device, len, "overlong code dropped"),
        Scan::Unreadable { reason } => tracing::warn!(device, %reason, "unreadable code dropped"),
    }
    events.blocking_send(ScannerEvent::Scan(scan)).is_ok()
}

/// Sleeps `total`, returning early (false) if the receiver is dropped meanwhile.
fn wait_unless_closed(events: &Sender<ScannerEvent>, total: Duration) -> bool {
    let until = Instant::now() + total;
    loop {
        if events.is_closed() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep(CLOSED_CHECK.min(until - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn failed(path: &str) -> DeviceError {
        DeviceError::Open {
            path: path.into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }
    }

    #[test]
    fn lost_once_per_outage_and_connected_after_each_open() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        // Two failed opens, a session that is lost, one failed open, a session the owner ends.
        let mut opens: VecDeque<Result<u32, DeviceError>> = VecDeque::from([
            Err(failed("a")),
            Err(failed("b")),
            Ok(1),
            Err(failed("c")),
            Ok(2),
        ]);
        let thread = std::thread::spawn(move || {
            supervise(
                "test",
                &tx,
                Duration::from_millis(1),
                || opens.pop_front().unwrap_or_else(|| Err(failed("end"))),
                |session, events| {
                    if session == 1 {
                        Ended::Lost(DeviceError::Closed { path: "x".into() })
                    } else {
                        let _ = events.blocking_send(ScannerEvent::Scan(Scan::Code(vec![2])));
                        Ended::ReceiverGone
                    }
                },
            )
        });
        let mut got = Vec::new();
        while let Some(event) = rx.blocking_recv() {
            got.push(event);
        }
        thread.join().expect("supervisor panicked");
        let lost = |path: &str| ScannerEvent::Lost {
            reason: format!("cannot open {path}: entity not found"),
        };
        assert_eq!(
            got,
            vec![
                lost("a"),
                ScannerEvent::Connected,
                ScannerEvent::Lost {
                    reason: "x was closed".into()
                },
                ScannerEvent::Connected,
                ScannerEvent::Scan(Scan::Code(vec![2])),
            ]
        );
    }

    #[test]
    fn stops_while_waiting_when_the_receiver_is_dropped() {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let thread = std::thread::spawn(move || {
            supervise(
                "test",
                &tx,
                Duration::from_secs(3600),
                || Err::<(), _>(failed("a")),
                |(), _| Ended::ReceiverGone,
            )
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(rx);
        let until = Instant::now() + Duration::from_secs(5);
        while !thread.is_finished() {
            assert!(Instant::now() < until, "supervisor did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
