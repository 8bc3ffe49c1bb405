//! The async card-reader driver: a tokio task owns the port and the timers and runs the sans-IO
//! [`EcrCore`]; [`CardReader`] is a cheap, cloneable handle to it.
//!
//! The driver knows nothing of the journal but makes its rules possible: an approval waits for
//! the host's [`PendingApproval::goods_issued`] (the host journals first), an unknown outcome
//! latches the reader until the host says it resolved it ([`CardReader::recovery_resolved`]), and
//! only masked card data ever leaves this module. What an unknown outcome means for the money is
//! the host's decision: the driver reports the terminal's last result ([`CardReader::last_result`])
//! and reverses when told ([`CardReader::reverse_unknown`]).

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

use crate::auth::{ended_ok, last_result, reversal_done, AuthStep, AuthTracker};
pub use crate::auth::{Approval, CardError, LastResult};
use crate::ecr::{EcrConfig, EcrCore, EcrError, EcrEvent, OpEnd, OpResult, Operation};
use crate::messages::{EndOfDayTotals, NACK_BUSY};
use crate::port;

#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub ecr: EcrConfig,
    /// How often recovery repeats a query the terminal answered "busy" or not at all.
    pub recovery_attempts: u32,
    pub recovery_pause: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            ecr: EcrConfig::default(),
            recovery_attempts: 5,
            recovery_pause: Duration::from_secs(2),
        }
    }
}

/// Events of one authorisation, in order; the last one is final.
#[derive(Debug)]
pub enum AuthEvent {
    /// Show this on screen (from 04 FF).
    Prompt { code: u8, text_ru: String },
    /// Approved by the terminal; journal it, then answer with `goods_issued`.
    Approved(PendingApproval),
    /// Final: the terminal confirmed completion after 80 00; the money is taken.
    Completed { approval: Approval },
    /// Final: after `goods_issued(false)` the terminal ended and reverses the payment.
    ReversedByTerminal { approval: Approval },
    /// Final: declined or refused by the terminal or the issuer.
    Declined { code: u8, reason_ru: String },
    /// Final: cancelled by the customer (on the terminal or via [`CardReader::abort`]).
    Cancelled,
    /// Final: link drop or timeout; the reader is latched until
    /// [`CardReader::recovery_resolved`].
    OutcomeUnknown {
        detail: String,
        approval: Option<Approval>,
        goods_issued_sent: Option<bool>,
    },
}

impl AuthEvent {
    /// The event's meaning without the answer handle (what a host reports onwards).
    pub fn step(&self) -> AuthStep {
        match self {
            AuthEvent::Prompt { code, text_ru } => AuthStep::Prompt {
                code: *code,
                text_ru: text_ru.clone(),
            },
            AuthEvent::Approved(pending) => AuthStep::Approved(pending.approval.clone()),
            AuthEvent::Completed { approval } => AuthStep::Completed {
                approval: approval.clone(),
            },
            AuthEvent::ReversedByTerminal { approval } => AuthStep::ReversedByTerminal {
                approval: approval.clone(),
            },
            AuthEvent::Declined { code, reason_ru } => AuthStep::Declined {
                code: *code,
                reason_ru: reason_ru.clone(),
            },
            AuthEvent::Cancelled => AuthStep::Cancelled,
            AuthEvent::OutcomeUnknown {
                detail,
                approval,
                goods_issued_sent,
            } => AuthStep::OutcomeUnknown {
                detail: detail.clone(),
                approval: approval.clone(),
                goods_issued_sent: *goods_issued_sent,
            },
        }
    }
}

/// An approval waiting for the host's answer. Dropping it unanswered answers "not issued" (84 66),
/// so the terminal reverses: the safe default.
#[derive(Debug)]
pub struct PendingApproval {
    pub approval: Approval,
    requests: mpsc::UnboundedSender<Request>,
    answered: bool,
}

