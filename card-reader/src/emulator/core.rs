//! Sans-IO payment-terminal (PT) side of ZVT: the emulator's brain.
//!
//! Amount rule (kopecks): an amount ending in 13 kopecks is declined by the "issuer" with result
//! code 05 (do not honour); ending in 51 kopecks, code 51 = 0x33 (insufficient funds); above
//! 100 000 ₽ (10 000 000 kopecks), code C3 (maximum amount exceeded). Everything else is approved.
//!
//! Unattended handshake: an approval (04 0F, result 00) is booked only when the ECR answers 80 00.
//! If it answers 84 xx (84 66: goods not issued), sends a new command instead, or stays silent for
//! `confirm_timeout`, the PT reverses the transaction in its own batch. Repeat last result (06 20)
//! then reports that transaction with result code 6C (aborted) instead of 00.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::codec::Apdu;
use crate::link::{FrameId, Link, LinkConfig, LinkEvent};
use crate::messages::{
    Completion, EndOfDayTotals, Message, StatusInformation, CURRENCY_RUB, NACK_BUSY,
    RESULT_ABORTED, RESULT_NOT_POSSIBLE,
};
use crate::pan;

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub link: LinkConfig,
    pub terminal_id: u32,
    /// Pause between the prompts of an authorisation (card, PIN, host).
    pub prompt_delay: Duration,
    /// While the "host" is slow, an intermediate status "please wait" every this often.
    pub keepalive: Duration,
    /// How long the PT waits for the ECR's answer to an approval before reversing it.
    pub confirm_timeout: Duration,
    /// How long the PT waits for the ECR's 80 00 to other messages (T3).
    pub t3: Duration,
    /// How long a link drop lasts.
    pub drop_duration: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            link: LinkConfig::default(),
            terminal_id: 29_001_234,
            prompt_delay: Duration::from_millis(400),
            keepalive: Duration::from_secs(1),
            confirm_timeout: Duration::from_secs(10),
            t3: Duration::from_secs(5),
            drop_duration: Duration::from_secs(3),
        }
    }
}

/// One-shot and standing faults, set by tests or the `emulate` stdin.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub decline_next: bool,
    pub drop_link_next: bool,
    pub cancel_next: bool,
    pub busy_next: bool,
    pub lose_ack_next: bool,
    /// After the next booking, the slip and the completion follow 3 s late (a slow printer
    /// driver): the window in which the host knows the goods were issued and the terminal has
    /// booked, but the host has not heard so.
    pub slow_slip_next: bool,
    /// Extra "host" delay before an authorisation result (slow reply), standing.
    pub extra_delay: Duration,
    /// Send the card number unmasked (a misconfigured terminal), standing: the driver must mask it.
    pub unmasked_pan: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    /// Approved, waiting for the ECR's answer.
    AwaitingConfirmation,
    /// Confirmed by the ECR: money taken.
    Booked,
    /// Approved, then reversed (84 66, no confirmation, or reversal 06 30).
    Reversed,
    Declined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub receipt_no: u32,
    pub trace: u32,
    pub amount_kopecks: i64,
    pub result_code: u8,
    pub state: TxnState,
    pub masked_pan: String,
    pub auth_code: String,
    /// Still in the open batch (not yet closed by end of day).
    pub in_open_batch: bool,
}

