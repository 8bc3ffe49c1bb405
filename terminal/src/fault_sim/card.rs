//! The card side of the simulated kiosk: the production ECR core (`card_reader::ecr`) and the
//! ZVT emulator's own terminal state machine, wired byte for byte on the simulation's clock.
//!
//! It plays the card task's part: it carries out the core's [`CardCommand`]s one at a time and
//! reports with the task's own translations ([`session_input`], [`last_result`]) and the
//! driver's sans-IO meanings ([`AuthTracker`], [`card_reader::last_result`],
//! [`reversal_done`]). Like the task, it decides nothing about money.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use card_reader::ecr::{EcrConfig, EcrCore, EcrEvent, Operation};
use card_reader::emulator::core::{EmulatorConfig, TerminalCore, Transaction};
use card_reader::{reversal_done, AuthStep, AuthTracker};

use crate::devices::card::{last_result, session_input};
use crate::session::{CardCommand, CardRecoveryStep, DeviceInput};

/// The pause before a recovery query the terminal gave no definite answer to is asked again.
const RETRY_PAUSE: Duration = Duration::from_secs(3);

/// The operation the ECR core runs.
#[derive(Debug)]
enum Op {
    Register,
    Authorise {
        payment_id: String,
        tracker: AuthTracker,
    },
    Ask {
        payment_id: String,
    },
    Reverse {
        payment_id: String,
        receipt_no: u32,
    },
}

pub(super) struct CardSide {
    ecr: EcrCore,
    pub(super) terminal: TerminalCore,
    op: Option<Op>,
    /// Commands waiting for the running operation to end (the task runs them in order).
    queue: VecDeque<CardCommand>,
    /// Payments the core is recovering: the task's gate for new authorisations.
    unresolved: BTreeSet<String>,
    retry_at: Option<Instant>,
}

impl CardSide {
    pub(super) fn new(now: Instant) -> Self {
        let mut side = CardSide {
            ecr: EcrCore::new(EcrConfig::default()),
            terminal: TerminalCore::new(EmulatorConfig::default()),
            op: None,
            queue: VecDeque::new(),
            unresolved: BTreeSet::new(),
            retry_at: None,
        };
        side.register(now);
        side
    }

    /// The kiosk process died: a fresh ECR core and task; the terminal keeps its own state.
    pub(super) fn restart(&mut self, now: Instant) {
        self.ecr = EcrCore::new(EcrConfig::default());
        self.op = None;
        self.queue.clear();
        self.unresolved.clear();
        self.retry_at = None;
        self.register(now);
    }

    fn register(&mut self, now: Instant) {
        if self.ecr.start(Operation::Registration, now).is_ok() {
            self.op = Some(Op::Register);
        }
    }

    pub(super) fn transactions(&self) -> &[Transaction] {
        self.terminal.transactions()
    }

