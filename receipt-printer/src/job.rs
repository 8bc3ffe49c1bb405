//! The sans-IO core of a print job: it sends the receipt in chunks and polls `DLE EOT n`
//! before, between and after them, so paper out, cover open or a silent printer end the job
//! with a typed error instead of a hang.
//!
//! ```text
//! job.handle_input(bytes, now);                 // what the printer answered
//! while let Some(out) = job.poll_transmit() {}  // bytes to write
//! job.poll_timeout()  -> Option<Instant>        // call handle_timeout(now) then
//! job.poll_event()    -> Option<JobEvent>       // Finished(Ok(status) | Err(PrintError))
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::status::{is_status_byte, status_request, PrinterStatus, StatusKind};

/// Why a print job (or status query) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrintError {
    #[error("paper out")]
    PaperOut,
    #[error("printer cover open")]
    CoverOpen,
    #[error("printer offline")]
    Offline,
    #[error("printer does not answer status requests")]
    NoResponse,
    #[error("cutter error")]
    CutterError,
    #[error("unrecoverable printer error")]
    Unrecoverable,
    #[error("recoverable printer error")]
    RecoverableError,
    #[error("serial port: {0}")]
    Io(String),
    #[error("{0}")]
    Encode(String),
}

impl PrintError {
    /// What the customer or technician is told on screen (Russian), without technical detail.
    pub fn message_ru(&self) -> &'static str {
        match self {
            PrintError::PaperOut => "В принтере закончилась бумага",
            PrintError::CoverOpen => "Открыта крышка принтера",
            PrintError::CutterError => "Неисправен отрезчик чека",
            PrintError::Offline | PrintError::NoResponse | PrintError::Io(_) => {
                "Принтер чеков не отвечает"
            }
            PrintError::Unrecoverable | PrintError::RecoverableError => "Ошибка принтера чеков",
            PrintError::Encode(_) => "Чек не удалось подготовить к печати",
        }
    }

    /// True when a technician must act (paper, cover, cutter) rather than the kiosk retrying.
    pub fn needs_technician(&self) -> bool {
        matches!(
            self,
            PrintError::PaperOut
                | PrintError::CoverOpen
                | PrintError::CutterError
                | PrintError::Unrecoverable
                | PrintError::RecoverableError
        )
    }
}

/// What the job reports upwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// The status after a poll round.
    Status(PrinterStatus),
    /// The job is over; no more events follow.
    Finished(Result<PrinterStatus, PrintError>),
}

/// Timing of the job.
#[derive(Debug, Clone, Copy)]
pub struct JobConfig {
    /// Bytes sent between two status polls.
    pub chunk_size: usize,
    /// How long to wait for one status byte.
    pub reply_timeout: Duration,
    /// How often a status request is repeated before the printer counts as silent.
    pub attempts: u8,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            chunk_size: 128,
            reply_timeout: Duration::from_millis(800),
            attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    Printing,
    After,
    Done,
}

/// One print job (or, with no data, one status query).
#[derive(Debug)]
pub struct PrintJob {
    config: JobConfig,
    chunks: VecDeque<Vec<u8>>,
    phase: Phase,
    /// Status requests still to make in the current poll round.
    round: VecDeque<StatusKind>,
    awaiting: Option<(StatusKind, Instant, u8)>,
    status: PrinterStatus,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<JobEvent>,
    ignored_bytes: usize,
    /// A status query reports the status, faults included, instead of failing on them.
    query_only: bool,
}