#[derive(Debug)]
enum Step {
    Pause(Duration),
    Send(Message),
    /// Decide the authorisation and queue what follows.
    Decide {
        amount_kopecks: i64,
    },
    /// Send the approval of transaction `txn` and wait for the ECR's verdict.
    SendApproval {
        txn: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    None,
    Until(Instant),
    /// A message is on its way; when delivered, wait for the ECR's 80 00.
    Delivery(FrameId),
    Ack(Instant),
    Confirm {
        txn: usize,
        deadline: Instant,
    },
}

#[derive(Debug)]
pub struct TerminalCore {
    config: EmulatorConfig,
    link: Link,
    faults: Faults,
    steps: VecDeque<Step>,
    wait: Wait,
    /// The command being executed (to ignore its link-level duplicates).
    current_command: Option<Apdu>,
    /// True while a customer-facing authorisation has not reached its result.
    auth_cancellable: bool,
    down_until: Option<Instant>,
    drop_after_delivery: Option<FrameId>,
    txns: Vec<Transaction>,
    next_receipt: u32,
    next_trace: u32,
    registered: bool,
}

fn auth_code_for(trace: u32) -> String {
    format!("{:06}", (u64::from(trace) * 7919 + 104_729) % 1_000_000)
}

/// The emulator's card: a Mir test number. Only ever held masked unless the `unmasked_pan`
/// fault asks for a misbehaving terminal.
const CARD_PAN: &str = "2200700123456781";

impl TerminalCore {
    pub fn new(config: EmulatorConfig) -> Self {
        let link = Link::new(config.link.clone());
        Self {
            config,
            link,
            faults: Faults::default(),
            steps: VecDeque::new(),
            wait: Wait::None,
            current_command: None,
            auth_cancellable: false,
            down_until: None,
            drop_after_delivery: None,
            txns: Vec::new(),
            next_receipt: 1,
            next_trace: 1,
            registered: false,
        }
    }

    pub fn faults_mut(&mut self) -> &mut Faults {
        &mut self.faults
    }

    pub fn transactions(&self) -> &[Transaction] {
        &self.txns
    }

    pub fn is_idle(&self) -> bool {
        self.steps.is_empty() && self.wait == Wait::None
    }

    pub fn is_registered(&self) -> bool {
        self.registered
    }

    pub fn link_down(&self, now: Instant) -> bool {
        self.down_until.is_some_and(|t| now < t)
    }

    /// Totals of the open batch (booked, not reversed).
    pub fn batch(&self) -> EndOfDayTotals {
        let booked: Vec<&Transaction> = self
            .txns
            .iter()
            .filter(|t| t.in_open_batch && t.state == TxnState::Booked)
            .collect();
        EndOfDayTotals {
            count: booked.len() as u32,
            total_kopecks: booked.iter().map(|t| t.amount_kopecks).sum(),
            receipt_from: booked.first().map(|t| t.receipt_no),
            receipt_to: booked.last().map(|t| t.receipt_no),
        }
    }

