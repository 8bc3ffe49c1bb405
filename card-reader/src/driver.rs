//! The async card-reader driver: a tokio task owns the port and the timers and runs the sans-IO
//! [`EcrCore`]; [`CardReader`] is a cheap, cloneable handle to it.
//!
//! The driver knows nothing of the journal but makes its rules possible: an approval waits for
//! the host's [`PendingApproval::goods_issued`] (the host journals first), an unknown outcome
//! latches the reader until [`CardReader::recover`] has resolved it, and only masked card data
//! ever leaves this module.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

use crate::ecr::{EcrConfig, EcrCore, EcrError, EcrEvent, OpEnd, OpResult, Operation};
use crate::messages::{
    EndOfDayTotals, StatusInformation, NACK_BUSY, RESULT_ABORTED, RESULT_NOT_POSSIBLE,
};
use crate::{port, texts};

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

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("cannot open or use the card terminal port: {0}")]
    Io(#[from] std::io::Error),
    #[error("the card-reader task has stopped")]
    Closed,
    #[error("another card-terminal operation is running")]
    Busy,
    #[error("amount {0} kopecks is not payable")]
    BadAmount(i64),
    #[error("an earlier card payment has an unknown outcome and must be recovered first: {0}")]
    RecoveryRequired(String),
    #[error("the terminal refused: {reason_ru} (code {code:#04x})")]
    Terminal { code: u8, reason_ru: String },
    #[error("no definite answer from the terminal: {0}")]
    NoAnswer(String),
    #[error("unexpected answer from the terminal: {0}")]
    Protocol(String),
}

/// What the kiosk may keep of an approved card payment. Masked PAN only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub amount_kopecks: i64,
    pub masked_pan: Option<String>,
    pub auth_code: Option<String>,
    pub receipt_no: Option<u32>,
    pub trace: Option<u32>,
    pub terminal_id: Option<u32>,
    /// Retrieval reference number; standard ZVT status information has no field for it, so it is
    /// filled only if the terminal sends it in the additional text as `RRN:<digits>`.
    pub rrn: Option<String>,
    pub card_name: Option<String>,
    /// The card slip (06 D1 / 06 D3 lines). Empty in [`AuthEvent::Approved`] (the slip follows
    /// the goods-issued answer); complete in [`AuthEvent::Completed`].
    pub print_lines: Vec<String>,
}