impl PrintJob {
    /// A job that prints `data`; it starts with a full status poll.
    pub fn new(data: &[u8], config: JobConfig, now: Instant) -> Self {
        let chunks = pack(data, config.chunk_size);
        let mut job = PrintJob {
            config,
            chunks,
            phase: Phase::Before,
            round: VecDeque::new(),
            awaiting: None,
            status: PrinterStatus::default(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            ignored_bytes: 0,
            query_only: false,
        };
        job.start_round(&StatusKind::ALL, now);
        job
    }

    /// A status query: the four `DLE EOT n` requests and nothing printed.
    pub fn status_query(config: JobConfig, now: Instant) -> Self {
        let mut job = Self::new(&[], config, now);
        job.query_only = true;
        job
    }

    /// Bytes that were neither expected nor valid status replies.
    pub fn ignored_bytes(&self) -> usize {
        self.ignored_bytes
    }

    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    fn start_round(&mut self, kinds: &[StatusKind], now: Instant) {
        self.round = kinds.iter().copied().collect();
        self.request_next(now);
    }

    fn request_next(&mut self, now: Instant) {
        if let Some(kind) = self.round.pop_front() {
            self.transmit.push_back(status_request(kind).to_vec());
            self.awaiting = Some((kind, now + self.config.reply_timeout, 1));
        } else {
            self.awaiting = None;
            self.round_done(now);
        }
    }

    /// Feeds bytes read from the port.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        for &b in bytes {
            match self.awaiting {
                Some((kind, _, _)) if is_status_byte(b) => {
                    self.status.apply(kind, b);
                    self.request_next(now);
                }
                _ => self.ignored_bytes += 1,
            }
        }
    }

    /// Call when `poll_timeout` has passed: repeats the request or gives up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((kind, deadline, attempt)) = self.awaiting {
            if now < deadline {
                return;
            }
            if attempt < self.config.attempts {
                self.transmit.push_back(status_request(kind).to_vec());
                self.awaiting = Some((kind, now + self.config.reply_timeout, attempt + 1));
            } else {
                self.finish(Err(PrintError::NoResponse));
            }
        }
    }

    fn round_done(&mut self, now: Instant) {
        self.events.push_back(JobEvent::Status(self.status));
        if self.query_only {
            return self.finish(Ok(self.status));
        }
        // Every round asks DLE EOT 2, 3 and 4, so the fault below is the specific one.
        if let Some(fault) = self.status.blocking_fault() {
            return self.finish(Err(fault));
        }
        match self.phase {
            Phase::Before | Phase::Printing => {
                if let Some(chunk) = self.chunks.pop_front() {
                    self.phase = Phase::Printing;
                    self.transmit.push_back(chunk);
                    self.start_round(
                        &[StatusKind::Offline, StatusKind::Paper, StatusKind::Error],
                        now,
                    );
                } else if self.phase == Phase::Printing {
                    // Everything sent (the cut is in the last chunk): a last full round.
                    self.phase = Phase::After;
                    self.start_round(&StatusKind::ALL, now);
                } else {
                    self.finish(Ok(self.status));
                }
            }
            Phase::After => self.finish(Ok(self.status)),
            Phase::Done => {}
        }
    }

    fn finish(&mut self, result: Result<PrinterStatus, PrintError>) {
        if self.phase != Phase::Done {
            self.phase = Phase::Done;
            self.awaiting = None;
            self.round.clear();
            self.chunks.clear();
            self.events.push_back(JobEvent::Finished(result));
        }
    }

    /// Next bytes to write to the printer.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.awaiting.map(|(_, deadline, _)| deadline)
    }

    /// Next event for the caller.
    pub fn poll_event(&mut self) -> Option<JobEvent> {
        self.events.pop_front()
    }
}