    pub(super) fn is_idle(&self) -> bool {
        self.op.is_none() && self.queue.is_empty() && self.terminal.is_idle()
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ecr.poll_timeout(),
            self.terminal.poll_timeout(),
            self.retry_at,
        ]
        .iter()
        .flatten()
        .min()
        .copied()
    }

    /// One command of the core's.
    pub(super) fn command(
        &mut self,
        command: CardCommand,
        now: Instant,
        out: &mut Vec<DeviceInput>,
    ) {
        match command {
            CardCommand::GoodsIssued { issued, .. } => {
                if matches!(self.op, Some(Op::Authorise { .. })) {
                    let _ = self.ecr.decide(issued, now);
                }
            }
            CardCommand::Abort => {
                if matches!(self.op, Some(Op::Authorise { .. })) {
                    let _ = self.ecr.abort(now);
                }
            }
            CardCommand::Resolved { payment_id } => {
                self.unresolved.remove(&payment_id);
            }
            CardCommand::Diagnose => {}
            CardCommand::Authorise { .. }
            | CardCommand::Recover { .. }
            | CardCommand::Reverse { .. }
                if self.op.is_some() || self.retry_at.is_some() =>
            {
                self.queue.push_back(command);
            }
            CardCommand::Authorise { payment_id, amount } => {
                if !self.unresolved.is_empty() {
                    out.push(DeviceInput::CardDeclined {
                        reason: "терминал проверяет прошлую оплату".into(),
                    });
                    return;
                }
                let kopecks = amount.kopecks();
                match self.ecr.start(
                    Operation::Authorise {
                        amount_kopecks: kopecks,
                    },
                    now,
                ) {
                    Ok(()) => {
                        self.op = Some(Op::Authorise {
                            payment_id,
                            tracker: AuthTracker::new(kopecks),
                        })
                    }
                    Err(e) => out.push(DeviceInput::CardDeclined {
                        reason: format!("терминал недоступен ({e})"),
                    }),
                }
            }
            CardCommand::Recover { payment_id } => {
                self.unresolved.insert(payment_id.clone());
                if self.ecr.start(Operation::RepeatLastResult, now).is_ok() {
                    self.op = Some(Op::Ask { payment_id });
                } else {
                    self.retry(CardCommand::Recover { payment_id }, now);
                }
            }
            CardCommand::Reverse {
                payment_id,
                receipt_no,
            } => {
                if self
                    .ecr
                    .start(Operation::Reversal { receipt_no }, now)
                    .is_ok()
                {
                    self.op = Some(Op::Reverse {
                        payment_id,
                        receipt_no,
                    });
                } else {
                    self.retry(
                        CardCommand::Reverse {
                            payment_id,
                            receipt_no,
                        },
                        now,
                    );
                }
            }
        }
    }

    fn retry(&mut self, command: CardCommand, now: Instant) {
        self.queue.push_front(command);
        self.retry_at = Some(now + RETRY_PAUSE);
    }

    /// Moves bytes both ways, runs due timers and reports what the ECR core learned.
    pub(super) fn exchange(&mut self, now: Instant, out: &mut Vec<DeviceInput>) {
        if self.ecr.poll_timeout().is_some_and(|t| t <= now) {
            self.ecr.handle_timeout(now);
        }
        if self.terminal.poll_timeout().is_some_and(|t| t <= now) {
            self.terminal.handle_timeout(now);
        }
        for _ in 0..16 {
            let mut moved = false;
            while let Some(bytes) = self.ecr.poll_transmit() {
                tracing::trace!(?bytes, op = ?self.op, "ecr to terminal");
                self.terminal.handle_input(&bytes, now);
                moved = true;
            }
            while let Some(bytes) = self.terminal.poll_transmit(now) {
                tracing::trace!(?bytes, "terminal to ecr");
                self.ecr.handle_input(&bytes, now);
                moved = true;
            }
            while let Some(event) = self.ecr.poll_event() {
                moved = true;
                self.on_event(event, now, out);
            }
            if !moved {
                break;
            }
        }
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
        }
        while self.op.is_none() && self.retry_at.is_none() {
            let Some(command) = self.queue.pop_front() else {
                break;
            };
            self.command(command, now, out);
        }
    }

    fn on_event(&mut self, event: EcrEvent, now: Instant, out: &mut Vec<DeviceInput>) {
        tracing::trace!(?event, op = ?self.op, "ecr event");
        let finished = matches!(event, EcrEvent::Finished(_));
        match (&mut self.op, event) {
            (
                Some(Op::Authorise {
                    payment_id,
                    tracker,
                }),
                event,
            ) => {
                let step = tracker.on_event(event);
                out.push(session_input(&step));
                if step.is_final() {
                    if matches!(step, AuthStep::OutcomeUnknown { .. }) {
                        self.unresolved.insert(payment_id.clone());
                    }
                    self.op = None;
                }
            }
            (Some(Op::Ask { payment_id }), EcrEvent::Finished(result)) => {
                let payment_id = payment_id.clone();
                self.op = None;
                match card_reader::last_result(&result) {
                    Ok(last) => out.push(DeviceInput::CardRecovery {
                        payment_id,
                        step: CardRecoveryStep::LastResult(last_result(&last)),
                    }),
                    Err(_) => self.retry(CardCommand::Recover { payment_id }, now),
                }
            }
            (
                Some(Op::Reverse {
                    payment_id,
                    receipt_no,
                }),
                EcrEvent::Finished(result),
            ) => {
                let (payment_id, receipt_no) = (payment_id.clone(), *receipt_no);
                self.op = None;
                match reversal_done(&result) {
                    Ok(true) => out.push(DeviceInput::CardRecovery {
                        payment_id,
                        step: CardRecoveryStep::Reversed { receipt_no },
                    }),
                    Ok(false) => out.push(DeviceInput::CardRecovery {
                        payment_id,
                        step: CardRecoveryStep::NotHeld { receipt_no },
                    }),
                    Err(_) => self.retry(
                        CardCommand::Reverse {
                            payment_id,
                            receipt_no,
                        },
                        now,
                    ),
                }
            }
            (_, _) if finished => self.op = None,
            _ => {}
        }
    }
}
