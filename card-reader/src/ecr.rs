//! Sans-IO ECR (cash-register side) protocol core: one operation at a time over the link layer.
//!
//! Application timers: after a command is delivered the PT must answer 80 00 within T3; then the
//! operation must end within T4, which restarts on every intermediate status (04 FF). An approved
//! authorisation (04 0F with result 00) is *not* acknowledged until the host decides
//! ([`EcrCore::decide`]): 80 00 = goods issued, 84 66 = not issued, the PT reverses.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::codec::Apdu;
use crate::link::{FrameId, Link, LinkConfig, LinkEvent};
use crate::messages::{
    Completion, Message, StatusInformation, CURRENCY_RUB, KIOSK_CONFIG_BYTE, NACK_GOODS_NOT_ISSUED,
};
use crate::texts;

#[derive(Debug, Clone)]
pub struct EcrConfig {
    pub link: LinkConfig,
    /// T3: the PT's 80 00 to a command.
    pub t3: Duration,
    /// T4: the end of a running operation, restarted by each 04 FF.
    pub t4: Duration,
    /// Terminal password (6 BCD digits) for registration, end of day, reversal, repeat.
    pub password: u32,
}

impl Default for EcrConfig {
    fn default() -> Self {
        Self {
            link: LinkConfig::default(),
            t3: Duration::from_secs(5),
            t4: Duration::from_secs(180),
            password: 0,
        }
    }
}

/// What the ECR asks the PT to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Registration,
    Authorise { amount_kopecks: i64 },
    RepeatLastResult,
    StatusEnquiry,
    Reversal { receipt_no: u32 },
    EndOfDay,
    Diagnosis,
}