    fn send(&mut self, message: Message, now: Instant) -> Option<FrameId> {
        let apdu = match message.to_apdu() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "emulator: cannot encode message");
                return None;
            }
        };
        self.link.send(&apdu, now).ok()
    }

    fn status_of(&self, txn: &Transaction, result_code: u8) -> StatusInformation {
        StatusInformation {
            result_code: Some(result_code),
            amount_kopecks: Some(txn.amount_kopecks),
            trace: Some(txn.trace),
            masked_pan: Some(if self.faults.unmasked_pan {
                CARD_PAN.to_owned()
            } else {
                txn.masked_pan.clone()
            }),
            payment_type: Some(0x60),
            terminal_id: Some(self.config.terminal_id),
            auth_code: (!txn.auth_code.is_empty()).then(|| txn.auth_code.clone()),
            receipt_no: Some(txn.receipt_no),
            currency: Some(CURRENCY_RUB),
            card_type: Some(0xff),
            card_name: Some("MIR".into()),
            ..Default::default()
        }
    }

    fn slip(&self, txn: &Transaction, title: &str) -> Vec<String> {
        let pan_text = if self.faults.unmasked_pan {
            CARD_PAN.to_owned()
        } else {
            txn.masked_pan.clone()
        };
        // ZVT text is code page 437 unless configured otherwise: the slip is ASCII, like real
        // terminals' slips.
        vec![
            format!("TERMINAL {:08}", self.config.terminal_id),
            title.to_owned(),
            format!(
                "AMOUNT: {}.{:02} RUB",
                txn.amount_kopecks / 100,
                txn.amount_kopecks % 100
            ),
            format!("CARD: MIR {pan_text}"),
            format!("AUTH CODE: {}", txn.auth_code),
            format!("RECEIPT: {:04}  TRACE: {:06}", txn.receipt_no, txn.trace),
            "APPROVED".to_owned(),
        ]
    }

    fn completion(&self) -> Message {
        Message::Completion(Completion {
            result_code: None,
            status_byte: Some(0x00),
            terminal_id: Some(self.config.terminal_id),
            currency: Some(CURRENCY_RUB),
            sw_version: None,
        })
    }

    fn reset_flow(&mut self) {
        self.steps.clear();
        self.wait = Wait::None;
        self.current_command = None;
        self.auth_cancellable = false;
    }

    fn reverse_unconfirmed(&mut self, txn: usize, why: &str) {
        if let Some(t) = self.txns.get_mut(txn) {
            if t.state == TxnState::AwaitingConfirmation {
                t.state = TxnState::Reversed;
                tracing::info!(
                    receipt = t.receipt_no,
                    amount = t.amount_kopecks,
                    why,
                    "emulator: approval reversed"
                );
            }
        }
    }

    fn on_command(&mut self, apdu: Apdu, now: Instant) {
        // A link-level duplicate of the command being executed (our ACK was lost): ignore.
        if self.current_command.as_ref() == Some(&apdu) {
            return;
        }
        let message = match Message::from_apdu(&apdu) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "emulator: malformed command");
                self.send(Message::Nack { code: 0x9a }, now);
                return;
            }
        };
        match message {
            Message::Ack | Message::Nack { .. } => {
                self.on_ecr_answer(message, now);
                return;
            }
            Message::EcrAbort => {
                self.send(Message::Ack, now);
                if self.auth_cancellable {
                    self.reset_flow();
                    self.send(
                        Message::Abort {
                            result_code: RESULT_ABORTED,
                        },
                        now,
                    );
                }
                return;
            }
            _ => {}
        }
        // A new command while an approval waits for confirmation: the ECR moved on without
        // confirming, so the approval is reversed first.
        if let Wait::Confirm { txn, .. } = self.wait {
            self.reverse_unconfirmed(txn, "ECR sent a new command instead of confirming");
            self.reset_flow();
        }
        if !self.is_idle() || std::mem::take(&mut self.faults.busy_next) {
            tracing::info!(wait = ?self.wait, steps = self.steps.len(), "emulator: busy, command refused");
            self.send(Message::Nack { code: NACK_BUSY }, now);
            return;
        }
        self.current_command = Some(apdu);
        self.send(Message::Ack, now);
        self.wait = Wait::Until(now);
        match message {
            Message::Registration { .. } => {
                self.registered = true;
                self.steps.push_back(Step::Send(self.completion()));
            }
            Message::StatusEnquiry { .. } => self.steps.push_back(Step::Send(self.completion())),
            Message::Diagnosis => {
                self.steps
                    .push_back(Step::Send(Message::IntermediateStatus {
                        status: 0x06,
                        timeout: None,
                    }));
                self.steps.push_back(Step::Pause(self.config.prompt_delay));
                self.steps.push_back(Step::Send(self.completion()));
            }
            Message::Authorisation { amount_kopecks, .. } => {
                self.plan_authorisation(amount_kopecks)
            }
            Message::RepeatLastResult { .. } => self.plan_repeat(),
            Message::Reversal { receipt_no, .. } => self.plan_reversal(receipt_no),
            Message::EndOfDay { .. } => self.plan_end_of_day(),
            other => {
                tracing::info!(?other, "emulator: command not supported");
                self.steps.push_back(Step::Send(Message::Abort {
                    result_code: RESULT_NOT_POSSIBLE,
                }));
            }
        }
    }

    fn plan_authorisation(&mut self, amount_kopecks: i64) {
        let delay = self.config.prompt_delay;
        self.auth_cancellable = true;
        self.steps
            .push_back(Step::Send(Message::IntermediateStatus {
                status: 0x0a,
                timeout: None,
            }));
        self.steps.push_back(Step::Pause(delay));
        if std::mem::take(&mut self.faults.cancel_next) {
            self.steps.push_back(Step::Send(Message::Abort {
                result_code: RESULT_ABORTED,
            }));
            return;
        }
        self.steps
            .push_back(Step::Send(Message::IntermediateStatus {
                status: 0x01,
                timeout: None,
            }));
        self.steps.push_back(Step::Pause(delay));
        self.steps
            .push_back(Step::Send(Message::IntermediateStatus {
                status: 0x04,
                timeout: None,
            }));
        self.steps.push_back(Step::Pause(delay));
        let mut slow = self.faults.extra_delay;
        while !slow.is_zero() {
            let chunk = slow.min(self.config.keepalive);
            self.steps.push_back(Step::Pause(chunk));
            slow -= chunk;
            self.steps
                .push_back(Step::Send(Message::IntermediateStatus {
                    status: 0x17,
                    timeout: None,
                }));
        }
        self.steps.push_back(Step::Decide { amount_kopecks });
    }

    fn decline_code(&mut self, amount_kopecks: i64) -> Option<u8> {
        if std::mem::take(&mut self.faults.decline_next) {
            return Some(0x05);
        }
        match amount_kopecks % 100 {
            13 => Some(0x05),
            51 => Some(0x33),
            _ if amount_kopecks > 10_000_000 => Some(0xc3),
            _ => None,
        }
    }

    fn decide(&mut self, amount_kopecks: i64) {
        self.auth_cancellable = false;
        let trace = self.next_trace;
        self.next_trace += 1;
        let declined = self.decline_code(amount_kopecks);
        let receipt_no = if declined.is_none() {
            let r = self.next_receipt;
            self.next_receipt = self.next_receipt % 9999 + 1;
            r
        } else {
            0
        };
        let txn = Transaction {
            receipt_no,
            trace,
            amount_kopecks,
            result_code: declined.unwrap_or(0),
            state: if declined.is_some() {
                TxnState::Declined
            } else {
                TxnState::AwaitingConfirmation
            },
            masked_pan: pan::mask_pan(CARD_PAN),
            auth_code: if declined.is_some() {
                String::new()
            } else {
                auth_code_for(trace)
            },
            in_open_batch: declined.is_none(),
        };
        let status = self.status_of(&txn, txn.result_code);
        self.txns.push(txn);
        match declined {
            Some(code) => {
                tracing::info!(
                    amount = amount_kopecks,
                    code,
                    "emulator: authorisation declined"
                );
                self.steps
                    .push_back(Step::Send(Message::IntermediateStatus {
                        status: 0x1d,
                        timeout: None,
                    }));
                self.steps
                    .push_back(Step::Send(Message::StatusInformation(Box::new(status))));
                self.steps
                    .push_back(Step::Send(Message::Abort { result_code: code }));
            }
            None => {
                tracing::info!(
                    amount = amount_kopecks,
                    receipt = receipt_no,
                    "emulator: authorisation approved"
                );
                self.steps.push_back(Step::SendApproval {
                    txn: self.txns.len() - 1,
                });
            }
        }
    }

    fn plan_repeat(&mut self) {
        match self.txns.last().cloned() {
            Some(txn) => {
                let code = match txn.state {
                    TxnState::Booked => 0,
                    TxnState::Reversed | TxnState::AwaitingConfirmation => RESULT_ABORTED,
                    TxnState::Declined => txn.result_code,
                };
                let status = self.status_of(&txn, code);
                self.steps
                    .push_back(Step::Send(Message::StatusInformation(Box::new(status))));
                self.steps.push_back(Step::Send(self.completion()));
            }
            None => self.steps.push_back(Step::Send(Message::Abort {
                result_code: RESULT_NOT_POSSIBLE,
            })),
        }
    }

    fn plan_reversal(&mut self, receipt_no: u32) {
        let found = self
            .txns
            .iter()
            .position(|t| t.receipt_no == receipt_no && t.state == TxnState::Booked);
        let Some(index) = found else {
            self.steps.push_back(Step::Send(Message::Abort {
                result_code: RESULT_NOT_POSSIBLE,
            }));
            return;
        };
        self.txns[index].state = TxnState::Reversed;
        let txn = self.txns[index].clone();
        tracing::info!(
            receipt = receipt_no,
            amount = txn.amount_kopecks,
            "emulator: reversal"
        );
        self.steps
            .push_back(Step::Send(Message::IntermediateStatus {
                status: 0x04,
                timeout: None,
            }));
        self.steps.push_back(Step::Pause(self.config.prompt_delay));
        let status = self.status_of(&txn, 0);
        self.steps
            .push_back(Step::Send(Message::StatusInformation(Box::new(status))));
        self.steps.push_back(Step::Send(Message::PrintTextBlock {
            receipt_type: Some(1),
            lines: self.slip(&txn, "REVERSAL"),
        }));
        self.steps.push_back(Step::Send(self.completion()));
    }

    fn plan_end_of_day(&mut self) {
        let totals = self.batch();
        for txn in &mut self.txns {
            txn.in_open_batch = false;
        }
        let bmp60 = match totals.to_bmp60() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "emulator: cannot encode totals");
                self.steps.push_back(Step::Send(Message::Abort {
                    result_code: RESULT_NOT_POSSIBLE,
                }));
                return;
            }
        };
        let status = StatusInformation {
            result_code: Some(0),
            amount_kopecks: Some(totals.total_kopecks),
            terminal_id: Some(self.config.terminal_id),
            individual_totals: Some(bmp60),
            currency: Some(CURRENCY_RUB),
            ..Default::default()
        };
        self.steps
            .push_back(Step::Send(Message::IntermediateStatus {
                status: 0x06,
                timeout: None,
            }));
        self.steps
            .push_back(Step::Send(Message::StatusInformation(Box::new(status))));
        self.steps.push_back(Step::Send(Message::PrintTextBlock {
            receipt_type: Some(3),
            lines: vec![
                "END OF DAY".to_owned(),
                format!("PAYMENTS: {}", totals.count),
                format!(
                    "TOTAL: {}.{:02} RUB",
                    totals.total_kopecks / 100,
                    totals.total_kopecks % 100
                ),
            ],
        }));
        self.steps.push_back(Step::Send(self.completion()));
    }

    fn on_ecr_answer(&mut self, message: Message, now: Instant) {
        match self.wait {
            Wait::Ack(_) | Wait::Delivery(_) => {
                self.wait = Wait::Until(now);
            }
            Wait::Confirm { txn, .. } => {
                if message == Message::Ack {
                    let Some(t) = self.txns.get_mut(txn) else {
                        return;
                    };
                    t.state = TxnState::Booked;
                    tracing::info!(
                        receipt = t.receipt_no,
                        "emulator: approval confirmed, booked"
                    );
                    let t = t.clone();
                    if std::mem::take(&mut self.faults.slow_slip_next) {
                        self.steps.push_back(Step::Pause(Duration::from_secs(3)));
                    }
                    self.steps.push_back(Step::Send(Message::PrintTextBlock {
                        receipt_type: Some(1),
                        lines: self.slip(&t, "SALE"),
                    }));
                    self.steps.push_back(Step::Send(self.completion()));
                } else {
                    self.reverse_unconfirmed(txn, "ECR answered goods not issued");
                    self.steps
                        .push_back(Step::Send(Message::IntermediateStatus {
                            status: 0x05,
                            timeout: None,
                        }));
                    self.steps.push_back(Step::Send(Message::Abort {
                        result_code: RESULT_ABORTED,
                    }));
                }
                self.wait = Wait::Until(now);
            }
            _ => {}
        }
    }

    fn on_link_event(&mut self, event: LinkEvent, now: Instant) {
        match event {
            LinkEvent::Received(apdu) => self.on_command(apdu, now),
            LinkEvent::Malformed(_) => {
                self.send(Message::Nack { code: 0x9a }, now);
            }
            LinkEvent::Delivered(id) => {
                if self.drop_after_delivery == Some(id) {
                    self.drop_after_delivery = None;
                    self.down_until = Some(now + self.config.drop_duration);
                    tracing::info!("emulator: link drop (fault injection)");
                }
                match self.wait {
                    Wait::Delivery(frame) if frame == id => {
                        self.wait = Wait::Ack(now + self.config.t3)
                    }
                    _ => {}
                }
            }
            LinkEvent::Failed(_) => {
                // The ECR is gone; an unconfirmed approval waits for its own timeout.
                if !matches!(self.wait, Wait::Confirm { .. }) {
                    tracing::info!("emulator: link failed, flow abandoned");
                    self.reset_flow();
                }
            }
        }
    }

    /// Runs queued steps as far as waits allow.
    fn advance(&mut self, now: Instant) {
        loop {
            match self.wait {
                Wait::Until(t) if t <= now => self.wait = Wait::None,
                Wait::Ack(t) if t <= now => {
                    tracing::debug!("emulator: no 80 00 from ECR within T3, continuing");
                    self.wait = Wait::None;
                }
                Wait::Confirm { txn, deadline, .. } if deadline <= now => {
                    self.reverse_unconfirmed(txn, "no confirmation from ECR in time");
                    self.reset_flow();
                    return;
                }
                Wait::None => {}
                _ => return,
            }
            let Some(step) = self.steps.pop_front() else {
                self.current_command = None;
                return;
            };
            match step {
                Step::Pause(d) => self.wait = Wait::Until(now + d),
                Step::Send(message) => {
                    if let Some(id) = self.send(message, now) {
                        self.wait = Wait::Delivery(id);
                    }
                }
                Step::Decide { amount_kopecks } => self.decide(amount_kopecks),
                Step::SendApproval { txn } => {
                    let Some(t) = self.txns.get(txn).cloned() else {
                        continue;
                    };
                    let status = self.status_of(&t, 0);
                    if let Some(frame) =
                        self.send(Message::StatusInformation(Box::new(status)), now)
                    {
                        if std::mem::take(&mut self.faults.drop_link_next) {
                            self.drop_after_delivery = Some(frame);
                        }
                        self.wait = Wait::Confirm {
                            txn,
                            deadline: now + self.config.confirm_timeout,
                        };
                    }
                }
            }
        }
    }

    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.link_down(now) {
            return;
        }
        if std::mem::take(&mut self.faults.lose_ack_next) {
            self.link.swallow_next_ack();
        }
        self.link.handle_input(bytes, now);
        // Advance after each event: one read can carry the end of one exchange and the start of
        // the next (the ECR's last 80 00 and its next command).
        while let Some(event) = self.link.poll_event() {
            self.on_link_event(event, now);
            self.advance(now);
        }
        self.advance(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.down_until.is_some_and(|t| t <= now) {
            self.down_until = None;
            tracing::info!("emulator: link restored");
        }
        self.link.handle_timeout(now);
        while let Some(event) = self.link.poll_event() {
            self.on_link_event(event, now);
            self.advance(now);
        }
        self.advance(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let app = match self.wait {
            Wait::Until(t) | Wait::Ack(t) => Some(t),
            Wait::Confirm { deadline, .. } => Some(deadline),
            _ => None,
        };
        [app, self.link.poll_timeout(), self.down_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// Bytes for the wire; while the link is down they are lost, as on a cut cable.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        loop {
            let bytes = self.link.poll_transmit()?;
            if !self.link_down(now) {
                return Some(bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::frame::encode_frame;

    fn frame(message: Message) -> Vec<u8> {
        encode_frame(&message.to_apdu().unwrap().encode().unwrap())
    }

    #[test]
    fn the_emulated_card_number_is_a_real_looking_one() {
        // Otherwise the PAN-leak tests that use it could not fail.
        assert!(pan::contains_full_pan(CARD_PAN));
    }

    #[test]
    fn last_answer_and_next_command_in_one_read() {
        let now = Instant::now();
        let mut pt = TerminalCore::new(EmulatorConfig::default());
        pt.handle_input(&frame(Message::StatusEnquiry { password: None }), now);
        // PT: ACK, 80 00, then the completion; the ECR acknowledges both frames.
        while pt.poll_transmit(now).is_some() {}
        pt.handle_input(&[0x06], now);
        while pt.poll_transmit(now).is_some() {}
        pt.handle_input(&[0x06], now);
        assert!(
            !pt.is_idle(),
            "waiting for the ECR's 80 00 to the completion"
        );
        let mut bytes = frame(Message::Ack);
        bytes.extend(frame(Message::Registration {
            password: 0,
            config: 0xbe,
            currency: None,
            service_byte: None,
        }));
        pt.handle_input(&bytes, now);
        let mut out = Vec::new();
        while let Some(b) = pt.poll_transmit(now) {
            out.extend(b);
        }
        let busy = frame(Message::Nack { code: NACK_BUSY });
        assert!(
            !out.windows(busy.len()).any(|w| w == busy.as_slice()),
            "second command refused as busy"
        );
        let ack = frame(Message::Ack);
        assert!(
            out.windows(ack.len()).any(|w| w == ack.as_slice()),
            "second command accepted"
        );
        assert!(pt.is_registered());
    }
}
