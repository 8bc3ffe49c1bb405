//! Sans-IO emulated device: frames in, frames out, with the wire-level faults tests script
//! (slow replies, garbled bytes, a lost ACK, power loss).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::frame::{encode_frame, FrameDecoder, CCNET_BILL_VALIDATOR};
use crate::model::{DeviceStatus, Reply, Request};
use crate::protocol::WireProtocol;

use super::model::ValidatorModel;

/// Wire faults waiting to happen.
#[derive(Clone, Debug, Default)]
pub struct WireFaults {
    /// Every reply waits this long.
    pub reply_delay: Duration,
    /// The next N replies get a damaged byte.
    pub garble_replies: u32,
    /// The next N host ACKs are lost on the line.
    pub drop_acks: u32,
}

pub struct DeviceCore {
    wire: &'static dyn WireProtocol,
    pub model: ValidatorModel,
    pub faults: WireFaults,
    decoder: FrameDecoder,
    outbox: VecDeque<(Instant, Vec<u8>)>,
    last_reply: Option<Vec<u8>>,
}

impl DeviceCore {
    pub fn new(wire: &'static dyn WireProtocol, model: ValidatorModel) -> Self {
        Self {
            wire,
            model,
            faults: WireFaults::default(),
            decoder: FrameDecoder::new(wire.framing()),
            outbox: VecDeque::new(),
            last_reply: None,
        }
    }

    pub fn protocol(&self) -> crate::Protocol {
        self.wire.protocol()
    }

    /// Bytes due for sending at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.outbox.front() {
            Some((at, _)) if *at <= now => self.outbox.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }

    /// When the next delayed reply is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outbox.front().map(|(at, _)| *at)
    }

    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if !self.model.is_powered(now) {
            // No power, no UART: the bytes are gone.
            self.decoder.clear();
            return;
        }
        self.decoder.push(bytes);
        while let Some(item) = self.decoder.next_frame() {
            match item {
                Err(err) => {
                    tracing::debug!(%err, "emulator: damaged request");
                    self.decoder.clear();
                    let reply = match self.wire.protocol() {
                        crate::Protocol::Ccnet => Reply::Nak,
                        crate::Protocol::Id003 => Reply::Status(DeviceStatus::CommunicationError),
                    };
                    self.send_reply(&Request::Poll, &reply, now, false);
                }
                Ok(frame) => {
                    if frame.address.is_some_and(|a| a != CCNET_BILL_VALIDATOR) {
                        continue; // another peripheral's frame
                    }
                    self.handle_payload(&frame.payload, now);
                }
            }
        }
    }

    fn handle_payload(&mut self, payload: &[u8], now: Instant) {
        let req = match self.wire.decode_request(payload) {
            Ok(req) => req,
            Err(err) => {
                tracing::debug!(%err, "emulator: request not understood");
                self.send_reply(&Request::Poll, &Reply::IllegalCommand, now, false);
                return;
            }
        };
        match req {
            Request::Nak => {
                if let Some(bytes) = self.last_reply.clone() {
                    self.schedule(bytes, now);
                }
            }
            Request::Ack => {
                if self.faults.drop_acks > 0 {
                    self.faults.drop_acks -= 1;
                    tracing::debug!("emulator: host ACK lost");
                } else {
                    self.model.acknowledge(now);
                }
            }
            req => {
                let reply = self.model.handle(&req, now);
                self.send_reply(&req, &reply, now, true);
            }
        }
    }

    fn send_reply(&mut self, req: &Request, reply: &Reply, now: Instant, remember: bool) {
        let bytes = match self
            .wire
            .encode_reply(req, reply)
            .map_err(|e| e.to_string())
            .and_then(|p| encode_frame(self.wire.framing(), &p).map_err(|e| e.to_string()))
        {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::error!(?reply, %err, "emulator: reply cannot be encoded");
                return;
            }
        };
        if remember {
            self.last_reply = Some(bytes.clone());
        }
        self.schedule(bytes, now);
    }

    fn schedule(&mut self, mut bytes: Vec<u8>, now: Instant) {
        if self.faults.garble_replies > 0 {
            self.faults.garble_replies -= 1;
            // Flip bits in the last data byte: the CRC no longer matches.
            let i = bytes.len().saturating_sub(3);
            if let Some(b) = bytes.get_mut(i) {
                *b ^= 0x5A;
            }
        }
        self.outbox
            .push_back((now + self.faults.reply_delay, bytes));
    }

    /// Power loss: replies not yet sent are lost with it.
    pub fn power_loss(&mut self, now: Instant, off_for: Duration) {
        self.outbox.clear();
        self.decoder.clear();
        self.last_reply = None;
        self.model.power_loss(now, off_for);
    }
}