impl Operation {
    fn message(&self, password: u32) -> Message {
        match self {
            Operation::Registration => Message::Registration {
                password,
                config: KIOSK_CONFIG_BYTE,
                currency: Some(CURRENCY_RUB),
                service_byte: Some(0x01),
            },
            Operation::Authorise { amount_kopecks } => Message::Authorisation {
                amount_kopecks: *amount_kopecks,
                currency: Some(CURRENCY_RUB),
                payment_type: None,
            },
            Operation::RepeatLastResult => Message::RepeatLastResult { password },
            Operation::StatusEnquiry => Message::StatusEnquiry { password: None },
            Operation::Reversal { receipt_no } => Message::Reversal {
                password,
                receipt_no: *receipt_no,
            },
            Operation::EndOfDay => Message::EndOfDay { password },
            Operation::Diagnosis => Message::Diagnosis,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpEnd {
    /// 06 0F.
    Completed(Completion),
    /// 06 1E with its result code.
    Aborted(u8),
    /// 84 xx to the command itself: nothing was started.
    Refused(u8),
    /// Link failure or T3/T4 expiry after the command may have reached the PT.
    Unknown(String),
    /// The command could not be delivered at all and the PT cannot have started it... unless
    /// it received the frame and only our ACK wait failed; treated like `Unknown` for money.
    NotDelivered(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpResult {
    pub operation: Operation,
    pub end: OpEnd,
    /// The last status information (04 0F) received during the operation.
    pub status: Option<Box<StatusInformation>>,
    pub print_lines: Vec<String>,
    /// The host's answer to an approval, if one was asked for.
    pub decision: Option<bool>,
    /// Whether the PT acknowledged (link ACK) the frame carrying that answer.
    pub decision_delivered: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcrEvent {
    Prompt {
        status: u8,
        text_ru: &'static str,
    },
    /// Approved authorisation: call [`EcrCore::decide`].
    DecisionNeeded(Box<StatusInformation>),
    Finished(Box<OpResult>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Command queued, not yet acknowledged at link level.
    Sending(FrameId),
    /// Command delivered; waiting for 80 00 until the deadline (T3).
    AwaitAck(Instant),
    /// Running; must end before the deadline (T4).
    Running(Instant),
    /// An approval waits for the host (who answers in milliseconds; T4 still bounds it).
    AwaitDecision(Instant),
}

#[derive(Debug)]
struct Active {
    op: Operation,
    phase: Phase,
    status: Option<Box<StatusInformation>>,
    lines: Vec<String>,
    decision: Option<bool>,
    decision_frame: Option<FrameId>,
    decision_delivered: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EcrError {
    #[error("another card-terminal operation is running")]
    Busy,
    #[error("no approval is waiting for a decision")]
    NoDecisionPending,
    #[error("cannot encode the command: {0}")]
    Encode(#[from] crate::codec::CodecError),
}

#[derive(Debug)]
pub struct EcrCore {
    config: EcrConfig,
    link: Link,
    active: Option<Active>,
    events: VecDeque<EcrEvent>,
}

impl EcrCore {
    pub fn new(config: EcrConfig) -> Self {
        let link = Link::new(config.link.clone());
        Self {
            config,
            link,
            active: None,
            events: VecDeque::new(),
        }
    }

    pub fn is_idle(&self) -> bool {
        self.active.is_none()
    }

    pub fn start(&mut self, op: Operation, now: Instant) -> Result<(), EcrError> {
        if self.active.is_some() {
            return Err(EcrError::Busy);
        }
        let apdu = op.message(self.config.password).to_apdu()?;
        let id = self.link.send(&apdu, now)?;
        tracing::debug!(
            command = format_args!("{:04x}", apdu.command()),
            "zvt: command queued"
        );
        self.active = Some(Active {
            op,
            phase: Phase::Sending(id),
            status: None,
            lines: Vec::new(),
            decision: None,
            decision_frame: None,
            decision_delivered: false,
        });
        Ok(())
    }

    /// The host's answer to an approval: `true` = goods issued (80 00), `false` = 84 66.
    pub fn decide(&mut self, goods_issued: bool, now: Instant) -> Result<(), EcrError> {
        let Some(active) = self.active.as_mut() else {
            return Err(EcrError::NoDecisionPending);
        };
        if !matches!(active.phase, Phase::AwaitDecision(_)) {
            return Err(EcrError::NoDecisionPending);
        }
        let answer = if goods_issued {
            Message::Ack
        } else {
            Message::Nack {
                code: NACK_GOODS_NOT_ISSUED,
            }
        };
        let id = self.link.send_answer(&answer.to_apdu()?, now)?;
        active.decision = Some(goods_issued);
        active.decision_frame = Some(id);
        active.phase = Phase::Running(now + self.config.t4);
        Ok(())
    }

    /// Customer cancel on the kiosk: 06 B0 to the PT while an operation runs.
    pub fn abort(&mut self, now: Instant) -> Result<(), EcrError> {
        if self.active.is_none() {
            return Ok(());
        }
        self.link.send(&Message::EcrAbort.to_apdu()?, now)?;
        Ok(())
    }

    fn reply(&mut self, message: Message, now: Instant) {
        match message.to_apdu() {
            Ok(apdu) => {
                if let Err(e) = self.link.send_answer(&apdu, now) {
                    tracing::error!(error = %e, "zvt: cannot encode reply");
                }
            }
            Err(e) => tracing::error!(error = %e, "zvt: cannot encode reply"),
        }
    }

    fn finish(&mut self, end: OpEnd) {
        if let Some(active) = self.active.take() {
            if let OpEnd::Unknown(detail) | OpEnd::NotDelivered(detail) = &end {
                tracing::warn!(operation = ?active.op, detail = %detail, "zvt: operation outcome unknown");
            }
            self.events.push_back(EcrEvent::Finished(Box::new(OpResult {
                operation: active.op,
                end,
                status: active.status,
                print_lines: active.lines,
                decision: active.decision,
                decision_delivered: active.decision_delivered,
            })));
        }
    }

    fn on_apdu(&mut self, apdu: Apdu, now: Instant) {
        let message = match Message::from_apdu(&apdu) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, command = format_args!("{:04x}", apdu.command()), "zvt: undecodable message from PT");
                // Acknowledge so the PT does not stall; the data is lost to us but logged.
                self.reply(Message::Ack, now);
                return;
            }
        };
        let t4 = self.config.t4;
        let Some(active) = self.active.as_mut() else {
            self.answer_unexpected(message, now);
            return;
        };
        // The PT answers a command with 80 00 or 84 xx before anything else. Other messages now
        // are left over from an earlier exchange (e.g. before a restart): acknowledge, ignore.
        if matches!(active.phase, Phase::Sending(_) | Phase::AwaitAck(_)) {
            match message {
                Message::Ack => {
                    active.phase = Phase::Running(now + t4);
                    self.link.answered(now);
                }
                Message::Nack { code } => {
                    // Refused: the command arrived; a repeat would run as a new one.
                    self.link.answered(now);
                    self.finish(OpEnd::Refused(code));
                }
                stale => self.answer_unexpected(stale, now),
            }
            return;
        }
        match message {
            Message::IntermediateStatus { status, timeout } => {
                if let Phase::Running(_) = active.phase {
                    let extra = Duration::from_secs(timeout.map(u64::from).unwrap_or(0));
                    active.phase = Phase::Running(now + t4.max(extra));
                }
                self.events.push_back(EcrEvent::Prompt {
                    status,
                    text_ru: texts::prompt_ru(status),
                });
                self.reply(Message::Ack, now);
            }
            Message::StatusInformation(info) => {
                let approved_auth =
                    matches!(active.op, Operation::Authorise { .. }) && info.result_code == Some(0);
                if approved_auth && active.decision.is_none() {
                    if !matches!(active.phase, Phase::AwaitDecision(_)) {
                        active.phase = Phase::AwaitDecision(now + t4);
                        active.status = Some(info.clone());
                        self.events.push_back(EcrEvent::DecisionNeeded(info));
                    }
                } else if approved_auth {
                    // The PT repeated the status information: repeat our answer.
                    let answer = if active.decision == Some(true) {
                        Message::Ack
                    } else {
                        Message::Nack {
                            code: NACK_GOODS_NOT_ISSUED,
                        }
                    };
                    self.reply(answer, now);
                } else {
                    active.status = Some(info);
                    self.reply(Message::Ack, now);
                }
            }
            Message::PrintLine { text, .. } => {
                active.lines.push(text);
                self.reply(Message::Ack, now);
            }
            Message::PrintTextBlock { lines, .. } => {
                active.lines.extend(lines);
                self.reply(Message::Ack, now);
            }
            Message::Completion(completion) => {
                self.reply(Message::Ack, now);
                self.finish(OpEnd::Completed(completion));
            }
            Message::Abort { result_code } => {
                self.reply(Message::Ack, now);
                self.finish(OpEnd::Aborted(result_code));
            }
            Message::Ack | Message::Nack { .. } => {}
            other => {
                tracing::info!(
                    ?other,
                    "zvt: unexpected message during operation, acknowledged"
                );
                self.reply(Message::Ack, now);
            }
        }
    }

    /// A message that belongs to no running exchange (left over from before a restart, or sent
    /// while idle). An approval among them was never confirmed by this ECR and nobody journaled a
    /// decision for it, so it is answered "goods not issued" (84 66): the terminal reverses it.
    fn answer_unexpected(&mut self, message: Message, now: Instant) {
        match message {
            Message::Ack | Message::Nack { .. } => {}
            Message::StatusInformation(info)
                if info.result_code == Some(0) && info.receipt_no.is_some() =>
            {
                tracing::warn!(
                    receipt = ?info.receipt_no, amount = ?info.amount_kopecks,
                    "zvt: unexpected approval, answered goods-not-issued so the terminal reverses it"
                );
                self.reply(
                    Message::Nack {
                        code: NACK_GOODS_NOT_ISSUED,
                    },
                    now,
                );
            }
            other => {
                tracing::info!(?other, "zvt: unexpected message, acknowledged and ignored");
                self.reply(Message::Ack, now);
            }
        }
    }

    fn on_link_event(&mut self, event: LinkEvent, now: Instant) {
        match event {
            LinkEvent::Received(apdu) => self.on_apdu(apdu, now),
            LinkEvent::Malformed(e) => {
                tracing::warn!(error = %e, "zvt: malformed APDU from PT");
                self.reply(Message::Ack, now);
            }
            LinkEvent::Delivered(id) => {
                let t3 = self.config.t3;
                if let Some(active) = self.active.as_mut() {
                    if active.phase == Phase::Sending(id) {
                        active.phase = Phase::AwaitAck(now + t3);
                    }
                    if active.decision_frame == Some(id) {
                        active.decision_delivered = true;
                    }
                }
            }
            LinkEvent::Failed(_) => {
                if let Some(active) = self.active.as_ref() {
                    let end = if matches!(active.phase, Phase::Sending(_)) {
                        OpEnd::NotDelivered("command frame not acknowledged by the terminal".into())
                    } else {
                        OpEnd::Unknown("link to the terminal failed".into())
                    };
                    self.finish(end);
                }
            }
        }
    }

    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        self.link.handle_input(bytes, now);
        self.pump_link(now);
    }

    fn pump_link(&mut self, now: Instant) {
        while let Some(event) = self.link.poll_event() {
            self.on_link_event(event, now);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        self.pump_link(now);
        let expired = match self.active.as_ref().map(|a| a.phase) {
            Some(Phase::AwaitAck(deadline)) if deadline <= now => {
                Some("no answer to the command within T3")
            }
            Some(Phase::Running(deadline)) if deadline <= now => {
                Some("operation did not end within T4")
            }
            Some(Phase::AwaitDecision(deadline)) if deadline <= now => {
                Some("the host did not answer the approval within T4")
            }
            _ => None,
        };
        if let Some(detail) = expired {
            self.finish(OpEnd::Unknown(detail.into()));
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let app = match self.active.as_ref().map(|a| a.phase) {
            Some(Phase::AwaitAck(d)) | Some(Phase::Running(d)) | Some(Phase::AwaitDecision(d)) => {
                Some(d)
            }
            _ => None,
        };
        match (app, self.link.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.link.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<EcrEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::frame::{encode_frame, FrameDecoder, Token, ACK};
    use crate::messages::{StatusInformation, NACK_BUSY};

    fn pt_says(ecr: &mut EcrCore, message: Message, now: Instant) {
        ecr.handle_input(
            &encode_frame(&message.to_apdu().unwrap().encode().unwrap()),
            now,
        );
    }

    /// Acknowledges every frame the ECR sent; returns their APDUs.
    fn ack_all(ecr: &mut EcrCore, now: Instant) -> Vec<Vec<u8>> {
        let mut decoder = FrameDecoder::new();
        let mut apdus = Vec::new();
        while let Some(bytes) = ecr.poll_transmit() {
            for b in bytes {
                if let Some(Token::Frame(apdu)) = decoder.push(b) {
                    apdus.push(apdu);
                    ecr.handle_input(&[ACK], now);
                }
            }
        }
        apdus
    }

    fn finished(ecr: &mut EcrCore) -> Option<OpResult> {
        std::iter::from_fn(|| ecr.poll_event()).find_map(|e| match e {
            EcrEvent::Finished(r) => Some(*r),
            _ => None,
        })
    }

    /// The frames the ECR sends within `span` (no ACKs from the terminal).
    fn sent_unacked(ecr: &mut EcrCore, from: Instant, span: Duration) -> Vec<Vec<u8>> {
        let mut decoder = FrameDecoder::new();
        let mut apdus = Vec::new();
        let mut now = from;
        while now <= from + span {
            ecr.handle_timeout(now);
            while let Some(bytes) = ecr.poll_transmit() {
                for b in bytes {
                    if let Some(Token::Frame(apdu)) = decoder.push(b) {
                        apdus.push(apdu);
                    }
                }
            }
            now += Duration::from_millis(250);
        }
        apdus
    }

    /// Regression (found by `terminal simulate-faults`, seed 1105): the idle ECR answered a
    /// status with 80 00; the terminal's ACK was lost and it sent an approval next. The link
    /// repeated the 80 00, which the terminal took as "goods issued": money taken for a payment
    /// nobody had. The terminal's next frame implies ours arrived: nothing is repeated.
    #[test]
    fn an_answer_the_terminal_went_past_is_not_repeated_into_its_approval() {
        let t0 = Instant::now();
        let mut ecr = EcrCore::new(EcrConfig::default());
        pt_says(
            &mut ecr,
            Message::IntermediateStatus {
                status: 0x04,
                timeout: None,
            },
            t0,
        );
        let approval = StatusInformation {
            result_code: Some(0),
            amount_kopecks: Some(162_000),
            receipt_no: Some(1),
            ..Default::default()
        };
        pt_says(&mut ecr, Message::StatusInformation(Box::new(approval)), t0);
        let sent = sent_unacked(&mut ecr, t0, Duration::from_secs(30));
        let acks = sent.iter().filter(|a| a[..2] == [0x80, 0x00]).count();
        let not_issued = sent.iter().filter(|a| a[..3] == [0x84, 0x66, 0x00]).count();
        assert_eq!(acks, 1, "{sent:02x?}");
        assert!(not_issued >= 1, "{sent:02x?}");
        assert!(
            sent.iter().position(|a| a[..2] == [0x80, 0x00])
                < sent.iter().position(|a| a[..2] == [0x84, 0x66]),
            "{sent:02x?}"
        );
    }

    /// Regression (same seed): the terminal refused a command as busy and its ACK was lost; the
    /// link repeated the command after the ECR had given the operation up, and the terminal ran
    /// it as a new authorisation.
    #[test]
    fn a_command_the_terminal_answered_is_not_repeated() {
        let t0 = Instant::now();
        let mut ecr = EcrCore::new(EcrConfig::default());
        ecr.start(
            Operation::Authorise {
                amount_kopecks: 162_000,
            },
            t0,
        )
        .unwrap();
        let first = sent_unacked(&mut ecr, t0, Duration::ZERO);
        assert_eq!(first.len(), 1);
        pt_says(&mut ecr, Message::Nack { code: NACK_BUSY }, t0);
        assert!(matches!(
            finished(&mut ecr).map(|r| r.end),
            Some(OpEnd::Refused(NACK_BUSY))
        ));
        let later = sent_unacked(&mut ecr, t0, Duration::from_secs(30));
        assert!(
            !later.iter().any(|a| a[..2] == [0x06, 0x01]),
            "the authorisation went out again: {later:02x?}"
        );
    }

    #[test]
    fn t4_restarts_on_intermediate_status_and_expires_without() {
        let t0 = Instant::now();
        let config = EcrConfig {
            t4: Duration::from_secs(10),
            ..Default::default()
        };
        let mut ecr = EcrCore::new(config);
        ecr.start(
            Operation::Authorise {
                amount_kopecks: 100,
            },
            t0,
        )
        .unwrap();
        ack_all(&mut ecr, t0);
        pt_says(&mut ecr, Message::Ack, t0);
        // 04 FF every 8 s keeps it alive past several T4 periods.
        for i in 1..=5 {
            let at = t0 + Duration::from_secs(8 * i);
            ecr.handle_timeout(at);
            pt_says(
                &mut ecr,
                Message::IntermediateStatus {
                    status: 0x17,
                    timeout: None,
                },
                at,
            );
            ack_all(&mut ecr, at);
        }
        assert!(finished(&mut ecr).is_none());
        ecr.handle_timeout(t0 + Duration::from_secs(40 + 11));
        let result = finished(&mut ecr).expect("T4 expired");
        assert!(matches!(result.end, OpEnd::Unknown(_)));
    }

    #[test]
    fn a_stray_approval_is_never_confirmed() {
        let t0 = Instant::now();
        let mut ecr = EcrCore::new(EcrConfig::default());
        let approved = StatusInformation {
            result_code: Some(0),
            amount_kopecks: Some(100),
            receipt_no: Some(3),
            ..Default::default()
        };
        // While idle (a new driver after a crash hears the terminal resend its approval) ...
        pt_says(
            &mut ecr,
            Message::StatusInformation(Box::new(approved.clone())),
            t0,
        );
        assert_eq!(ack_all(&mut ecr, t0), vec![vec![0x84, 0x66, 0x00]]);
        // ... and before the terminal acknowledged our next command.
        ecr.start(Operation::RepeatLastResult, t0).unwrap();
        ack_all(&mut ecr, t0);
        pt_says(&mut ecr, Message::StatusInformation(Box::new(approved)), t0);
        assert_eq!(ack_all(&mut ecr, t0), vec![vec![0x84, 0x66, 0x00]]);
        // Other stray messages are simply acknowledged.
        pt_says(
            &mut ecr,
            Message::IntermediateStatus {
                status: 0x0a,
                timeout: None,
            },
            t0,
        );
        assert_eq!(ack_all(&mut ecr, t0), vec![vec![0x80, 0x00, 0x00]]);
    }

    #[test]
    fn t3_expires_when_the_command_is_not_answered() {
        let t0 = Instant::now();
        let mut ecr = EcrCore::new(EcrConfig::default());
        ecr.start(Operation::StatusEnquiry, t0).unwrap();
        ack_all(&mut ecr, t0);
        ecr.handle_timeout(t0 + Duration::from_secs(4));
        assert!(finished(&mut ecr).is_none());
        ecr.handle_timeout(t0 + Duration::from_secs(6));
        assert!(matches!(finished(&mut ecr).unwrap().end, OpEnd::Unknown(_)));
    }

    #[test]
    fn approval_is_not_acknowledged_until_the_host_decides() {
        let t0 = Instant::now();
        let mut ecr = EcrCore::new(EcrConfig::default());
        ecr.start(
            Operation::Authorise {
                amount_kopecks: 100,
            },
            t0,
        )
        .unwrap();
        ack_all(&mut ecr, t0);
        pt_says(&mut ecr, Message::Ack, t0);
        let approved = StatusInformation {
            result_code: Some(0),
            amount_kopecks: Some(100),
            receipt_no: Some(9),
            ..Default::default()
        };
        pt_says(&mut ecr, Message::StatusInformation(Box::new(approved)), t0);
        assert!(
            ack_all(&mut ecr, t0).is_empty(),
            "no 80 00 before the decision"
        );
        assert!(matches!(
            ecr.poll_event(),
            Some(EcrEvent::DecisionNeeded(_))
        ));
        ecr.decide(false, t0).unwrap();
        assert_eq!(ack_all(&mut ecr, t0), vec![vec![0x84, 0x66, 0x00]]);
        pt_says(&mut ecr, Message::Abort { result_code: 0x6c }, t0);
        let result = finished(&mut ecr).unwrap();
        assert_eq!(
            (result.decision, result.decision_delivered),
            (Some(false), true)
        );
    }
}
