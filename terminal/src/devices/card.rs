//! The card reader task: the ZVT driver on one side, the core on the other. It carries out steps
//! and decides nothing about money.
//!
//! An approval goes to the core first; the core journals it and only then answers "goods issued"
//! (80 00) or "not issued" (84 66, the terminal reverses). When the outcome is unknown — a link
//! drop or timeout in this process, or a payment a crash left open — the core sends `Recover`:
//! the task asks the terminal for its last result (06 20, again while it gives no definite
//! answer) and reports it as a [`CardRecoveryStep`]; the core decides. A reversal (06 30) goes
//! out only on the core's `Reverse`, sent once its intent is journaled. Card payments are refused
//! until the core says every such payment is `Resolved`.
//! End of day (06 50) runs daily at the configured local time, only between payments and never
//! while a recovery is open; its totals are journaled (`CardEndOfDay`).

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use backend_sync::event::CardApproval;
use backend_sync::JournalEvent;
use card_reader::{Approval, AuthEvent, AuthStep, CardReader, LastResult};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::health::{Device, DeviceCondition, FaultKind};
use crate::runtime::{Clock, CoreEvent, SystemClock};
use crate::service::ServiceInput;
use crate::session::{CardCommand, CardLastResult, CardRecoveryStep, DeviceInput};

/// The journal's view of an approval: masked PAN only.
pub fn card_approval(a: &Approval) -> CardApproval {
    CardApproval {
        amount_kopecks: a.amount_kopecks,
        receipt_no: a.receipt_no.unwrap_or(0),
        trace_no: a.trace.unwrap_or(0),
        masked_pan: a.masked_pan.clone().unwrap_or_default(),
        auth_code: a.auth_code.clone().unwrap_or_default(),
        card_terminal_id: a.terminal_id.map(|t| t.to_string()).unwrap_or_default(),
        rrn: a.rrn.clone(),
    }
}

async fn report(core: &mpsc::Sender<CoreEvent>, input: DeviceInput) -> bool {
    core.send(CoreEvent::Device(input, None)).await.is_ok()
}

/// Waits for the core's goods-issued decision (it comes after the approval is journaled).
async fn decision(commands: &mut mpsc::Receiver<CardCommand>) -> Option<bool> {
    while let Some(command) = commands.recv().await {
        if let CardCommand::GoodsIssued { issued, .. } = command {
            return Some(issued);
        }
    }
    None
}

/// Runs one authorisation to its end; true when its outcome is unknown (the core then sends
/// `Recover`).
async fn authorise(
    reader: &CardReader,
    payment_id: &str,
    amount_kopecks: i64,
    core: &mpsc::Sender<CoreEvent>,
    commands: &mut mpsc::Receiver<CardCommand>,
) -> bool {
    let mut auth = match reader.authorise(amount_kopecks, payment_id).await {
        Ok(auth) => auth,
        Err(e) => {
            report(
                core,
                DeviceInput::CardDeclined {
                    reason: format!("терминал недоступен ({e})"),
                },
            )
            .await;
            return false;
        }
    };
    loop {
        let event = tokio::select! {
            event = auth.next_event() => event,
            command = commands.recv() => {
                if let Some(CardCommand::Abort) = command {
                    let _ = reader.abort();
                }
                continue;
            }
        };
        let Some(event) = event else {
            return false;
        };
        let step = event.step();
        report(core, session_input(&step)).await;
        if let AuthEvent::Approved(pending) = event {
            // No answer (the core is gone) answers "not issued": the safe default.
            let issued = decision(commands).await.unwrap_or(false);
            pending.goods_issued(issued);
        }
        if step.is_final() {
            return matches!(step, AuthStep::OutcomeUnknown { .. });
        }
    }
}

