//! FFD TLV encoding and parsing: tag and length as little-endian u16, then the value.
//!
//! Strings are CP866, money is VLN (little-endian, shortest), quantities FVLN (decimal point
//! position byte, then VLN), times are Unix seconds as little-endian u32.

use chrono::NaiveDateTime;

/// One encoded tag.
pub struct Tlv {
    tag: u16,
    value: Vec<u8>,
}

impl Tlv {
    pub fn string(tag: u16, text: &str) -> Self {
        let (bytes, _, _) = encoding_rs::IBM866.encode(text);
        Tlv {
            tag,
            value: bytes.into_owned(),
        }
    }

    pub fn byte(tag: u16, value: u8) -> Self {
        Tlv {
            tag,
            value: vec![value],
        }
    }

    pub fn u32(tag: u16, value: u32) -> Self {
        Tlv {
            tag,
            value: value.to_le_bytes().to_vec(),
        }
    }

    pub fn unix_time(tag: u16, time: NaiveDateTime) -> Self {
        // The FN stores local time as if it were UTC seconds, as the FFD prescribes.
        let seconds = time.and_utc().timestamp().clamp(0, u32::MAX as i64) as u32;
        Self::u32(tag, seconds)
    }

    pub fn vln(tag: u16, value: i64) -> Self {
        Tlv {
            tag,
            value: vln_bytes(value.max(0) as u64),
        }
    }

    pub fn fvln(tag: u16, value: i64, decimals: u8) -> Self {
        let mut bytes = vec![decimals];
        bytes.extend(vln_bytes(value.max(0) as u64));
        Tlv { tag, value: bytes }
    }

    pub fn stlv(tag: u16, nested: Vec<u8>) -> Self {
        Tlv { tag, value: nested }
    }
}

fn vln_bytes(value: u64) -> Vec<u8> {
    let bytes = value.to_le_bytes();
    let len = (8 - value.leading_zeros() as usize / 8).max(1);
    bytes[..len].to_vec()
}

/// Appends tags to a buffer.
#[derive(Default)]
pub struct TlvWriter {
    out: Vec<u8>,
}

impl TlvWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, tlv: Tlv) {
        let len = tlv.value.len().min(u16::MAX as usize);
        self.out.extend_from_slice(&tlv.tag.to_le_bytes());
        self.out.extend_from_slice(&(len as u16).to_le_bytes());
        self.out.extend_from_slice(&tlv.value[..len]);
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Splits TLV bytes into `(tag, value)` pairs; None when a length runs past the end.
pub fn parse(mut bytes: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let [t0, t1, l0, l1, rest @ ..] = bytes else {
            return None;
        };
        let (tag, len) = (
            u16::from_le_bytes([*t0, *t1]),
            usize::from(u16::from_le_bytes([*l0, *l1])),
        );
        let value = rest.get(..len)?;
        out.push((tag, value));
        bytes = &rest[len..];
    }
    Some(out)
}

/// A CP866 string value.
pub fn string_value(value: &[u8]) -> String {
    let (text, _, _) = encoding_rs::IBM866.decode(value);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vln_is_shortest_little_endian() {
        let mut w = TlvWriter::new();
        w.put(Tlv::vln(1020, 394_326));
        assert_eq!(w.finish(), vec![0xFC, 0x03, 0x03, 0x00, 0x56, 0x04, 0x06]);
        let mut w = TlvWriter::new();
        w.put(Tlv::vln(1215, 0));
        assert_eq!(w.finish(), vec![0xBF, 0x04, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn parse_reads_back_what_the_writer_wrote_and_refuses_truncation() {
        let mut w = TlvWriter::new();
        w.put(Tlv::string(1225, "Водоканал"));
        w.put(Tlv::byte(1222, 4));
        let bytes = w.finish();
        let tags = parse(&bytes).unwrap();
        assert_eq!(tags[0].0, 1225);
        assert_eq!(string_value(tags[0].1), "Водоканал");
        assert_eq!(tags[1], (1222, &[4u8][..]));
        assert_eq!(parse(&bytes[..bytes.len() - 1]), None);
    }

    #[test]
    fn strings_are_cp866() {
        let mut w = TlvWriter::new();
        w.put(Tlv::string(1030, "Свет"));
        assert_eq!(
            w.finish(),
            vec![0x06, 0x04, 0x04, 0x00, 0x91, 0xA2, 0xA5, 0xE2]
        );
    }
}
