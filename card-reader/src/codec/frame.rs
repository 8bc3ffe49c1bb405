//! ZVT serial framing: `DLE STX <APDU, every DLE doubled> DLE ETX CRC_L CRC_H`.
//!
//! The CRC bytes follow the ETX unescaped. Single bytes ACK (06) and NAK (15) travel outside frames.

use super::crc::crc16_kermit;

pub const DLE: u8 = 0x10;
pub const STX: u8 = 0x02;
pub const ETX: u8 = 0x03;
pub const ACK: u8 = 0x06;
pub const NAK: u8 = 0x15;

/// Wraps an encoded APDU into a serial frame.
pub fn encode_frame(apdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(apdu.len() + 8);
    out.extend_from_slice(&[DLE, STX]);
    for &byte in apdu {
        out.push(byte);
        if byte == DLE {
            out.push(DLE);
        }
    }
    out.extend_from_slice(&[DLE, ETX]);
    let crc = frame_crc(apdu);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// What the byte stream yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A complete frame whose CRC matched; the unescaped APDU bytes.
    Frame(Vec<u8>),
    /// A complete frame whose CRC did not match (the receiver answers NAK).
    BadCrc,
    /// A frame broken by a byte that may not follow DLE; the receiver answers NAK.
    BadEscape,
    /// A lone ACK byte outside a frame.
    Ack,
    /// A lone NAK byte outside a frame.
    Nak,
    /// A byte that is neither a frame start nor ACK/NAK, outside a frame.
    Noise(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Hunt,
    AfterDle,
    Body,
    BodyDle,
    Crc1,
    Crc2(u8),
}

/// Largest APDU body accepted (ZVT's extended length field tops out at 65535 + header).
const MAX_FRAME: usize = 65_540;

/// Incremental frame decoder; feed it any bytes, it never panics.
#[derive(Debug)]
pub struct FrameDecoder {
    state: State,
    body: Vec<u8>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self {
            state: State::Hunt,
            body: Vec::new(),
        }
    }

    /// True while a frame has started but not ended (the inter-byte timer runs).
    pub fn in_frame(&self) -> bool {
        !matches!(self.state, State::Hunt)
    }

    /// Drops a partial frame (inter-byte timeout).
    pub fn reset(&mut self) {
        self.state = State::Hunt;
        self.body.clear();
    }

    /// Feeds one byte; returns a token when one is complete.
    pub fn push(&mut self, byte: u8) -> Option<Token> {
        match self.state {
            State::Hunt => match byte {
                DLE => {
                    self.state = State::AfterDle;
                    None
                }
                ACK => Some(Token::Ack),
                NAK => Some(Token::Nak),
                other => Some(Token::Noise(other)),
            },
            State::AfterDle => {
                if byte == STX {
                    self.body.clear();
                    self.state = State::Body;
                    None
                } else {
                    self.state = State::Hunt;
                    Some(Token::Noise(byte))
                }
            }
            State::Body => {
                if byte == DLE {
                    self.state = State::BodyDle;
                } else if self.body.len() >= MAX_FRAME {
                    self.reset();
                    return Some(Token::BadEscape);
                } else {
                    self.body.push(byte);
                }
                None
            }
            State::BodyDle => match byte {
                DLE => {
                    self.body.push(DLE);
                    self.state = State::Body;
                    None
                }
                ETX => {
                    self.state = State::Crc1;
                    None
                }
                STX => {
                    // A new frame began inside the old one: the sender restarted.
                    self.body.clear();
                    self.state = State::Body;
                    Some(Token::BadEscape)
                }
                _ => {
                    self.reset();
                    Some(Token::BadEscape)
                }
            },
            State::Crc1 => {
                self.state = State::Crc2(byte);
                None
            }
            State::Crc2(low) => {
                let received = u16::from_le_bytes([low, byte]);
                let body = std::mem::take(&mut self.body);
                self.state = State::Hunt;
                if frame_crc(&body) == received {
                    Some(Token::Frame(body))
                } else {
                    Some(Token::BadCrc)
                }
            }
        }
    }
}

/// The CRC of a ZVT frame carrying `apdu`: computed over the APDU and ETX.
pub fn frame_crc(apdu: &[u8]) -> u16 {
    let mut crc_input = Vec::with_capacity(apdu.len() + 1);
    crc_input.extend_from_slice(apdu);
    crc_input.push(ETX);
    crc16_kermit(&crc_input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Token> {
        let mut decoder = FrameDecoder::new();
        bytes.iter().filter_map(|&b| decoder.push(b)).collect()
    }

    #[test]
    fn ack_apdu_frame_vector() {
        // 80 00 00 (positive acknowledgement APDU) framed; CRC-16/KERMIT over 80 00 00 03.
        let frame = encode_frame(&[0x80, 0x00, 0x00]);
        let crc = super::super::crc::crc16_kermit(&[0x80, 0x00, 0x00, 0x03]).to_le_bytes();
        assert_eq!(
            frame,
            [0x10, 0x02, 0x80, 0x00, 0x00, 0x10, 0x03, crc[0], crc[1]]
        );
        assert_eq!(
            decode_all(&frame),
            vec![Token::Frame(vec![0x80, 0x00, 0x00])]
        );
    }

    #[test]
    fn dle_in_data_is_doubled_and_restored() {
        let apdu = [0x06, 0x01, 0x02, 0x10, 0x10];
        let frame = encode_frame(&apdu);
        assert_eq!(&frame[2..9], &[0x06, 0x01, 0x02, 0x10, 0x10, 0x10, 0x10]);
        assert_eq!(decode_all(&frame), vec![Token::Frame(apdu.to_vec())]);
    }

    #[test]
    fn corrupted_crc_is_reported() {
        let mut frame = encode_frame(&[0x06, 0x00, 0x00]);
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        assert_eq!(decode_all(&frame), vec![Token::BadCrc]);
    }

    #[test]
    fn control_bytes_and_noise_outside_frames() {
        assert_eq!(
            decode_all(&[0x06, 0x15, 0x41]),
            vec![Token::Ack, Token::Nak, Token::Noise(0x41)]
        );
    }

    #[test]
    fn bad_escape_resyncs_on_next_frame() {
        let mut bytes = vec![0x10, 0x02, 0x01, 0x10, 0x55];
        bytes.extend(encode_frame(&[0x80, 0x00, 0x00]));
        let tokens = decode_all(&bytes);
        assert_eq!(
            tokens,
            vec![Token::BadEscape, Token::Frame(vec![0x80, 0x00, 0x00])]
        );
    }
}
