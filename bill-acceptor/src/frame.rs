//! Byte framing shared by CCNET (`02 ADR LNG payload CRC_L CRC_H`) and ID003
//! (`FC LNG payload CRC_L CRC_H`). LNG counts the whole frame; the CRC is CRC-16/KERMIT over
//! everything before it. The payload is the command (host → device) or the reply data.

use crate::crc::crc16_kermit;

/// CCNET start byte.
pub const CCNET_SYNC: u8 = 0x02;
/// ID003 start byte.
pub const ID003_SYNC: u8 = 0xFC;
/// CCNET peripheral address of a bill validator.
pub const CCNET_BILL_VALIDATOR: u8 = 0x03;

/// Which of the two framings a byte stream uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// CCNET: sync 0x02 and an address byte.
    Ccnet,
    /// ID003: sync 0xFC, no address.
    Id003,
}

impl Framing {
    fn sync(self) -> u8 {
        match self {
            Framing::Ccnet => CCNET_SYNC,
            Framing::Id003 => ID003_SYNC,
        }
    }

    /// Bytes before the payload (sync, address, length).
    fn header_len(self) -> usize {
        match self {
            Framing::Ccnet => 3,
            Framing::Id003 => 2,
        }
    }

    /// Shortest legal frame: header, one payload byte, two CRC bytes.
    pub fn min_frame_len(self) -> usize {
        self.header_len() + 3
    }

    /// Longest payload one frame can carry (LNG is a single byte).
    pub fn max_payload_len(self) -> usize {
        255 - self.header_len() - 2
    }
}

/// One checked frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// CCNET address (0x03 for a bill validator); `None` for ID003.
    pub address: Option<u8>,
    /// Command byte and data (requests) or reply data.
    pub payload: Vec<u8>,
}

/// Why bytes could not be framed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("payload of {0} bytes does not fit one frame (1..={1} bytes)")]
    PayloadSize(usize, usize),
    #[error("length byte {0} is shorter than the smallest frame")]
    BadLength(u8),
    #[error("CRC mismatch: frame says {expected:#06x}, bytes give {computed:#06x}")]
    BadCrc { expected: u16, computed: u16 },
}

