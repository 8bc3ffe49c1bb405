//! The async printer handle: owns the serial port and runs [`PrintJob`]s on it. All protocol
//! decisions are in the sans-IO job; this only moves bytes and keeps time.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, DataBits, FlowControl, Parity, SerialPort, StopBits, TTYPort};
use tokio::sync::Mutex;

use crate::encode::encode_receipt;
use crate::job::{JobConfig, JobEvent, PrintError, PrintJob};
use crate::model::Receipt;
use crate::profile::PrinterProfile;
use crate::status::PrinterStatus;

/// Serial framing of an ESC/POS printer: 8N1 without hardware flow control by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    pub baud: u32,
    pub data_bits: DataBits,
    pub parity: Parity,
    pub stop_bits: StopBits,
    pub flow_control: FlowControl,
}

impl SerialSettings {
    /// The profile's default speed, 8N1, no flow control.
    pub fn for_profile(profile: &PrinterProfile) -> Self {
        SerialSettings {
            baud: profile.baud,
            data_bits: DataBits::Eight,
            parity: Parity::None,
            stop_bits: StopBits::One,
            flow_control: FlowControl::None,
        }
    }

    fn open(&self, path: &str) -> Result<TTYPort, PrintError> {
        serialport::new(path, self.baud)
            .data_bits(self.data_bits)
            .parity(self.parity)
            .stop_bits(self.stop_bits)
            .flow_control(self.flow_control)
            .timeout(Duration::from_millis(20))
            .open_native()
            .map_err(|e| PrintError::Io(format!("cannot open {path}: {e}")))
    }

    /// Seconds the wire needs for `bytes` at this framing (start + data + parity + stop bits).
    pub fn wire_seconds(&self, bytes: usize) -> f64 {
        let data = match self.data_bits {
            DataBits::Five => 5,
            DataBits::Six => 6,
            DataBits::Seven => 7,
            DataBits::Eight => 8,
        };
        let parity = u32::from(self.parity != Parity::None);
        let stop = if self.stop_bits == StopBits::Two {
            2
        } else {
            1
        };
        bytes as f64 * f64::from(1 + data + parity + stop) / f64::from(self.baud)
    }
}

struct Port {
    path: String,
    settings: SerialSettings,
    port: Option<TTYPort>,
}

/// A receipt printer on a serial port. Cloning shares the port; jobs run one at a time.
#[derive(Clone)]
pub struct PrinterHandle {
    profile: PrinterProfile,
    config: JobConfig,
    port: Arc<Mutex<Port>>,
}

impl PrinterHandle {
    /// A handle for the printer at `path`; the port opens on first use and reopens after errors.
    pub fn new(path: impl Into<String>, profile: PrinterProfile, settings: SerialSettings) -> Self {
        PrinterHandle {
            profile,
            config: JobConfig::default(),
            port: Arc::new(Mutex::new(Port {
                path: path.into(),
                settings,
                port: None,
            })),
        }
    }

    /// Overrides chunk size and status timeouts.
    pub fn with_job_config(mut self, config: JobConfig) -> Self {
        self.config = config;
        self
    }

    pub fn profile(&self) -> &PrinterProfile {
        &self.profile
    }

    /// Prints a receipt. Ok carries the status after the cut (e.g. paper near end); Err says
    /// why the receipt did not come out whole, and the caller keeps it for a reprint.
    pub async fn print(&self, receipt: &Receipt) -> Result<PrinterStatus, PrintError> {
        let bytes = encode_receipt(receipt, &self.profile)
            .map_err(|e| PrintError::Encode(e.to_string()))?;
        self.print_bytes(bytes).await
    }

    /// Sends already-encoded ESC/POS bytes with status polling.
    pub async fn print_bytes(&self, bytes: Vec<u8>) -> Result<PrinterStatus, PrintError> {
        self.run(Some(bytes)).await
    }

    /// Polls `DLE EOT 1..4`.
    pub async fn status(&self) -> Result<PrinterStatus, PrintError> {
        self.run(None).await
    }

    async fn run(&self, data: Option<Vec<u8>>) -> Result<PrinterStatus, PrintError> {
        let mut guard = self.port.lock().await;
        let mut port = match guard.port.take() {
            Some(port) => port,
            None => guard.settings.open(&guard.path)?,
        };
        let config = self.config;
        let (port, result) = tokio::task::spawn_blocking(move || {
            let now = Instant::now();
            let job = match &data {
                Some(bytes) => PrintJob::new(bytes, config, now),
                None => PrintJob::status_query(config, now),
            };
            let result = drive(&mut port, job);
            (port, result)
        })
        .await
        .map_err(|e| PrintError::Io(format!("print task failed: {e}")))?;
        // An I/O failure may mean the device went away: reopen next time.
        if !matches!(result, Err(PrintError::Io(_))) {
            guard.port = Some(port);
        }
        match &result {
            Ok(status) if status.paper_near_end => tracing::warn!("printer paper near end"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "print job failed"),
        }
        result
    }
}

/// Runs a job to its end on a blocking port.
pub fn drive<P: Read + Write + SerialPort>(
    port: &mut P,
    mut job: PrintJob,
) -> Result<PrinterStatus, PrintError> {
    let io = |e: std::io::Error| PrintError::Io(e.to_string());
    // Stale replies from an earlier, aborted job must not be read as answers to this one.
    let _ = port.clear(ClearBuffer::Input);
    let mut buf = [0u8; 256];
    loop {
        while let Some(out) = job.poll_transmit() {
            port.write_all(&out).map_err(io)?;
        }
        while let Some(event) = job.poll_event() {
            match event {
                JobEvent::Finished(result) => return result,
                JobEvent::Status(status) => tracing::trace!(?status, "printer status"),
            }
        }
        let now = Instant::now();
        let wait = job
            .poll_timeout()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        port.set_timeout(wait)
            .map_err(|e| PrintError::Io(e.to_string()))?;
        match port.read(&mut buf) {
            Ok(n) => job.handle_input(&buf[..n], Instant::now()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(io(e)),
        }
        job.handle_timeout(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_settings_are_8n1_at_the_profile_speed() {
        let s = SerialSettings::for_profile(&PrinterProfile::CUSTOM_VKP80);
        assert_eq!(s.baud, 115_200);
        assert_eq!(
            (s.data_bits, s.parity, s.stop_bits, s.flow_control),
            (
                DataBits::Eight,
                Parity::None,
                StopBits::One,
                FlowControl::None
            )
        );
        let s9600 = SerialSettings { baud: 9600, ..s };
        assert!((s9600.wire_seconds(960) - 1.0).abs() < 1e-9);
    }
}
