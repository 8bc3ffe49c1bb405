//! BER-TLV as used inside BMP 06: tags of one or more bytes, lengths `<0x80`, `81 nn`, `82 nn nn`.

use super::CodecError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Tag bytes as one number (e.g. 0x1f07).
    pub tag: u32,
    pub value: Vec<u8>,
}

impl Tlv {
    pub fn new(tag: u32, value: Vec<u8>) -> Self {
        Self { tag, value }
    }

    /// Constructed tags (bit 6 of the first tag byte) hold nested TLV objects.
    pub fn is_constructed(&self) -> bool {
        first_tag_byte(self.tag) & 0x20 != 0
    }
}

fn first_tag_byte(tag: u32) -> u8 {
    let bytes = tag.to_be_bytes();
    bytes.iter().copied().find(|&b| b != 0).unwrap_or(0)
}

pub fn read_length(bytes: &[u8]) -> Result<(usize, &[u8]), CodecError> {
    let (&first, rest) = bytes
        .split_first()
        .ok_or(CodecError::Truncated("TLV length"))?;
    match first {
        0..=0x7f => Ok((usize::from(first), rest)),
        0x81 => {
            let (&len, rest) = rest
                .split_first()
                .ok_or(CodecError::Truncated("TLV length"))?;
            Ok((usize::from(len), rest))
        }
        0x82 => {
            if rest.len() < 2 {
                return Err(CodecError::Truncated("TLV length"));
            }
            Ok((
                usize::from(u16::from_be_bytes([rest[0], rest[1]])),
                &rest[2..],
            ))
        }
        other => Err(CodecError::BadTlvLength(other)),
    }
}

pub fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        let len = len.min(0xffff) as u16;
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

fn read_tag(bytes: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    let (&first, mut rest) = bytes
        .split_first()
        .ok_or(CodecError::Truncated("TLV tag"))?;
    let mut tag = u32::from(first);
    if first & 0x1f == 0x1f {
        // Subsequent tag bytes follow while bit 8 is set; cap at four bytes in all.
        for _ in 0..3 {
            let (&next, after) = rest.split_first().ok_or(CodecError::Truncated("TLV tag"))?;
            tag = (tag << 8) | u32::from(next);
            rest = after;
            if next & 0x80 == 0 {
                return Ok((tag, rest));
            }
        }
        return Err(CodecError::BadTlvTag);
    }
    Ok((tag, rest))
}

fn write_tag(out: &mut Vec<u8>, tag: u32) {
    let bytes = tag.to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    out.extend_from_slice(&bytes[start..]);
}

/// Parses a sequence of TLV objects filling `bytes`.
pub fn parse(mut bytes: &[u8]) -> Result<Vec<Tlv>, CodecError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (tag, rest) = read_tag(bytes)?;
        let (len, rest) = read_length(rest)?;
        if rest.len() < len {
            return Err(CodecError::Truncated("TLV value"));
        }
        out.push(Tlv {
            tag,
            value: rest[..len].to_vec(),
        });
        bytes = &rest[len..];
    }
    Ok(out)
}

pub fn encode(objects: &[Tlv]) -> Vec<u8> {
    let mut out = Vec::new();
    for object in objects {
        write_tag(&mut out, object.tag);
        write_length(&mut out, object.value.len());
        out.extend_from_slice(&object.value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_block_vector() {
        // 25 (constructed print-text container) holding 07 text line "AB" and 1F07 receipt type 1.
        let bytes = [0x1f, 0x07, 0x01, 0x01, 0x25, 0x04, 0x07, 0x02, b'A', b'B'];
        let objects = parse(&bytes).unwrap();
        assert_eq!(objects[0], Tlv::new(0x1f07, vec![1]));
        assert_eq!(objects[1].tag, 0x25);
        assert!(objects[1].is_constructed());
        assert_eq!(
            parse(&objects[1].value).unwrap(),
            vec![Tlv::new(0x07, b"AB".to_vec())]
        );
        assert_eq!(encode(&objects), bytes);
    }

    proptest! {
        #[test]
        fn round_trip(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..5)) {
            let objects: Vec<Tlv> = values.into_iter().map(|v| Tlv::new(0x07, v)).collect();
            prop_assert_eq!(parse(&encode(&objects)).unwrap(), objects);
        }
    }
}