impl PendingApproval {
    /// `true`: goods (the account credit) issued, send 80 00. `false`: send 84 66, the terminal
    /// reverses. Call only after the approval is journaled.
    pub fn goods_issued(mut self, issued: bool) {
        self.answered = true;
        let _ = self.requests.send(Request::Decide(issued));
    }
}

impl Drop for PendingApproval {
    fn drop(&mut self) {
        if !self.answered {
            tracing::warn!("card payment approval dropped unanswered: goods not issued");
            let _ = self.requests.send(Request::Decide(false));
        }
    }
}

/// A running authorisation: poll [`Authorisation::next_event`] until a final event.
pub struct Authorisation {
    events: mpsc::UnboundedReceiver<EcrEvent>,
    requests: mpsc::UnboundedSender<Request>,
    latch: Arc<Mutex<Option<String>>>,
    tracker: AuthTracker,
}

impl Authorisation {
    pub async fn next_event(&mut self) -> Option<AuthEvent> {
        if self.tracker.is_finished() {
            return None;
        }
        let step = match self.events.recv().await {
            Some(event) => self.tracker.on_event(event),
            None => self.tracker.cut_off("card-reader task stopped".into()),
        };
        Some(match step {
            AuthStep::Prompt { code, text_ru } => AuthEvent::Prompt { code, text_ru },
            AuthStep::Approved(approval) => AuthEvent::Approved(PendingApproval {
                approval,
                requests: self.requests.clone(),
                answered: false,
            }),
            AuthStep::Completed { approval } => AuthEvent::Completed { approval },
            AuthStep::ReversedByTerminal { approval } => AuthEvent::ReversedByTerminal { approval },
            AuthStep::Declined { code, reason_ru } => AuthEvent::Declined { code, reason_ru },
            AuthStep::Cancelled => AuthEvent::Cancelled,
            AuthStep::OutcomeUnknown {
                detail,
                approval,
                goods_issued_sent,
            } => {
                set_latch(&self.latch, Some(detail.clone()));
                AuthEvent::OutcomeUnknown {
                    detail,
                    approval,
                    goods_issued_sent,
                }
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalStatus {
    pub status_byte: Option<u8>,
    pub terminal_id: Option<u32>,
}

impl TerminalStatus {
    pub fn ready(&self) -> bool {
        self.status_byte.unwrap_or(0) == 0
    }
}

#[derive(Debug)]
enum Request {
    Start {
        op: Operation,
        events: mpsc::UnboundedSender<EcrEvent>,
        started: oneshot::Sender<Result<(), EcrError>>,
    },
    Decide(bool),
    Abort,
}

fn set_latch(latch: &Mutex<Option<String>>, value: Option<String>) {
    *latch.lock().unwrap_or_else(|p| p.into_inner()) = value;
}

/// Handle to the card-reader task.
#[derive(Clone)]
pub struct CardReader {
    requests: mpsc::UnboundedSender<Request>,
    latch: Arc<Mutex<Option<String>>>,
    config: Arc<DriverConfig>,
}

impl CardReader {
    /// Opens the port and starts the task (needs a tokio runtime). Call
    /// [`CardReader::registration`] next.
    pub fn open(path: impl AsRef<Path>, config: DriverConfig) -> Result<Self, CardError> {
        let path = path.as_ref().to_string_lossy().into_owned();
        let port = port::open(&path)?;
        // SAFETY: the TTYPort owns its fd and the AsyncFd owns the port; nothing else closes or
        // replaces that fd while it is registered.
        let fd = unsafe { AsyncFd::register(port) }.map_err(std::io::Error::from)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let core = EcrCore::new(config.ecr.clone());
        tokio::spawn(run_task(fd, core, rx));
        tracing::info!(port = %path, "card reader opened");
        Ok(Self {
            requests: tx,
            latch: Arc::new(Mutex::new(None)),
            config: Arc::new(config),
        })
    }

    /// Why the reader is latched, if an unknown outcome awaits the host's recovery.
    pub fn recovery_pending(&self) -> Option<String> {
        self.latch.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn start(&self, op: Operation) -> Result<mpsc::UnboundedReceiver<EcrEvent>, CardError> {
        let (events, rx) = mpsc::unbounded_channel();
        let (started, started_rx) = oneshot::channel();
        self.requests
            .send(Request::Start {
                op,
                events,
                started,
            })
            .map_err(|_| CardError::Closed)?;
        match started_rx.await.map_err(|_| CardError::Closed)? {
            Ok(()) => Ok(rx),
            Err(EcrError::Busy) => Err(CardError::Busy),
            Err(e) => Err(CardError::Protocol(e.to_string())),
        }
    }

    async fn run(&self, op: Operation) -> Result<OpResult, CardError> {
        let mut rx = self.start(op).await?;
        while let Some(event) = rx.recv().await {
            if let EcrEvent::Finished(result) = event {
                return Ok(*result);
            }
        }
        Err(CardError::Closed)
    }

    /// Registration 06 00 (ECR prints, intermediate status wanted, roubles). Call at start.
    /// While the terminal still finishes an earlier exchange (after a restart) it answers busy;
    /// registration then retries like recovery does.
    pub async fn registration(&self) -> Result<TerminalStatus, CardError> {
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let result = self.run(Operation::Registration).await?;
            match result.end {
                OpEnd::Refused(code)
                    if code == NACK_BUSY && attempt < self.config.recovery_attempts =>
                {
                    tracing::info!(
                        attempt,
                        "card reader: terminal busy at registration, retrying"
                    );
                    tokio::time::sleep(self.config.recovery_pause).await;
                }
                _ => break result,
            }
        };
        ended_ok(&result)?;
        let OpEnd::Completed(c) = result.end else {
            return Err(CardError::Protocol("no completion".into()));
        };
        Ok(TerminalStatus {
            status_byte: c.status_byte,
            terminal_id: c.terminal_id,
        })
    }

    /// Authorisation 06 01 for `amount_kopecks`. Refused while a recovery is pending.
    pub async fn authorise(
        &self,
        amount_kopecks: i64,
        payment_ref: &str,
    ) -> Result<Authorisation, CardError> {
        if amount_kopecks <= 0 || amount_kopecks > 999_999_999_999 {
            return Err(CardError::BadAmount(amount_kopecks));
        }
        if let Some(why) = self.recovery_pending() {
            return Err(CardError::RecoveryRequired(why));
        }
        tracing::info!(payment_ref, amount_kopecks, "card authorisation started");
        let events = self.start(Operation::Authorise { amount_kopecks }).await?;
        Ok(Authorisation {
            events,
            requests: self.requests.clone(),
            latch: Arc::clone(&self.latch),
            tracker: AuthTracker::new(amount_kopecks),
        })
    }

    /// Customer cancel from the kiosk: 06 B0 to the terminal during an authorisation.
    pub fn abort(&self) -> Result<(), CardError> {
        self.requests
            .send(Request::Abort)
            .map_err(|_| CardError::Closed)
    }

    /// Repeat last result 06 20, once.
    pub async fn repeat_last_result(&self) -> Result<LastResult, CardError> {
        last_result(&self.run(Operation::RepeatLastResult).await?)
    }

    /// Status enquiry 05 01.
    pub async fn status_enquiry(&self) -> Result<TerminalStatus, CardError> {
        let result = self.run(Operation::StatusEnquiry).await?;
        ended_ok(&result)?;
        let OpEnd::Completed(c) = result.end else {
            return Err(CardError::Protocol("no completion".into()));
        };
        Ok(TerminalStatus {
            status_byte: c.status_byte,
            terminal_id: c.terminal_id,
        })
    }

    /// Reversal 06 30 of the payment with this receipt number.
    pub async fn reverse(&self, receipt_no: u32) -> Result<Approval, CardError> {
        let result = self.run(Operation::Reversal { receipt_no }).await?;
        ended_ok(&result)?;
        let status = result
            .status
            .ok_or_else(|| CardError::Protocol("no status information".into()))?;
        Ok(Approval::from_status(&status, 0, &result.print_lines))
    }

    /// End of day 06 50: closes the terminal's batch and returns its totals.
    pub async fn end_of_day(&self) -> Result<EndOfDayTotals, CardError> {
        let result = self.run(Operation::EndOfDay).await?;
        ended_ok(&result)?;
        let status = result
            .status
            .ok_or_else(|| CardError::Protocol("no totals".into()))?;
        EndOfDayTotals::from_status(&status).map_err(|e| CardError::Protocol(e.to_string()))
    }

    /// Diagnosis 06 70.
    pub async fn diagnosis(&self) -> Result<(), CardError> {
        let result = self.run(Operation::Diagnosis).await?;
        ended_ok(&result)
    }

    /// The terminal's last transaction (06 20), asked again while it is busy or gives no
    /// definite answer; a terminal that holds no transaction at all answers with an empty result.
    pub async fn last_result(&self) -> Result<LastResult, CardError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.repeat_last_result().await {
                Ok(last) => return Ok(last),
                Err(
                    e @ (CardError::Terminal { .. }
                    | CardError::NoAnswer(_)
                    | CardError::Busy
                    | CardError::Protocol(_)),
                ) if attempt < self.config.recovery_attempts => {
                    tracing::info!(error = %e, attempt, "card recovery: terminal not ready, retrying");
                    tokio::time::sleep(self.config.recovery_pause).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reversal 06 30 of a payment whose outcome was unknown, when the host decided so: `Ok(true)`
    /// reversed now,
    /// `Ok(false)` the terminal does not hold it (never booked, or reversed already).
    pub async fn reverse_unknown(&self, receipt_no: u32) -> Result<bool, CardError> {
        reversal_done(&self.run(Operation::Reversal { receipt_no }).await?)
    }

    /// Clears the latch once the host has settled every payment whose outcome was unknown.
    pub fn recovery_resolved(&self) {
        set_latch(&self.latch, None);
    }
}

async fn run_task(
    fd: AsyncFd<serialport::TTYPort>,
    mut core: EcrCore,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let raw = fd.get_ref().as_raw_fd();
    let mut current: Option<mpsc::UnboundedSender<EcrEvent>> = None;
    let mut buf = [0u8; 1024];
    loop {
        while let Some(bytes) = core.poll_transmit() {
            if let Err(e) = port::write_all(raw, &bytes) {
                tracing::warn!(error = %e, "card reader: write failed");
            }
        }
        while let Some(event) = core.poll_event() {
            let last = matches!(event, EcrEvent::Finished(_));
            if let Some(tx) = current.as_ref() {
                let _ = tx.send(event);
            }
            if last {
                current = None;
            }
        }
        let deadline = core.poll_timeout();
        tokio::select! {
            request = requests.recv() => {
                let now = Instant::now();
                match request {
                    None => break,
                    Some(Request::Start { op, events, started }) => {
                        let outcome = core.start(op, now);
                        if outcome.is_ok() {
                            current = Some(events);
                        }
                        let _ = started.send(outcome);
                    }
                    Some(Request::Decide(issued)) => {
                        if let Err(e) = core.decide(issued, now) {
                            tracing::warn!(error = %e, "card reader: decision not applicable");
                        }
                    }
                    Some(Request::Abort) => {
                        if let Err(e) = core.abort(now) {
                            tracing::warn!(error = %e, "card reader: abort failed");
                        }
                    }
                }
            }
            guard = fd.readable() => {
                let Ok(mut guard) = guard else { break };
                match guard.try_io(|inner| {
                    // SAFETY: buf is valid for writes of its length; fd is open.
                    let n = unsafe { libc::read(inner.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
                }) {
                    Ok(Ok(n)) if n > 0 => core.handle_input(&buf[..n], Instant::now()),
                    Ok(Ok(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "card reader: read failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(_would_block) => {}
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                core.handle_timeout(Instant::now());
            }
        }
    }
    tracing::info!("card reader task stopped");
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(at) = deadline {
        tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
    }
}
