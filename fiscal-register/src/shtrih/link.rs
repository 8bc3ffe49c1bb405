//! The host side of the Shtrih-M link layer as a sans-IO state machine: the ENQ/ACK/NAK
//! handshake around one command frame at a time, byte timeout, retries, and the rule that
//! decides whether a failed exchange may have been executed.
//!
//! The handshake ("Протокол ККТ Штрих-М, версия 2.0", section "Протокол обмена"): the host
//! sends ENQ; NAK means the KKT is idle and ready for a command, ACK means it has an answer
//! pending (the host reads it, ACKs it and asks again), silence means there is no link. The
//! host sends the frame; the KKT answers ACK (taken) or NAK (garbled, send again), runs the
//! command and sends its answer frame, which the host ACKs; a garbled answer is NAKed and
//! asked for again with ENQ ("the KKT does not repeat on NAK, it waits for ENQ").
//!
//! A command is never sent twice once the KKT has acknowledged it, unless it only reads
//! (status queries): a lost answer to a sale is reported as [`ShtrihError::OutcomeUnknown`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::errors::ShtrihError;
use super::frame::{encode, Command, Token, Tokenizer, ACK, ENQ, NAK};

/// Timeouts and retry counts of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// How long to wait for the byte that answers ENQ.
    pub enq_timeout: Duration,
    /// How long to wait for ACK after sending a frame.
    pub ack_timeout: Duration,
    /// Longest silence inside a frame before the partial frame is dropped.
    pub byte_timeout: Duration,
    /// How long the KKT may work on a command before its answer starts (printing takes time).
    pub answer_timeout: Duration,
    /// ENQ attempts before the link is declared down.
    pub enq_attempts: u8,
    /// Frame sends before a command is declared undeliverable.
    pub send_attempts: u8,
    /// Times the host asks for a garbled answer again, or re-enquires after a slow one.
    pub answer_attempts: u8,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            enq_timeout: Duration::from_millis(200),
            ack_timeout: Duration::from_millis(200),
            byte_timeout: Duration::from_millis(50),
            answer_timeout: Duration::from_secs(15),
            enq_attempts: 5,
            send_attempts: 3,
            answer_attempts: 5,
        }
    }
}

/// What the link reports up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// The answer to the current command: the bytes after the command echo (error code, data).
    Answer { command: Command, data: Vec<u8> },
    /// The exchange ended without an answer.
    Failed {
        command: Command,
        error: ShtrihError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// ENQ sent, waiting for its one-byte answer.
    Enquire {
        deadline: Instant,
        tries: u8,
    },
    /// An answer from an earlier exchange is coming; read it, then ask again.
    Stale {
        deadline: Instant,
    },
    /// Frame sent, waiting for ACK.
    AwaitAck {
        deadline: Instant,
    },
    /// Frame taken, waiting for the answer frame.
    AwaitAnswer {
        deadline: Instant,
    },
}

#[derive(Debug, Clone)]
struct Exchange {
    command: Command,
    frame: Vec<u8>,
    read_only: bool,
    /// Frame sends so far.
    sends: u8,
    /// The KKT acknowledged the frame (or answered it).
    accepted: bool,
    /// Garbled answers and slow-answer enquiries so far.
    answer_tries: u8,
}

/// The host link: one exchange at a time.
#[derive(Debug)]
pub struct HostLink {
    config: LinkConfig,
    phase: Phase,
    exchange: Option<Exchange>,
    tokenizer: Tokenizer,
    byte_deadline: Option<Instant>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<LinkEvent>,
    tokens: Vec<Token>,
}

impl HostLink {
    pub fn new(config: LinkConfig) -> Self {
        HostLink {
            config,
            phase: Phase::Idle,
            exchange: None,
            tokenizer: Tokenizer::new(),
            byte_deadline: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            tokens: Vec::new(),
        }
    }

    /// True when no exchange is under way (a new command may be started).
    pub fn is_idle(&self) -> bool {
        self.exchange.is_none()
    }

