//! The Shtrih-M wire format: `STX LEN CMD DATA LRC` frames, the single control bytes of the
//! handshake, command codes and the little-endian field encodings. Pure functions and a byte
//! tokenizer; owns no state beyond a partly received frame and does no I/O.
//!
//! Facts from "Протокол ККТ Штрих-М, версия 2.0" (Shtrih-M, `javapos_shtrih/Doc/SHTRIH/`),
//! section "Формат сообщения": LEN is the number of bytes of the command and its data, LRC is
//! the XOR of every byte from LEN to the last data byte; integers are little-endian; money is
//! a 5-byte integer of kopecks; a command is one byte, or two when the first is `FF`.

/// Start of a frame.
pub const STX: u8 = 0x02;
/// Host asks the device for its link state.
pub const ENQ: u8 = 0x05;
/// Positive acknowledgement.
pub const ACK: u8 = 0x06;
/// Negative acknowledgement.
pub const NAK: u8 = 0x15;

/// The longest command-plus-data a frame can carry (LEN is one byte).
pub const MAX_PAYLOAD: usize = 255;

/// A command code: one byte, or `FF xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Command(pub u16);

impl Command {
    /// The bytes the command occupies in a frame.
    pub fn bytes(self) -> Vec<u8> {
        if self.0 > 0xFF {
            vec![(self.0 >> 8) as u8, self.0 as u8]
        } else {
            vec![self.0 as u8]
        }
    }

    /// Splits a frame payload into its command and the rest.
    pub fn split(payload: &[u8]) -> Option<(Command, &[u8])> {
        match payload {
            [0xFF, second, rest @ ..] => Some((Command(0xFF00 | u16::from(*second)), rest)),
            [0xFF] | [] => None,
            [first, rest @ ..] => Some((Command(u16::from(*first)), rest)),
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 > 0xFF {
            write!(f, "{:04X}h", self.0)
        } else {
            write!(f, "{:02X}h", self.0)
        }
    }
}

/// Why a payload cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a frame carries 1..=255 bytes of command and data, not {0}")]
    Length(usize),
}

/// XOR of the bytes (the frame's LRC when given LEN, CMD and DATA).
pub fn lrc(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Frames a payload (command and data): `STX LEN payload LRC`.
pub fn encode(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.is_empty() || payload.len() > MAX_PAYLOAD {
        return Err(FrameError::Length(payload.len()));
    }
    let mut out = Vec::with_capacity(payload.len() + 3);
    out.push(STX);
    out.push(payload.len() as u8);
    out.extend_from_slice(payload);
    out.push(lrc(&out[1..]));
    Ok(out)
}

/// What the tokenizer recognised on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A single ENQ, ACK or NAK outside a frame.
    Control(u8),
    /// A whole frame with a good LRC: its command and data.
    Frame(Vec<u8>),
    /// A whole frame whose LRC did not match (the receiver answers NAK).
    BadFrame,
    /// A byte that starts nothing (line noise between frames).
    Noise(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Partial {
    Idle,
    Length,
    Body { len: usize, bytes: Vec<u8> },
}

/// Splits a byte stream into control bytes and frames. A frame interrupted by silence longer
/// than the byte timeout is dropped by the owner calling [`Tokenizer::reset`].
#[derive(Debug, Clone)]
pub struct Tokenizer {
    partial: Partial,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer {
            partial: Partial::Idle,
        }
    }
}

impl Tokenizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a frame has started but not ended.
    pub fn in_frame(&self) -> bool {
        self.partial != Partial::Idle
    }

    /// Drops a partly received frame.
    pub fn reset(&mut self) {
        self.partial = Partial::Idle;
    }

    /// Feeds bytes; every recognised token is appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Token>) {
        for &b in bytes {
            if let Some(token) = self.push_byte(b) {
                out.push(token);
            }
        }
    }

    fn push_byte(&mut self, b: u8) -> Option<Token> {
        match &mut self.partial {
            Partial::Idle => match b {
                STX => {
                    self.partial = Partial::Length;
                    None
                }
                ENQ | ACK | NAK => Some(Token::Control(b)),
                other => Some(Token::Noise(other)),
            },
            Partial::Length => {
                if b == 0 {
                    // LEN 0 is never sent; treat the STX as noise.
                    self.partial = Partial::Idle;
                    return Some(Token::Noise(STX));
                }
                self.partial = Partial::Body {
                    len: usize::from(b),
                    bytes: Vec::with_capacity(usize::from(b) + 1),
                };
                None
            }
            Partial::Body { len, bytes } => {
                if bytes.len() < *len {
                    bytes.push(b);
                    return None;
                }
                let expected = lrc(bytes) ^ (*len as u8);
                let payload = std::mem::take(bytes);
                self.partial = Partial::Idle;
                if expected == b {
                    Some(Token::Frame(payload))
                } else {
                    Some(Token::BadFrame)
                }
            }
        }
    }
}

/// Little-endian writer of the protocol's integer fields.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub fn new(command: Command) -> Self {
        Writer {
            out: command.bytes(),
        }
    }

    pub fn u8(mut self, v: u8) -> Self {
        self.out.push(v);
        self
    }

    pub fn u16(mut self, v: u16) -> Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(mut self, v: u32) -> Self {
        self.out.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// An unsigned integer in `n` little-endian bytes (money is 5, quantity 6).
    pub fn uint(mut self, v: u64, n: usize) -> Self {
        self.out.extend_from_slice(&v.to_le_bytes()[..n.min(8)]);
        self
    }

    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.out.extend_from_slice(b);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Why a reply's data could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reply to {command} is {got} bytes long, {need} expected")]
pub struct ShortReply {
    pub command: Command,
    pub need: usize,
    pub got: usize,
}

/// Little-endian reader over a reply's data, refusing to read past its end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    command: Command,
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(command: Command, data: &'a [u8]) -> Self {
        Reader {
            command,
            data,
            at: 0,
        }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ShortReply> {
        let end = self.at + n;
        let slice = self.data.get(self.at..end).ok_or(ShortReply {
            command: self.command,
            need: end,
            got: self.data.len(),
        })?;
        self.at = end;
        Ok(slice)
    }

    pub fn u8(&mut self) -> Result<u8, ShortReply> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, ShortReply> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, ShortReply> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn uint(&mut self, n: usize) -> Result<u64, ShortReply> {
        let b = self.take(n)?;
        let mut full = [0u8; 8];
        for (dst, src) in full.iter_mut().zip(b) {
            *dst = *src;
        }
        Ok(u64::from_le_bytes(full))
    }

    /// What is left unread.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.data.get(self.at..).unwrap_or_default();
        self.at = self.data.len();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_commands_split_and_join() {
        assert_eq!(Command(0xFF01).bytes(), vec![0xFF, 0x01]);
        assert_eq!(Command(0x10).bytes(), vec![0x10]);
        assert_eq!(
            Command::split(&[0xFF, 0x46, 1, 2]),
            Some((Command(0xFF46), &[1u8, 2][..]))
        );
        assert_eq!(Command::split(&[0xFF]), None);
        assert_eq!(Command(0xFF0A).to_string(), "FF0Ah");
    }

    #[test]
    fn empty_and_oversized_payloads_are_refused() {
        assert_eq!(encode(&[]), Err(FrameError::Length(0)));
        assert_eq!(encode(&[0; 256]), Err(FrameError::Length(256)));
    }

    #[test]
    fn reader_refuses_to_read_past_the_end() {
        let mut r = Reader::new(Command(0x10), &[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0201));
        assert!(r.u16().is_err());
    }
}
