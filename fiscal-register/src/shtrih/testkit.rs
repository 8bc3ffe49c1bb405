//! The host session and the emulated KKT wired together in memory on one fake clock (the way
//! quinn-proto's tests pair two endpoints): whole conversations run deterministically, and a
//! line hook can garble, drop or duplicate bytes on the way. Used by this crate's tests and
//! by the kiosk's fault simulation.

use std::time::{Duration, Instant};

use super::commands::{Reply, Request};
use super::emulator::{KktConfig, KktCore};
use super::errors::ShtrihError;
use super::link::LinkConfig;
use super::register::Exchange;
use super::session::{HostSession, SessionEvent};

/// Which way bytes travel on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    HostToKkt,
    KktToHost,
}

/// Rewrites the bytes of one write on the line (noise, loss, duplication).
pub type LineHook = Box<dyn FnMut(Direction, Vec<u8>) -> Vec<u8> + Send>;

/// A host session and a KKT core on one fake clock.
pub struct MemoryLink {
    pub host: HostSession,
    pub kkt: KktCore,
    pub now: Instant,
    pub line: Option<LineHook>,
    /// Bytes moved in each direction (for the wire-time figures).
    pub bytes_to_kkt: usize,
    pub bytes_to_host: usize,
}

impl std::fmt::Debug for MemoryLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryLink")
            .field("bytes_to_kkt", &self.bytes_to_kkt)
            .field("bytes_to_host", &self.bytes_to_host)
            .finish_non_exhaustive()
    }
}

/// The longest a single call may run on the fake clock before it is declared stuck.
const CALL_LIMIT: Duration = Duration::from_secs(600);

impl MemoryLink {
    pub fn new(config: KktConfig, link: LinkConfig) -> Self {
        let now = Instant::now();
        let password = config.password;
        MemoryLink {
            host: HostSession::new(link, password),
            kkt: KktCore::new(config, now),
            now,
            line: None,
            bytes_to_kkt: 0,
            bytes_to_host: 0,
        }
    }

    /// Moves the fake clock on (shift expiry tests).
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn carry(&mut self, direction: Direction, bytes: Vec<u8>) -> Vec<u8> {
        match self.line.as_mut() {
            Some(hook) => hook(direction, bytes),
            None => bytes,
        }
    }

    /// Moves every pending byte once; true when anything moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(out) = self.host.poll_transmit() {
            let out = self.carry(Direction::HostToKkt, out);
            self.bytes_to_kkt += out.len();
            self.kkt.handle_input(&out, self.now);
            moved = true;
        }
        while let Some(out) = self.kkt.poll_transmit() {
            let out = self.carry(Direction::KktToHost, out);
            self.bytes_to_host += out.len();
            self.host.handle_input(&out, self.now);
            moved = true;
        }
        moved
    }

    /// Runs one request to its reply.
    pub fn call(&mut self, request: Request) -> Result<Reply, ShtrihError> {
        let id = self.host.request(request, self.now);
        let started = self.now;
        loop {
            while self.step() {}
            while let Some(SessionEvent::Reply { id: got, result }) = self.host.poll_event() {
                if got == id {
                    return result;
                }
            }
            let next = [self.host.poll_timeout(), self.kkt.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at - started < CALL_LIMIT => {
                    self.now = self.now.max(at);
                    self.host.handle_timeout(self.now);
                    self.kkt.handle_timeout(self.now);
                }
                _ => return Err(ShtrihError::NoLink),
            }
        }
    }
}

impl Exchange for MemoryLink {
    fn call(&mut self, request: Request) -> Result<Reply, ShtrihError> {
        MemoryLink::call(self, request)
    }
}

/// The emulator set up with the sample seller: FN 9999078900012345, key `b"kkt-key"`,
/// password 30, clock at [`crate::sample::time`].
pub fn sample_config() -> KktConfig {
    KktConfig {
        fn_number: "9999078900012345".into(),
        key: SAMPLE_KEY.to_vec(),
        seller: crate::sample::seller(),
        password: 30,
        start_time: crate::sample::time(),
    }
}

/// The signing key of [`sample_config`].
pub const SAMPLE_KEY: &[u8] = b"kkt-key";
