//! The KKT side of the Shtrih-M link layer (sans-IO): answers ENQ with NAK (idle) or ACK plus
//! the pending answer, acknowledges frames, drops a frame cut short by the byte timeout, and
//! repeats a NAKed answer at the next ENQ. It hands whole command payloads up and takes
//! answers down; it knows nothing of what the commands mean.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::shtrih::frame::{encode, Token, Tokenizer, ACK, ENQ, NAK};

/// What the device link hands up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceInput {
    /// A command payload (command and data) with a good LRC.
    Command(Vec<u8>),
}

#[derive(Debug)]
pub struct DeviceLink {
    tokenizer: Tokenizer,
    byte_timeout: Duration,
    byte_deadline: Option<Instant>,
    /// The last answer, kept until the host acknowledges it.
    pending: Option<Vec<u8>>,
    transmit: VecDeque<Vec<u8>>,
    inputs: VecDeque<DeviceInput>,
}

impl DeviceLink {
    pub fn new(byte_timeout: Duration) -> Self {
        DeviceLink {
            tokenizer: Tokenizer::new(),
            byte_timeout,
            byte_deadline: None,
            pending: None,
            transmit: VecDeque::new(),
            inputs: VecDeque::new(),
        }
    }

    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        let mut tokens = Vec::new();
        self.tokenizer.push(bytes, &mut tokens);
        for token in tokens {
            match token {
                Token::Control(ENQ) => match &self.pending {
                    Some(frame) => {
                        self.transmit.push_back(vec![ACK]);
                        self.transmit.push_back(frame.clone());
                    }
                    None => self.transmit.push_back(vec![NAK]),
                },
                Token::Control(ACK) => self.pending = None,
                // On NAK the answer is kept and repeated at the next ENQ (protocol 2.0, "Стандартный
                // нижний уровень").
                Token::Control(NAK) => {}
                Token::Frame(payload) => {
                    // A new command means the host has given up on the previous answer.
                    self.pending = None;
                    self.transmit.push_back(vec![ACK]);
                    self.inputs.push_back(DeviceInput::Command(payload));
                }
                Token::BadFrame => self.transmit.push_back(vec![NAK]),
                Token::Control(_) | Token::Noise(_) => {}
            }
        }
        self.byte_deadline = self.tokenizer.in_frame().then(|| now + self.byte_timeout);
    }

    /// Sends an answer payload (command echo, error code, data) and keeps it until ACKed.
    pub fn answer(&mut self, payload: &[u8]) {
        match encode(payload) {
            Ok(frame) => {
                self.transmit.push_back(frame.clone());
                self.pending = Some(frame);
            }
            Err(e) => tracing::error!(error = %e, "emulator answer not framed"),
        }
    }

    /// The answer was "lost": the command ran but nothing goes back and nothing is pending.
    pub fn lose_answer(&mut self) {
        self.pending = None;
    }

    pub fn poll_input(&mut self) -> Option<DeviceInput> {
        self.inputs.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.byte_deadline
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.byte_deadline.is_some_and(|d| now >= d) {
            self.byte_deadline = None;
            self.tokenizer.reset();
        }
    }
}