/// What an authorisation step tells the core (the simulation translates with the same function).
pub fn session_input(step: &AuthStep) -> DeviceInput {
    match step {
        AuthStep::Prompt { text_ru, .. } => DeviceInput::CardPrompt(text_ru.clone()),
        AuthStep::Approved(approval) => DeviceInput::CardApproved(card_approval(approval)),
        AuthStep::Completed { .. } => DeviceInput::CardCompleted,
        AuthStep::ReversedByTerminal { .. } => DeviceInput::CardReversed,
        AuthStep::Declined { reason_ru, .. } => DeviceInput::CardDeclined {
            reason: reason_ru.clone(),
        },
        AuthStep::Cancelled => DeviceInput::CardCancelled,
        AuthStep::OutcomeUnknown { detail, .. } => DeviceInput::CardOutcomeUnknown {
            detail: detail.clone(),
        },
    }
}

/// The core's view of the terminal's last result.
pub fn last_result(last: &LastResult) -> CardLastResult {
    CardLastResult {
        result_code: last.result_code,
        receipt_no: last.receipt_no,
        amount_kopecks: last.amount_kopecks,
        approval: last.approval.as_ref().map(card_approval),
    }
}

/// When the daily end of day runs: a local time of day in the kiosk's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOfDaySchedule {
    pub at: NaiveTime,
    pub tz: chrono_tz::Tz,
}

impl EndOfDaySchedule {
    /// `[devices.card_reader] end_of_day` when none is configured (`--simulate`).
    pub const DEFAULT_TIME: NaiveTime = match NaiveTime::from_hms_opt(23, 30, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    };

    /// The first run strictly after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut date = now.with_timezone(&self.tz).date_naive();
        // A day whose local time does not exist (a DST gap) is skipped; three days always suffice.
        for _ in 0..3 {
            if let Some(at) = self
                .tz
                .from_local_datetime(&date.and_time(self.at))
                .earliest()
            {
                let at = at.with_timezone(&Utc);
                if at > now {
                    return at;
                }
            }
            date = date.succ_opt().unwrap_or(date);
        }
        now + chrono::Duration::days(1)
    }
}

/// How the card task runs besides its reader.
pub struct CardSetup {
    pub end_of_day: Option<EndOfDaySchedule>,
    /// The time the end-of-day schedule is checked against (a test's fake clock).
    pub clock: Box<dyn Clock + Sync>,
    /// How often the schedule is checked.
    pub tick: Duration,
    /// Pause before asking again when the terminal gives no definite answer during recovery.
    pub retry_pause: Duration,
    /// Pause before a failed end of day is tried again.
    pub end_of_day_retry: Duration,
    /// How often an idle reader is asked for its status (05 01), so a dead reader is known before
    /// a customer chooses the card.
    pub probe_every: Duration,
}

impl Default for CardSetup {
    fn default() -> Self {
        Self {
            end_of_day: None,
            clock: Box::new(SystemClock),
            tick: Duration::from_secs(1),
            retry_pause: Duration::from_secs(3),
            end_of_day_retry: Duration::from_secs(300),
            probe_every: Duration::from_secs(10),
        }
    }
}

impl CardSetup {
    /// Daily end of day at `at` local time, on the system clock.
    pub fn daily(at: NaiveTime, tz: chrono_tz::Tz) -> Self {
        Self {
            end_of_day: Some(EndOfDaySchedule { at, tz }),
            ..Self::default()
        }
    }
}

struct CardTask {
    reader: CardReader,
    core: mpsc::Sender<CoreEvent>,
    commands: mpsc::Receiver<CardCommand>,
    setup: CardSetup,
    next_end_of_day: Option<DateTime<Utc>>,
    /// Payments the core is recovering: no payment and no end of day until it says `Resolved`.
    unresolved: BTreeSet<String>,
    /// Recovery commands that arrived while the task waited to retry.
    queued: VecDeque<CardCommand>,
    /// Whether the reader answered last time (None: not asked yet); reported on change.
    answering: Option<bool>,
}