impl Approval {
    fn from_status(info: &StatusInformation, fallback_amount: i64, lines: &[String]) -> Self {
        let rrn = info.additional_text.as_deref().and_then(|t| {
            let at = t.find("RRN:")?;
            let digits: String = t[at + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            (!digits.is_empty()).then_some(digits)
        });
        Approval {
            amount_kopecks: info.amount_kopecks.unwrap_or(fallback_amount),
            masked_pan: info.masked_pan.clone(),
            auth_code: info.auth_code.clone(),
            receipt_no: info.receipt_no,
            trace: info.trace,
            terminal_id: info.terminal_id,
            rrn,
            card_name: info.card_name.clone(),
            print_lines: lines.to_vec(),
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
    /// Final: link drop or timeout; the reader is latched until [`CardReader::recover`].
    OutcomeUnknown {
        detail: String,
        approval: Option<Approval>,
        goods_issued_sent: Option<bool>,
    },
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
    amount_kopecks: i64,
    approval: Option<Approval>,
    finished: bool,
}

impl Authorisation {
    pub async fn next_event(&mut self) -> Option<AuthEvent> {
        if self.finished {
            return None;
        }
        let event = match self.events.recv().await {
            Some(e) => e,
            None => {
                self.finished = true;
                return Some(self.unknown("card-reader task stopped".into(), None, None));
            }
        };
        Some(match event {
            EcrEvent::Prompt { status, text_ru } => AuthEvent::Prompt {
                code: status,
                text_ru: text_ru.to_owned(),
            },
            EcrEvent::DecisionNeeded(info) => {
                let approval = Approval::from_status(&info, self.amount_kopecks, &[]);
                self.approval = Some(approval.clone());
                AuthEvent::Approved(PendingApproval {
                    approval,
                    requests: self.requests.clone(),
                    answered: false,
                })
            }
            EcrEvent::Finished(result) => {
                self.finished = true;
                self.final_event(*result)
            }
        })
    }

    fn unknown(&self, detail: String, approval: Option<Approval>, sent: Option<bool>) -> AuthEvent {
        set_latch(&self.latch, Some(detail.clone()));
        AuthEvent::OutcomeUnknown {
            detail,
            approval,
            goods_issued_sent: sent,
        }
    }

    fn final_event(&mut self, result: OpResult) -> AuthEvent {
        let approval = result
            .status
            .as_ref()
            .filter(|s| s.result_code == Some(0))
            .map(|s| Approval::from_status(s, self.amount_kopecks, &result.print_lines))
            .or_else(|| self.approval.clone());
        match (result.end, result.decision) {
            (OpEnd::Unknown(detail) | OpEnd::NotDelivered(detail), decision) => {
                self.unknown(detail, approval, decision)
            }
            (OpEnd::Completed(_), Some(true)) => match approval {
                Some(approval) => AuthEvent::Completed { approval },
                None => self.unknown("completion without approval data".into(), None, Some(true)),
            },
            (OpEnd::Completed(_) | OpEnd::Aborted(_), Some(false)) => {
                AuthEvent::ReversedByTerminal {
                    approval: approval.unwrap_or_default(),
                }
            }
            (OpEnd::Aborted(code), Some(true)) => {
                // Aborted after we said "issued": the terminal did not keep it, but say so loudly.
                tracing::warn!(code, "terminal aborted after goods were issued");
                self.unknown(
                    format!("terminal aborted (code {code:#04x}) after goods issued"),
                    approval,
                    Some(true),
                )
            }
            (OpEnd::Aborted(RESULT_ABORTED), None) => AuthEvent::Cancelled,
            (OpEnd::Aborted(code) | OpEnd::Refused(code), None) => AuthEvent::Declined {
                code,
                reason_ru: texts::result_ru(code),
            },
            (OpEnd::Refused(code), Some(_)) => AuthEvent::Declined {
                code,
                reason_ru: texts::result_ru(code),
            },
            (OpEnd::Completed(_), None) => {
                let code = result
                    .status
                    .as_ref()
                    .and_then(|s| s.result_code)
                    .unwrap_or(RESULT_NOT_POSSIBLE);
                AuthEvent::Declined {
                    code,
                    reason_ru: texts::result_ru(code),
                }
            }
        }
    }
}

/// The last transaction as the terminal reports it (06 20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastResult {
    pub result_code: Option<u8>,
    pub receipt_no: Option<u32>,
    pub amount_kopecks: Option<i64>,
    pub approval: Option<Approval>,
}

impl LastResult {
    pub fn approved(&self) -> bool {
        self.result_code == Some(0)
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

/// What the host knows of a card payment whose outcome is unknown (from its journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownPayment {
    pub amount_kopecks: i64,
    /// The approval, if one was journaled.
    pub approval: Option<Approval>,
    /// True if the host had decided "goods issued" (and so may have sent 80 00).
    pub goods_issued_sent: bool,
    /// Receipt number of the last card payment the host credited, if it knows one. Without a
    /// journaled approval, an approved last result for this amount under another receipt is an
    /// approval the host never saw (the terminal finished it after the host died): it is reversed.
    #[serde(default)]
    pub last_credited_receipt: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recovery {
    /// The terminal holds the payment and the goods were issued: credit it.
    Credited(Approval),
    /// The terminal held it but the goods were not issued: reversed now with 06 30.
    Reversed(Approval),
    /// The terminal does not hold the payment (never approved or already reversed by itself).
    NotCharged,
}

/// What should happen to a payment whose outcome was unknown, learned from the terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assessment {
    /// The terminal holds it and the goods were issued: credit it.
    Credit(Approval),
    /// The goods were not issued: reverse it with 06 30 (the terminal may or may not hold it).
    Reverse { approval: Approval, receipt_no: u32 },
    /// The terminal does not hold it.
    NotCharged,
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

    /// Why the reader is latched, if an unknown outcome awaits [`CardReader::recover`].
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

    fn ended_ok(result: &OpResult) -> Result<(), CardError> {
        match &result.end {
            OpEnd::Completed(_) => Ok(()),
            OpEnd::Aborted(code) | OpEnd::Refused(code) => Err(CardError::Terminal {
                code: *code,
                reason_ru: texts::result_ru(*code),
            }),
            OpEnd::Unknown(d) | OpEnd::NotDelivered(d) => Err(CardError::NoAnswer(d.clone())),
        }
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
        Self::ended_ok(&result)?;
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
            amount_kopecks,
            approval: None,
            finished: false,
        })
    }

    /// Customer cancel from the kiosk: 06 B0 to the terminal during an authorisation.
    pub fn abort(&self) -> Result<(), CardError> {
        self.requests
            .send(Request::Abort)
            .map_err(|_| CardError::Closed)
    }

    /// Repeat last result 06 20.
    pub async fn repeat_last_result(&self) -> Result<LastResult, CardError> {
        let result = self.run(Operation::RepeatLastResult).await?;
        Self::ended_ok(&result)?;
        let status = result
            .status
            .ok_or_else(|| CardError::Protocol("no status information".into()))?;
        let approval = (status.result_code == Some(0)).then(|| {
            Approval::from_status(
                &status,
                status.amount_kopecks.unwrap_or(0),
                &result.print_lines,
            )
        });
        Ok(LastResult {
            result_code: status.result_code,
            receipt_no: status.receipt_no,
            amount_kopecks: status.amount_kopecks,
            approval,
        })
    }

    /// Status enquiry 05 01.
    pub async fn status_enquiry(&self) -> Result<TerminalStatus, CardError> {
        let result = self.run(Operation::StatusEnquiry).await?;
        Self::ended_ok(&result)?;
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
        Self::ended_ok(&result)?;
        let status = result
            .status
            .ok_or_else(|| CardError::Protocol("no status information".into()))?;
        Ok(Approval::from_status(&status, 0, &result.print_lines))
    }

    /// End of day 06 50: closes the terminal's batch and returns its totals.
    pub async fn end_of_day(&self) -> Result<EndOfDayTotals, CardError> {
        let result = self.run(Operation::EndOfDay).await?;
        Self::ended_ok(&result)?;
        let status = result
            .status
            .ok_or_else(|| CardError::Protocol("no totals".into()))?;
        EndOfDayTotals::from_status(&status).map_err(|e| CardError::Protocol(e.to_string()))
    }

    /// Diagnosis 06 70.
    pub async fn diagnosis(&self) -> Result<(), CardError> {
        let result = self.run(Operation::Diagnosis).await?;
        Self::ended_ok(&result)
    }

    async fn repeat_with_retries(&self) -> Result<LastResult, CardError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.repeat_last_result().await {
                Ok(last) => return Ok(last),
                Err(CardError::Terminal {
                    code: RESULT_NOT_POSSIBLE,
                    ..
                }) => {
                    // The terminal has no transaction at all.
                    return Ok(LastResult {
                        result_code: None,
                        receipt_no: None,
                        amount_kopecks: None,
                        approval: None,
                    });
                }
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

    /// What the terminal's last result (06 20, retried while it is busy) says should happen to a
    /// payment whose outcome is unknown. Nothing is reversed and the latch stays: a host that
    /// journals every step calls this, journals the finding (and a reversal's intent), then calls
    /// [`CardReader::reverse`] itself; [`CardReader::recover`] does it all in one call.
    ///
    /// A terminal in unattended mode cannot keep an approval the ECR never confirmed, so without
    /// a journaled approval the answer is [`Assessment::NotCharged`] — unless the terminal reports
    /// an approved last transaction for this amount that is not the host's last credited one
    /// (a confirmation the host never meant, e.g. from a restart racing the terminal): reversed.
    pub async fn assess(&self, unknown: &UnknownPayment) -> Result<Assessment, CardError> {
        let last = self.repeat_with_retries().await?;
        tracing::info!(
            result = ?last.result_code, receipt = ?last.receipt_no, amount = ?last.amount_kopecks,
            "card recovery: terminal's last result"
        );
        let Some(approval) = &unknown.approval else {
            let unseen = last.approved()
                && last.amount_kopecks == Some(unknown.amount_kopecks)
                && last.receipt_no.is_some()
                && last.receipt_no != unknown.last_credited_receipt;
            return Ok(match (unseen, last.receipt_no) {
                (true, Some(receipt_no)) => {
                    tracing::warn!(
                        receipt = receipt_no,
                        "card recovery: the terminal holds an approval the host never saw; reversing it"
                    );
                    Assessment::Reverse {
                        approval: last.approval.clone().unwrap_or_default(),
                        receipt_no,
                    }
                }
                _ => Assessment::NotCharged,
            });
        };
        let ours = approval.receipt_no.is_some() && last.receipt_no == approval.receipt_no;
        if ours && !last.approved() {
            return Ok(Assessment::NotCharged);
        }
        if ours && unknown.goods_issued_sent {
            return Ok(Assessment::Credit(
                last.approval
                    .clone()
                    .map(|mut a| {
                        a.print_lines = approval.print_lines.clone();
                        a
                    })
                    .unwrap_or_else(|| approval.clone()),
            ));
        }
        match approval.receipt_no {
            Some(receipt_no) => Ok(Assessment::Reverse {
                approval: approval.clone(),
                receipt_no,
            }),
            None => Err(CardError::Protocol(
                "approval without receipt number".into(),
            )),
        }
    }

    /// Reversal of an unknown payment after [`Assessment::Reverse`]: `Ok(true)` reversed now,
    /// `Ok(false)` the terminal does not hold it (never booked, or reversed already).
    pub async fn reverse_unknown(&self, receipt_no: u32) -> Result<bool, CardError> {
        match self.reverse(receipt_no).await {
            Ok(_) => Ok(true),
            Err(CardError::Terminal {
                code: RESULT_NOT_POSSIBLE,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Clears the latch once the host has resolved the unknown payment through
    /// [`CardReader::assess`] and [`CardReader::reverse_unknown`].
    pub fn recovery_resolved(&self) {
        set_latch(&self.latch, None);
    }

    /// Resolves a payment whose outcome is unknown: asks the terminal (06 20) and reverses
    /// (06 30) a payment it holds when the goods were not issued. Clears the latch on success.
    pub async fn recover(&self, unknown: &UnknownPayment) -> Result<Recovery, CardError> {
        let recovery = match self.assess(unknown).await? {
            Assessment::NotCharged => Recovery::NotCharged,
            Assessment::Credit(approval) => Recovery::Credited(approval),
            Assessment::Reverse {
                approval,
                receipt_no,
            } => {
                if self.reverse_unknown(receipt_no).await? {
                    Recovery::Reversed(approval)
                } else {
                    Recovery::NotCharged
                }
            }
        };
        self.recovery_resolved();
        tracing::info!(?recovery, "card recovery resolved");
        Ok(recovery)
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
