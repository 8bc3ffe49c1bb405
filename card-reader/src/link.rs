//! Sans-IO ZVT serial link layer, the same on both ends of the cable.
//!
//! Every frame is answered with a single ACK (06) or NAK (15) byte. A sender waits up to
//! `ack_timeout` (T2) for it and resends on NAK or silence, at most `max_retries` times. A receiver
//! drops a frame whose bytes stop arriving for `char_timeout` (T1) and answers NAK. Frames are sent
//! one at a time: the next waits until the previous one was acknowledged.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::codec::frame::{encode_frame, FrameDecoder, Token, ACK, NAK};
use crate::codec::{Apdu, CodecError};

#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// T1: longest gap between two bytes of one frame.
    pub char_timeout: Duration,
    /// T2: how long to wait for ACK/NAK after sending a frame.
    pub ack_timeout: Duration,
    /// Resends after NAK or T2 before the link is declared failed (the spec allows 3).
    pub max_retries: u8,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            char_timeout: Duration::from_millis(500),
            ack_timeout: Duration::from_secs(5),
            max_retries: 3,
        }
    }
}

/// Identifies one APDU handed to [`Link::send`].
pub type FrameId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A frame arrived intact and was acknowledged; its APDU.
    Received(Apdu),
    /// A frame arrived intact but its APDU is malformed (acknowledged at link level).
    Malformed(CodecError),
    /// The peer acknowledged our frame.
    Delivered(FrameId),
    /// Our frame was not acknowledged after all retries (the next queued frame goes out).
    Failed(FrameId),
}

#[derive(Debug)]
struct InFlight {
    id: FrameId,
    frame: Vec<u8>,
    /// An answer to the peer's message (it sends its next only after receiving it).
    answer: bool,
    attempts: u8,
    deadline: Instant,
}

#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    decoder: FrameDecoder,
    char_deadline: Option<Instant>,
    queue: VecDeque<(FrameId, Vec<u8>, bool)>,
    in_flight: Option<InFlight>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<LinkEvent>,
    next_id: FrameId,
    swallow_next_ack: bool,
    noise_bytes: u64,
}

impl Link {
    pub fn new(config: LinkConfig) -> Self {
        Self {
            config,
            decoder: FrameDecoder::new(),
            char_deadline: None,
            queue: VecDeque::new(),
            in_flight: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 0,
            swallow_next_ack: false,
            noise_bytes: 0,
        }
    }

    /// Queues an APDU for sending.
    pub fn send(&mut self, apdu: &Apdu, now: Instant) -> Result<FrameId, CodecError> {
        self.enqueue(apdu, false, now)
    }

    /// Sends an answer to the peer's last message. ZVT answers every APDU before the next one
    /// comes, so the peer's next frame shows this one arrived: it is not repeated after that (a
    /// repeated 80 00 would be read as the answer to whatever the peer sent since).
    pub fn send_answer(&mut self, apdu: &Apdu, now: Instant) -> Result<FrameId, CodecError> {
        self.enqueue(apdu, true, now)
    }

    fn enqueue(&mut self, apdu: &Apdu, answer: bool, now: Instant) -> Result<FrameId, CodecError> {
        let frame = encode_frame(&apdu.encode()?);
        self.next_id += 1;
        let id = self.next_id;
        self.queue.push_back((id, frame, answer));
        self.start_next(now);
        Ok(id)
    }

    /// The peer answered the frame in flight at application level: it arrived, whatever became
    /// of its ACK, and must not be repeated (the peer would take a repeat as a new message).
    pub fn answered(&mut self, now: Instant) {
        if let Some(flight) = self.in_flight.take() {
            tracing::debug!(
                frame = flight.id,
                "zvt link: delivery shown by the peer's answer"
            );
            self.events.push_back(LinkEvent::Delivered(flight.id));
            self.start_next(now);
        }
    }

    /// Fault injection: do not acknowledge the next intact frame (it is still delivered upward).
    pub fn swallow_next_ack(&mut self) {
        self.swallow_next_ack = true;
    }

    /// Bytes seen outside frames that were neither ACK nor NAK.
    pub fn noise_bytes(&self) -> u64 {
        self.noise_bytes
    }

    /// True while a frame waits for its ACK or more are queued.
    pub fn is_sending(&self) -> bool {
        self.in_flight.is_some() || !self.queue.is_empty()
    }

    /// Forgets everything in progress (the port was reopened).
    pub fn reset(&mut self) {
        self.decoder.reset();
        self.char_deadline = None;
        self.queue.clear();
        self.in_flight = None;
        self.transmit.clear();
    }

    fn start_next(&mut self, now: Instant) {
        if self.in_flight.is_some() {
            return;
        }
        if let Some((id, frame, answer)) = self.queue.pop_front() {
            self.transmit.push_back(frame.clone());
            self.in_flight = Some(InFlight {
                id,
                frame,
                answer,
                attempts: 1,
                deadline: now + self.config.ack_timeout,
            });
        }
    }