impl CardTask {
    async fn run(mut self) {
        let registered = self.reader.registration().await;
        if let Err(e) = &registered {
            warn!(error = %e, "card terminal registration failed");
        }
        self.answered(registered.is_ok()).await;
        let now = self.setup.clock.now();
        self.next_end_of_day = self.setup.end_of_day.map(|s| s.next_after(now));
        let mut next_probe = tokio::time::Instant::now() + self.setup.probe_every;
        loop {
            if let Some(command) = self.queued.pop_front() {
                self.on_command(command).await;
                continue;
            }
            let tick = tokio::time::sleep(self.setup.tick);
            let probe = tokio::time::sleep_until(next_probe);
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command).await,
                    None => return,
                },
                _ = tick, if self.next_end_of_day.is_some() => self.end_of_day_if_due().await,
                _ = probe => {
                    self.probe().await;
                    next_probe = tokio::time::Instant::now() + self.setup.probe_every;
                }
            }
        }
    }

    /// Asks the idle reader for its status (05 01) and reports whether it answers.
    async fn probe(&mut self) {
        let asked = tokio::time::timeout(PROBE_TIMEOUT, self.reader.status_enquiry()).await;
        let ok = matches!(asked, Ok(Ok(_)));
        if !ok {
            warn!(?asked, "card reader does not answer its status enquiry");
        }
        self.answered(ok).await;
    }

    /// Tells the health desk when the reader starts or stops answering.
    async fn answered(&mut self, ok: bool) {
        if self.answering == Some(ok) {
            return;
        }
        self.answering = Some(ok);
        let condition = if ok {
            DeviceCondition::Up
        } else {
            DeviceCondition::Down {
                kind: FaultKind::Communication,
                detail: "the card terminal does not answer".into(),
            }
        };
        let _ = self
            .core
            .send(CoreEvent::Health(Device::CardReader, condition))
            .await;
    }

    async fn on_command(&mut self, command: CardCommand) {
        match command {
            CardCommand::Authorise { payment_id, amount } => {
                if self.unresolved.is_empty() {
                    let (reader, core) = (self.reader.clone(), self.core.clone());
                    let unknown = authorise(
                        &reader,
                        &payment_id,
                        amount.kopecks(),
                        &core,
                        &mut self.commands,
                    )
                    .await;
                    if unknown {
                        self.unresolved.insert(payment_id);
                    }
                } else {
                    refuse(&self.core).await;
                }
            }
            CardCommand::Recover { payment_id } => self.ask(payment_id).await,
            CardCommand::Reverse {
                payment_id,
                receipt_no,
            } => self.reverse(payment_id, receipt_no).await,
            CardCommand::Resolved { payment_id } => {
                self.unresolved.remove(&payment_id);
                if self.unresolved.is_empty() {
                    self.reader.recovery_resolved();
                }
            }
            CardCommand::Diagnose => {
                // The reader is used for nothing else while a payment's outcome is unknown.
                let result = if self.unresolved.is_empty() {
                    self.reader.diagnosis().await.map_err(|e| e.to_string())
                } else {
                    Err("a card payment is still being recovered".into())
                };
                if let Err(reason) = &result {
                    warn!(%reason, "card reader diagnosis failed");
                }
                let _ = self
                    .core
                    .send(CoreEvent::Service(ServiceInput::CardDiagnosis(result)))
                    .await;
            }
            // Answers and aborts outside a payment have nothing to act on.
            CardCommand::GoodsIssued { .. } | CardCommand::Abort => {}
        }
    }

    /// Waits `retry_pause`, refusing card payments and keeping recovery commands meanwhile.
    async fn pause(&mut self) {
        let until = tokio::time::sleep(self.setup.retry_pause);
        tokio::pin!(until);
        loop {
            tokio::select! {
                _ = &mut until => return,
                command = self.commands.recv() => match command {
                    Some(CardCommand::Authorise { .. }) => refuse(&self.core).await,
                    // The core's recovery steps keep their order; a `Resolved` for another
                    // payment, dropped here, would refuse card payments for good.
                    Some(
                        c @ (CardCommand::Recover { .. }
                        | CardCommand::Reverse { .. }
                        | CardCommand::Resolved { .. }),
                    ) => {
                        self.queued.push_back(c);
                    }
                    Some(_) => {}
                    None => return,
                },
            }
        }
    }

    async fn step(&self, payment_id: &str, step: CardRecoveryStep) {
        let input = DeviceInput::CardRecovery {
            payment_id: payment_id.to_string(),
            step,
        };
        report(&self.core, input).await;
    }

    /// Asks the terminal for its last result until it gives a definite answer, and reports it.
    async fn ask(&mut self, payment_id: String) {
        self.unresolved.insert(payment_id.clone());
        let last = loop {
            match self.reader.last_result().await {
                Ok(last) => break last,
                Err(e) => {
                    warn!(payment = %payment_id, error = %e, "card recovery: no definite answer yet, asking again");
                    self.pause().await;
                }
            }
        };
        info!(payment = %payment_id, result = ?last.result_code, receipt = ?last.receipt_no,
            "card recovery: terminal answered");
        self.step(
            &payment_id,
            CardRecoveryStep::LastResult(last_result(&last)),
        )
        .await;
    }

    async fn reverse(&mut self, payment_id: String, receipt_no: u32) {
        let reversed = loop {
            match self.reader.reverse_unknown(receipt_no).await {
                Ok(r) => break r,
                Err(e) => {
                    warn!(payment = %payment_id, receipt = receipt_no, error = %e, "card recovery: reversal not done yet, trying again");
                    self.pause().await;
                }
            }
        };
        let step = if reversed {
            CardRecoveryStep::Reversed { receipt_no }
        } else {
            CardRecoveryStep::NotHeld { receipt_no }
        };
        self.step(&payment_id, step).await;
    }

    /// Runs end of day if it is due and the reader is free; the task only gets here between
    /// payments.
    async fn end_of_day_if_due(&mut self) {
        let (Some(due), Some(schedule)) = (self.next_end_of_day, self.setup.end_of_day) else {
            return;
        };
        let now = self.setup.clock.now();
        if now < due {
            return;
        }
        if !self.unresolved.is_empty() || self.reader.recovery_pending().is_some() {
            info!("card end of day waits: a card payment is being recovered");
            return;
        }
        match self.reader.end_of_day().await {
            Ok(totals) => {
                info!(
                    transactions = totals.count,
                    kopecks = totals.total_kopecks,
                    "card end of day"
                );
                let event = JournalEvent::CardEndOfDay {
                    transactions: totals.count,
                    total_kopecks: totals.total_kopecks,
                };
                if self.core.send(CoreEvent::Record(event)).await.is_err() {
                    warn!("core gone: card end-of-day totals not journaled");
                }
                self.next_end_of_day = Some(schedule.next_after(now));
            }
            Err(e) => {
                warn!(error = %e, "card end of day failed; trying again later");
                let retry = chrono::Duration::from_std(self.setup.end_of_day_retry)
                    .unwrap_or(chrono::Duration::minutes(5));
                self.next_end_of_day = Some(now + retry);
            }
        }
    }
}

/// A card payment while an earlier one is still being recovered.
async fn refuse(core: &mpsc::Sender<CoreEvent>) {
    let reason = "терминал проверяет прошлую оплату, попробуйте позже или оплатите наличными";
    report(
        core,
        DeviceInput::CardDeclined {
            reason: reason.into(),
        },
    )
    .await;
}

/// Runs the task without end of day; returns the channel the core sends [`CardCommand`]s to.
pub fn spawn(reader: CardReader, core: mpsc::Sender<CoreEvent>) -> mpsc::Sender<CardCommand> {
    spawn_with(reader, core, CardSetup::default())
}

/// The longest a status enquiry may take before the reader counts as not answering.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the task; returns the channel the core sends [`CardCommand`]s to.
pub fn spawn_with(
    reader: CardReader,
    core: mpsc::Sender<CoreEvent>,
    setup: CardSetup,
) -> mpsc::Sender<CardCommand> {
    let (tx, commands) = mpsc::channel::<CardCommand>(16);
    let task = CardTask {
        reader,
        core,
        commands,
        setup,
        next_end_of_day: None,
        unresolved: BTreeSet::new(),
        answering: None,
        queued: VecDeque::new(),
    };
    tokio::spawn(task.run());
    tx
}
