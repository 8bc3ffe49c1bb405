//! The sans-IO host session: typed requests queued in, typed replies out, one exchange on the
//! link at a time. The caller owns the port and the clock (quinn-proto's shape):
//!
//! ```text
//! session.request(Request::FnStatus, now);
//! session.handle_input(&bytes, now);                  // whatever the port read
//! while let Some(out) = session.poll_transmit() { /* write it */ }
//! let wake_at = session.poll_timeout();               // call handle_timeout(now) then
//! while let Some(ev) = session.poll_event() { /* SessionEvent::Reply */ }
//! ```

use std::collections::VecDeque;
use std::time::Instant;

use super::commands::{parse_reply, Reply, Request};
use super::errors::ShtrihError;
use super::link::{HostLink, LinkConfig, LinkEvent};

/// Identifies a request in [`SessionEvent::Reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What the session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    Reply {
        id: RequestId,
        result: Result<Reply, ShtrihError>,
    },
}

/// A Shtrih-M host session over one link.
#[derive(Debug)]
pub struct HostSession {
    link: HostLink,
    password: u32,
    queue: VecDeque<(RequestId, Request)>,
    in_flight: Option<(RequestId, Request)>,
    events: VecDeque<SessionEvent>,
    next_id: u64,
}

impl HostSession {
    /// A session sending `password` (operator 1..=28 or the system administrator's, 30 by
    /// default on Shtrih-M) with every command.
    pub fn new(config: LinkConfig, password: u32) -> Self {
        HostSession {
            link: HostLink::new(config),
            password,
            queue: VecDeque::new(),
            in_flight: None,
            events: VecDeque::new(),
            next_id: 0,
        }
    }

    /// Queues a request; it goes on the wire when the ones before it have finished.
    pub fn request(&mut self, request: Request, now: Instant) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.queue.push_back((id, request));
        self.start_next(now);
        id
    }

    /// True when nothing is queued or under way.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_none() && self.queue.is_empty()
    }

    /// Feeds bytes read from the port.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        self.link.handle_input(bytes, now);
        self.pump(now);
    }

    /// Bytes to write to the port.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.link.poll_transmit()
    }

    /// When [`HostSession::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.link.poll_timeout()
    }

    /// Acts on deadlines passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        self.pump(now);
    }

    /// Replies, in the order the requests were made.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.link.poll_event() {
            let Some((id, request)) = self.in_flight.take() else {
                continue;
            };
            let result = match event {
                LinkEvent::Answer { data, .. } => parse_reply(&request, &data),
                LinkEvent::Failed { error, .. } => Err(error),
            };
            match &result {
                Ok(_) => tracing::debug!(command = %request.command(), "reply"),
                Err(e) => tracing::info!(command = %request.command(), error = %e, "no reply"),
            }
            self.events.push_back(SessionEvent::Reply { id, result });
        }
        self.start_next(now);
    }

    fn start_next(&mut self, now: Instant) {
        if self.in_flight.is_some() || !self.link.is_idle() {
            return;
        }
        if let Some((id, request)) = self.queue.pop_front() {
            self.link
                .start(request.encode(self.password), request.read_only(), now);
            self.in_flight = Some((id, request));
            // A payload that cannot be framed fails at once.
            if self.link.is_idle() {
                self.pump(now);
            }
        }
    }
}