    /// Starts an exchange for `payload` (command and data). `read_only` commands are sent again
    /// when their outcome is unclear; all others never are once the KKT has taken them.
    pub fn start(&mut self, payload: Vec<u8>, read_only: bool, now: Instant) {
        let command = Command::split(&payload).map_or(Command(0), |(c, _)| c);
        let frame = match encode(&payload) {
            Ok(frame) => frame,
            Err(e) => {
                self.events.push_back(LinkEvent::Failed {
                    command,
                    error: ShtrihError::Malformed(e.to_string()),
                });
                return;
            }
        };
        self.exchange = Some(Exchange {
            command,
            frame,
            read_only,
            sends: 0,
            accepted: false,
            answer_tries: 0,
        });
        self.enquire(now, 1);
    }

    /// Feeds bytes read from the port.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        let mut tokens = std::mem::take(&mut self.tokens);
        self.tokenizer.push(bytes, &mut tokens);
        for token in tokens.drain(..) {
            self.on_token(token, now);
        }
        self.tokens = tokens;
        self.byte_deadline = self
            .tokenizer
            .in_frame()
            .then(|| now + self.config.byte_timeout);
    }

    /// Bytes to write to the port, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// When [`HostLink::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Idle => None,
            Phase::Enquire { deadline, .. }
            | Phase::Stale { deadline }
            | Phase::AwaitAck { deadline }
            | Phase::AwaitAnswer { deadline } => Some(deadline),
        };
        match (phase, self.byte_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Reports up.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// Acts on whatever deadline has passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.byte_deadline.is_some_and(|d| now >= d) {
            self.byte_deadline = None;
            if self.tokenizer.in_frame() {
                tracing::debug!("byte timeout inside a frame; asking for it again");
                self.tokenizer.reset();
                self.on_token(Token::BadFrame, now);
            }
        }
        match self.phase {
            Phase::Enquire { deadline, tries } if now >= deadline => {
                if tries < self.config.enq_attempts {
                    self.enquire(now, tries + 1);
                } else {
                    self.no_answer_to_enq();
                }
            }
            Phase::AwaitAck { deadline } | Phase::Stale { deadline } if now >= deadline => {
                self.enquire(now, 1)
            }
            Phase::AwaitAnswer { deadline } if now >= deadline => self.slow_answer(now),
            _ => {}
        }
    }

    fn enquire(&mut self, now: Instant, tries: u8) {
        self.transmit.push_back(vec![ENQ]);
        self.phase = Phase::Enquire {
            deadline: now + self.config.enq_timeout,
            tries,
        };
    }

    fn on_token(&mut self, token: Token, now: Instant) {
        match token {
            Token::Frame(payload) => self.on_frame(payload, now),
            Token::BadFrame => self.on_bad_frame(now),
            Token::Control(b) => self.on_control(b, now),
            Token::Noise(b) => tracing::trace!(byte = b, "line noise ignored"),
        }
    }

    fn on_control(&mut self, b: u8, now: Instant) {
        match (self.phase, b) {
            (Phase::Enquire { .. }, NAK) => self.kkt_idle(now),
            (Phase::Enquire { .. }, ACK) => {
                let ours = self.exchange.as_ref().is_some_and(|e| e.sends > 0);
                let deadline = now + self.config.answer_timeout;
                self.phase = if ours {
                    Phase::AwaitAnswer { deadline }
                } else {
                    Phase::Stale { deadline }
                };
            }
            (Phase::AwaitAck { .. }, ACK) => {
                if let Some(ex) = &mut self.exchange {
                    ex.accepted = true;
                }
                self.phase = Phase::AwaitAnswer {
                    deadline: now + self.config.answer_timeout,
                };
            }
            (Phase::AwaitAck { .. }, NAK) => self.send_frame(now),
            _ => tracing::trace!(byte = b, "control byte out of turn ignored"),
        }
    }

    /// ENQ was answered NAK: the KKT has no answer pending and is not working on a command.
    fn kkt_idle(&mut self, now: Instant) {
        let Some(ex) = &self.exchange else {
            self.phase = Phase::Idle;
            return;
        };
        if ex.accepted && !ex.read_only {
            let command = ex.command;
            tracing::warn!(%command, "KKT idle after taking the command: its answer is lost");
            self.fail(ShtrihError::OutcomeUnknown { command });
        } else {
            self.send_frame(now);
        }
    }

    fn send_frame(&mut self, now: Instant) {
        let Some(ex) = &mut self.exchange else {
            return;
        };
        if ex.sends >= self.config.send_attempts {
            let command = ex.command;
            let error = if ex.accepted && !ex.read_only {
                ShtrihError::OutcomeUnknown { command }
            } else {
                ShtrihError::NotDelivered { command }
            };
            self.fail(error);
            return;
        }
        ex.sends += 1;
        self.transmit.push_back(ex.frame.clone());
        self.phase = Phase::AwaitAck {
            deadline: now + self.config.ack_timeout,
        };
    }

    fn on_frame(&mut self, payload: Vec<u8>, now: Instant) {
        // Every whole frame is acknowledged, ours or not, so the KKT stops sending it.
        self.transmit.push_back(vec![ACK]);
        let split = Command::split(&payload).map(|(c, d)| (c, d.to_vec()));
        let ours = match (&self.exchange, &split) {
            (Some(ex), Some((command, _))) => ex.sends > 0 && *command == ex.command,
            _ => false,
        };
        match split {
            Some((command, data)) if ours => {
                self.exchange = None;
                self.phase = Phase::Idle;
                self.events.push_back(LinkEvent::Answer { command, data });
            }
            _ => {
                tracing::debug!(len = payload.len(), "stale answer read and dropped");
                if self.exchange.is_some() {
                    self.enquire(now, 1);
                } else {
                    self.phase = Phase::Idle;
                }
            }
        }
    }

    fn on_bad_frame(&mut self, now: Instant) {
        let limit = self.config.answer_attempts;
        let Some(ex) = &mut self.exchange else {
            self.transmit.push_back(vec![NAK]);
            return;
        };
        ex.answer_tries += 1;
        if ex.answer_tries > limit {
            let command = ex.command;
            let error = if ex.read_only {
                ShtrihError::Malformed(format!("answer to {command} garbled {limit} times"))
            } else {
                ShtrihError::OutcomeUnknown { command }
            };
            self.fail(error);
            return;
        }
        // The KKT does not resend on NAK; it repeats its answer when asked with ENQ.
        self.transmit.push_back(vec![NAK]);
        self.enquire(now, 1);
    }

    fn slow_answer(&mut self, now: Instant) {
        let limit = self.config.answer_attempts;
        let Some(ex) = &mut self.exchange else {
            self.phase = Phase::Idle;
            return;
        };
        ex.answer_tries += 1;
        if ex.answer_tries > limit {
            let error = if ex.read_only {
                ShtrihError::NoLink
            } else {
                ShtrihError::OutcomeUnknown {
                    command: ex.command,
                }
            };
            self.fail(error);
            return;
        }
        self.enquire(now, 1);
    }

    fn no_answer_to_enq(&mut self) {
        let Some(ex) = &self.exchange else {
            self.phase = Phase::Idle;
            return;
        };
        // A frame that went out may have been taken even if its ACK was lost on the way.
        let error = if ex.sends > 0 && !ex.read_only {
            ShtrihError::OutcomeUnknown {
                command: ex.command,
            }
        } else {
            ShtrihError::NoLink
        };
        self.fail(error);
    }

    fn fail(&mut self, error: ShtrihError) {
        if let Some(ex) = self.exchange.take() {
            tracing::warn!(command = %ex.command, %error, "exchange failed");
            self.events.push_back(LinkEvent::Failed {
                command: ex.command,
                error,
            });
        }
        self.phase = Phase::Idle;
        self.tokenizer.reset();
        self.byte_deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: [u8; 5] = [0x10, 0x1E, 0, 0, 0];
    const SALE: [u8; 7] = [0xFF, 0x45, 0x1E, 0, 0, 0, 1];

    fn drain(link: &mut HostLink) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| link.poll_transmit()).collect()
    }

    fn expire(link: &mut HostLink, now: &mut Instant) {
        if let Some(at) = link.poll_timeout() {
            *now = at;
            link.handle_timeout(at);
        }
    }

    #[test]
    fn a_stale_answer_is_read_and_acknowledged_before_the_command_goes_out() {
        let mut now = Instant::now();
        let mut link = HostLink::new(LinkConfig::default());
        link.start(STATUS.to_vec(), true, now);
        assert_eq!(drain(&mut link), vec![vec![ENQ]]);
        link.handle_input(&[ACK], now);
        link.handle_input(&encode(&[0x88, 0, 30]).unwrap(), now);
        assert_eq!(drain(&mut link), vec![vec![ACK], vec![ENQ]]);
        link.handle_input(&[NAK], now);
        assert_eq!(drain(&mut link), vec![encode(&STATUS).unwrap()]);
        link.handle_input(&[ACK], now);
        link.handle_input(&encode(&[0x10, 0]).unwrap(), now);
        assert_eq!(
            link.poll_event(),
            Some(LinkEvent::Answer {
                command: Command(0x10),
                data: vec![0]
            })
        );
        assert!(link.is_idle());
        expire(&mut link, &mut now);
    }

    #[test]
    fn silence_is_no_link_after_the_enq_attempts() {
        let mut now = Instant::now();
        let config = LinkConfig::default();
        let mut link = HostLink::new(config);
        link.start(STATUS.to_vec(), true, now);
        for _ in 0..config.enq_attempts {
            assert_eq!(drain(&mut link), vec![vec![ENQ]]);
            expire(&mut link, &mut now);
        }
        assert!(matches!(
            link.poll_event(),
            Some(LinkEvent::Failed {
                error: ShtrihError::NoLink,
                ..
            })
        ));
    }

    #[test]
    fn a_frame_the_kkt_keeps_refusing_is_not_delivered() {
        let now = Instant::now();
        let config = LinkConfig::default();
        let mut link = HostLink::new(config);
        link.start(SALE.to_vec(), false, now);
        link.handle_input(&[NAK], now);
        for _ in 0..config.send_attempts {
            assert_eq!(drain(&mut link).last(), Some(&encode(&SALE).unwrap()));
            link.handle_input(&[NAK], now);
        }
        assert!(matches!(
            link.poll_event(),
            Some(LinkEvent::Failed {
                error: ShtrihError::NotDelivered { .. },
                ..
            })
        ));
    }

    #[test]
    fn a_taken_command_whose_answer_is_lost_is_never_sent_again() {
        let mut now = Instant::now();
        let mut link = HostLink::new(LinkConfig::default());
        link.start(SALE.to_vec(), false, now);
        link.handle_input(&[NAK], now);
        drain(&mut link);
        link.handle_input(&[ACK], now);
        expire(&mut link, &mut now);
        assert_eq!(drain(&mut link), vec![vec![ENQ]]);
        link.handle_input(&[NAK], now);
        assert!(
            drain(&mut link).is_empty(),
            "the sale must not go out twice"
        );
        assert!(matches!(
            link.poll_event(),
            Some(LinkEvent::Failed {
                error: ShtrihError::OutcomeUnknown { .. },
                ..
            })
        ));
    }

    #[test]
    fn a_read_only_command_whose_answer_is_lost_is_sent_again() {
        let mut now = Instant::now();
        let mut link = HostLink::new(LinkConfig::default());
        link.start(STATUS.to_vec(), true, now);
        link.handle_input(&[NAK], now);
        drain(&mut link);
        link.handle_input(&[ACK], now);
        expire(&mut link, &mut now);
        drain(&mut link);
        link.handle_input(&[NAK], now);
        assert_eq!(drain(&mut link), vec![encode(&STATUS).unwrap()]);
    }

    #[test]
    fn a_garbled_answer_is_nak_ed_and_asked_for_with_enq() {
        let now = Instant::now();
        let mut link = HostLink::new(LinkConfig::default());
        link.start(STATUS.to_vec(), true, now);
        link.handle_input(&[NAK], now);
        drain(&mut link);
        let mut bad = encode(&[0x10, 0]).unwrap();
        bad[3] ^= 1;
        link.handle_input(&[ACK], now);
        link.handle_input(&bad, now);
        assert_eq!(drain(&mut link), vec![vec![NAK], vec![ENQ]]);
        link.handle_input(&[ACK], now);
        link.handle_input(&encode(&[0x10, 0]).unwrap(), now);
        assert!(matches!(link.poll_event(), Some(LinkEvent::Answer { .. })));
    }
}