/// Encode `payload` into one frame.
pub fn encode_frame(framing: Framing, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.is_empty() || payload.len() > framing.max_payload_len() {
        return Err(FrameError::PayloadSize(
            payload.len(),
            framing.max_payload_len(),
        ));
    }
    let total = framing.header_len() + payload.len() + 2;
    let mut out = Vec::with_capacity(total);
    out.push(framing.sync());
    if framing == Framing::Ccnet {
        out.push(CCNET_BILL_VALIDATOR);
    }
    // Fits: total <= 255 is guaranteed by max_payload_len.
    out.push(total as u8);
    out.extend_from_slice(payload);
    let crc = crc16_kermit(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Incremental frame decoder: push received bytes, pull frames or framing errors.
/// Bytes before a sync byte are skipped; after a bad frame it resynchronises on the next sync byte.
#[derive(Debug)]
pub struct FrameDecoder {
    framing: Framing,
    buf: Vec<u8>,
    /// Bytes skipped while hunting for a sync byte since the last `take_skipped`.
    skipped: usize,
}

impl FrameDecoder {
    pub fn new(framing: Framing) -> Self {
        Self {
            framing,
            buf: Vec::new(),
            skipped: 0,
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Drop everything buffered (after a timeout: a half frame will never complete).
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// True when a partial frame is waiting for more bytes.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Number of noise bytes skipped since the last call.
    pub fn take_skipped(&mut self) -> usize {
        std::mem::take(&mut self.skipped)
    }

    /// Next complete frame, a framing error, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let sync = self.framing.sync();
        match self.buf.iter().position(|&b| b == sync) {
            Some(start) => {
                self.skipped += start;
                self.buf.drain(..start);
            }
            None => {
                self.skipped += self.buf.len();
                self.buf.clear();
                return None;
            }
        }
        let header = self.framing.header_len();
        if self.buf.len() < header {
            return None;
        }
        let len = self.buf[header - 1];
        if usize::from(len) < self.framing.min_frame_len() {
            self.buf.drain(..1);
            return Some(Err(FrameError::BadLength(len)));
        }
        let len = usize::from(len);
        if self.buf.len() < len {
            return None;
        }
        let computed = crc16_kermit(&self.buf[..len - 2]);
        let expected = u16::from_le_bytes([self.buf[len - 2], self.buf[len - 1]]);
        if computed != expected {
            // Skip only the sync byte: the real frame may start inside what we took for one.
            self.buf.drain(..1);
            return Some(Err(FrameError::BadCrc { expected, computed }));
        }
        let address = match self.framing {
            Framing::Ccnet => Some(self.buf[1]),
            Framing::Id003 => None,
        };
        let payload = self.buf[header..len - 2].to_vec();
        self.buf.drain(..len);
        Some(Ok(Frame { address, payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn design_md_ccnet_vectors_encode() {
        let cases = [
            ("30", "02 03 06 30 41 b3"),
            ("33", "02 03 06 33 da 81"),
            ("00", "02 03 06 00 c2 82"),
            ("ff", "02 03 06 ff ba 8d"),
            ("35", "02 03 06 35 ec e4"),
            ("36", "02 03 06 36 77 d6"),
            ("38", "02 03 06 38 09 3f"),
            ("41", "02 03 06 41 4f d1"),
            (
                "34 00 00 00 00 00 00",
                "02 03 0c 34 00 00 00 00 00 00 17 0c",
            ),
            ("80 04", "02 03 07 80 04 a8 75"),
            ("81 04", "02 03 07 81 04 70 6c"),
            ("14", "02 03 06 14 67 d4"),
            ("1c 60", "02 03 07 1c 60 77 e0"),
        ];
        for (payload, frame) in cases {
            assert_eq!(
                encode_frame(Framing::Ccnet, &hex(payload)).unwrap(),
                hex(frame),
                "{payload}"
            );
            let mut dec = FrameDecoder::new(Framing::Ccnet);
            dec.push(&hex(frame));
            let got = dec.next_frame().unwrap().unwrap();
            assert_eq!(got.payload, hex(payload));
            assert_eq!(got.address, Some(CCNET_BILL_VALIDATOR));
        }
    }

    #[test]
    fn design_md_id003_vectors() {
        assert_eq!(
            encode_frame(Framing::Id003, &[0x11]).unwrap(),
            hex("fc 05 11 27 56")
        );
        assert_eq!(
            encode_frame(Framing::Id003, &[0x50]).unwrap(),
            hex("fc 05 50 aa 05")
        );
    }

    #[test]
    fn resynchronises_after_noise_and_bad_crc() {
        let mut dec = FrameDecoder::new(Framing::Ccnet);
        dec.push(&hex("55 aa 02 03 06 14 67 d5 02 03 06 14 67 d4"));
        assert!(matches!(
            dec.next_frame(),
            Some(Err(FrameError::BadCrc { .. }))
        ));
        let frame = dec.next_frame().unwrap().unwrap();
        assert_eq!(frame.payload, vec![0x14]);
        assert!(dec.next_frame().is_none());
        assert_eq!(dec.take_skipped(), 2 + 5);
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let mut dec = FrameDecoder::new(Framing::Id003);
        dec.push(&hex("fc 05 11"));
        assert!(dec.next_frame().is_none());
        dec.push(&hex("27 56"));
        assert_eq!(dec.next_frame().unwrap().unwrap().payload, vec![0x11]);
    }

    #[test]
    fn rejects_short_length_and_oversized_payload() {
        let mut dec = FrameDecoder::new(Framing::Ccnet);
        dec.push(&hex("02 03 02"));
        assert_eq!(dec.next_frame(), Some(Err(FrameError::BadLength(2))));
        assert!(encode_frame(Framing::Ccnet, &[]).is_err());
        assert!(encode_frame(Framing::Ccnet, &[0; 251]).is_err());
        assert!(encode_frame(Framing::Ccnet, &[0; 250]).is_ok());
    }
}