/// Packs whole commands into chunks of about `size` bytes, so that status requests sent
/// between chunks never land inside a command's parameters.
fn pack(data: &[u8], size: usize) -> VecDeque<Vec<u8>> {
    let mut chunks = VecDeque::new();
    let mut chunk = Vec::new();
    let size = size.max(1);
    for command in crate::emulator::decoder::split_commands(data) {
        // Text is single-byte CP866 and may be cut anywhere; other commands stay whole.
        let is_text = command[0] >= 0x20 && command[0] != 0x7F;
        let pieces: Vec<&[u8]> = if is_text {
            command.chunks(size).collect()
        } else {
            vec![command]
        };
        for piece in pieces {
            if !chunk.is_empty() && chunk.len() + piece.len() > size {
                chunks.push_back(std::mem::take(&mut chunk));
            }
            chunk.extend_from_slice(piece);
        }
    }
    if !chunk.is_empty() {
        chunks.push_back(chunk);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::PrinterStatus;

    fn answer(job: &mut PrintJob, printer: &PrinterStatus, now: Instant) -> Vec<u8> {
        let mut printed = Vec::new();
        while let Some(out) = job.poll_transmit() {
            if out.len() == 3 && out[0] == 0x10 && out[1] == 0x04 {
                let kind = StatusKind::from_n(out[2]).unwrap();
                job.handle_input(&[printer.reply_byte(kind)], now);
            } else {
                printed.extend(out);
            }
        }
        printed
    }

    fn finished(job: &mut PrintJob) -> Option<Result<PrinterStatus, PrintError>> {
        while let Some(ev) = job.poll_event() {
            if let JobEvent::Finished(r) = ev {
                return Some(r);
            }
        }
        None
    }

    #[test]
    fn healthy_printer_gets_every_byte() {
        let now = Instant::now();
        let data: Vec<u8> = (0..=255).collect();
        let mut job = PrintJob::new(
            &data,
            JobConfig {
                chunk_size: 100,
                ..Default::default()
            },
            now,
        );
        let printed = answer(&mut job, &PrinterStatus::default(), now);
        assert_eq!(printed, data);
        assert!(matches!(finished(&mut job), Some(Ok(_))));
    }

    #[test]
    fn chunks_never_split_a_command() {
        let qr = b"\x1d(k\x06\x001P0t=1";
        let mut data = b"0123456789".to_vec();
        data.extend_from_slice(qr);
        let chunks = pack(&data, 12);
        assert_eq!(chunks, vec![b"0123456789".to_vec(), qr.to_vec()]);
    }

    #[test]
    fn cover_open_before_the_job_sends_nothing() {
        let now = Instant::now();
        let mut job = PrintJob::new(b"hello", JobConfig::default(), now);
        let printer = PrinterStatus {
            cover_open: true,
            offline: true,
            ..Default::default()
        };
        assert!(answer(&mut job, &printer, now).is_empty());
        assert_eq!(finished(&mut job), Some(Err(PrintError::CoverOpen)));
    }

    #[test]
    fn paper_out_mid_job_stops_sending() {
        let now = Instant::now();
        let data = vec![b'x'; 1000];
        let mut job = PrintJob::new(
            &data,
            JobConfig {
                chunk_size: 100,
                ..Default::default()
            },
            now,
        );
        let mut printer = PrinterStatus::default();
        // First round and first chunk on a healthy printer, then the paper runs out.
        let mut printed = Vec::new();
        while let Some(out) = job.poll_transmit() {
            if out.len() == 3 && out[0] == 0x10 {
                let kind = StatusKind::from_n(out[2]).unwrap();
                job.handle_input(&[printer.reply_byte(kind)], now);
            } else {
                printed.extend(out);
                if printed.len() >= 300 {
                    printer = PrinterStatus {
                        paper_out: true,
                        stopped_at_paper_end: true,
                        offline: true,
                        ..Default::default()
                    };
                }
            }
        }
        assert_eq!(printed.len(), 300);
        assert_eq!(finished(&mut job), Some(Err(PrintError::PaperOut)));
    }

    #[test]
    fn silent_printer_times_out_after_retries() {
        let start = Instant::now();
        let config = JobConfig::default();
        let mut job = PrintJob::new(b"x", config, start);
        let mut now = start;
        for _ in 0..10 {
            while job.poll_transmit().is_some() {}
            match job.poll_timeout() {
                Some(t) => {
                    now = t;
                    job.handle_timeout(now);
                }
                None => break,
            }
        }
        assert_eq!(finished(&mut job), Some(Err(PrintError::NoResponse)));
        assert_eq!(now - start, config.reply_timeout * config.attempts as u32);
    }

    #[test]
    fn garbage_is_ignored() {
        let now = Instant::now();
        let mut job = PrintJob::status_query(JobConfig::default(), now);
        job.handle_input(&[0xFF, 0x00, 0x80], now);
        assert_eq!(job.ignored_bytes(), 3);
        assert!(!job.is_finished());
    }
}