    fn retry_or_fail(&mut self, now: Instant) {
        let Some(flight) = self.in_flight.as_mut() else {
            return;
        };
        if flight.attempts <= self.config.max_retries {
            flight.attempts += 1;
            flight.deadline = now + self.config.ack_timeout;
            self.transmit.push_back(flight.frame.clone());
            tracing::debug!(attempt = flight.attempts, "zvt link: resending frame");
        } else {
            let id = flight.id;
            self.in_flight = None;
            // Later frames stay queued: they may already answer a new peer (after a restart).
            tracing::warn!(frame = id, "zvt link: frame not acknowledged after retries");
            self.events.push_back(LinkEvent::Failed(id));
        }
    }

    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        for &byte in bytes {
            let Some(token) = self.decoder.push(byte) else {
                continue;
            };
            match token {
                Token::Frame(body) => {
                    // The peer's next frame shows our answer in flight arrived (not so a command:
                    // the frame may be left over from an exchange before it).
                    if self.in_flight.as_ref().is_some_and(|f| f.answer) {
                        self.answered(now);
                    }
                    if self.swallow_next_ack {
                        self.swallow_next_ack = false;
                        tracing::debug!("zvt link: ACK withheld (fault injection)");
                    } else {
                        self.transmit.push_back(vec![ACK]);
                    }
                    match Apdu::decode(&body) {
                        Ok(apdu) => self.events.push_back(LinkEvent::Received(apdu)),
                        Err(e) => {
                            tracing::warn!(error = %e, "zvt link: malformed APDU in intact frame");
                            self.events.push_back(LinkEvent::Malformed(e));
                        }
                    }
                }
                Token::BadCrc | Token::BadEscape => {
                    tracing::debug!(?token, "zvt link: broken frame, answering NAK");
                    self.transmit.push_back(vec![NAK]);
                }
                Token::Ack => {
                    if let Some(flight) = self.in_flight.take() {
                        self.events.push_back(LinkEvent::Delivered(flight.id));
                        self.start_next(now);
                    }
                }
                Token::Nak => {
                    if self.in_flight.is_some() {
                        self.retry_or_fail(now);
                        self.start_next(now);
                    }
                }
                Token::Noise(_) => self.noise_bytes += 1,
            }
        }
        self.char_deadline = self
            .decoder
            .in_frame()
            .then(|| now + self.config.char_timeout);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.char_deadline.is_some_and(|d| d <= now) {
            self.char_deadline = None;
            self.decoder.reset();
            tracing::debug!("zvt link: frame interrupted (T1), answering NAK");
            self.transmit.push_back(vec![NAK]);
        }
        if self.in_flight.as_ref().is_some_and(|f| f.deadline <= now) {
            self.retry_or_fail(now);
            self.start_next(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let flight = self.in_flight.as_ref().map(|f| f.deadline);
        match (self.char_deadline, flight) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LinkConfig {
        LinkConfig {
            char_timeout: Duration::from_millis(100),
            ack_timeout: Duration::from_millis(500),
            max_retries: 3,
        }
    }

    fn drain(link: &mut Link) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(bytes) = link.poll_transmit() {
            out.extend(bytes);
        }
        out
    }

    #[test]
    fn two_links_exchange_a_frame() {
        let now = Instant::now();
        let (mut a, mut b) = (Link::new(config()), Link::new(config()));
        let id = a
            .send(&Apdu::new(0x06, 0x01, vec![0x10, 0x02]), now)
            .unwrap();
        let wire = drain(&mut a);
        b.handle_input(&wire, now);
        assert_eq!(
            b.poll_event(),
            Some(LinkEvent::Received(Apdu::new(0x06, 0x01, vec![0x10, 0x02])))
        );
        let ack = drain(&mut b);
        assert_eq!(ack, vec![ACK]);
        a.handle_input(&ack, now);
        assert_eq!(a.poll_event(), Some(LinkEvent::Delivered(id)));
        assert!(!a.is_sending());
    }

    #[test]
    fn nak_causes_resend_and_silence_fails_after_three_retries() {
        let mut now = Instant::now();
        let mut link = Link::new(config());
        let id = link.send(&Apdu::new(0x05, 0x01, vec![]), now).unwrap();
        let first = drain(&mut link);
        link.handle_input(&[NAK], now);
        assert_eq!(drain(&mut link), first, "NAK triggers a resend");
        for _ in 0..2 {
            now += Duration::from_millis(501);
            link.handle_timeout(now);
        }
        assert_eq!(
            drain(&mut link).len(),
            first.len() * 2,
            "two more resends after T2: 1 + 3 sends in all"
        );
        assert_eq!(link.poll_event(), None);
        now += Duration::from_millis(501);
        link.handle_timeout(now);
        assert_eq!(link.poll_event(), Some(LinkEvent::Failed(id)));
    }

    #[test]
    fn corrupted_frame_is_nakked_and_interrupted_frame_too() {
        let now = Instant::now();
        let mut link = Link::new(config());
        let mut frame = encode_frame(&[0x80, 0x00, 0x00]);
        let last = frame.len() - 1;
        frame[last] ^= 1;
        link.handle_input(&frame, now);
        assert_eq!(drain(&mut link), vec![NAK]);
        link.handle_input(&[0x10, 0x02, 0x80], now);
        assert!(link.poll_timeout().is_some());
        link.handle_timeout(now + Duration::from_millis(150));
        assert_eq!(drain(&mut link), vec![NAK]);
        assert_eq!(link.poll_event(), None);
    }
}
