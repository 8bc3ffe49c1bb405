//! BMP fields: a one-byte tag followed by a value whose length the tag defines (fixed, LLVAR with
//! length digits as `Fx` bytes, or a BER-TLV container for tag 06).

use super::{tlv, CodecError};

/// How a BMP's length is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmpLength {
    Fixed(usize),
    /// Two length bytes `F<d1> F<d2>`.
    Llvar,
    /// Three length bytes `F<d1> F<d2> F<d3>`.
    Lllvar,
    /// BMP 06: BER length then TLV objects.
    Tlv,
}

/// Length rule for each BMP this crate understands (ZVT "summary of utilised BMPs").
pub fn bmp_length(tag: u8) -> Option<BmpLength> {
    use BmpLength::*;
    Some(match tag {
        0x01 | 0x02 | 0x03 | 0x05 | 0x19 | 0x27 | 0x8a | 0x8c | 0xa0 | 0xd0 | 0xd2 | 0xd3 => {
            Fixed(1)
        }
        0x0d | 0x0e | 0x17 | 0x3a | 0x49 | 0x87 => Fixed(2),
        0x0b | 0x0c | 0x37 | 0x3d | 0x88 | 0xaa => Fixed(3),
        0x29 => Fixed(4),
        0xba => Fixed(5),
        0x04 => Fixed(6),
        0x3b => Fixed(8),
        0x2a => Fixed(15),
        0x22 | 0x23 | 0x2d | 0x8b | 0xa7 | 0xd1 | 0xe1..=0xe8 | 0xf1..=0xf8 => Llvar,
        0x24 | 0x2e | 0x3c | 0x60 | 0x92 | 0x9a | 0xaf => Lllvar,
        0x06 => Tlv,
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmpField {
    pub tag: u8,
    pub value: Vec<u8>,
}

/// The result of parsing a BMP list: the fields understood and, if an unknown tag stopped the walk,
/// the bytes from that tag on (kept, never silently dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BmpList {
    pub fields: Vec<BmpField>,
    pub unparsed: Vec<u8>,
}

impl BmpList {
    pub fn get(&self, tag: u8) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.tag == tag)
            .map(|f| f.value.as_slice())
    }
}

/// Reads an LLVAR/LLLVAR length of `digits` `Fx` bytes.
pub fn var_length(bytes: &[u8], digits: usize) -> Result<(usize, &[u8]), CodecError> {
    if bytes.len() < digits {
        return Err(CodecError::Truncated("LLVAR length"));
    }
    let mut len = 0usize;
    for &b in &bytes[..digits] {
        if b >> 4 != 0x0f || b & 0x0f > 9 {
            return Err(CodecError::BadVarLength(b));
        }
        len = len * 10 + usize::from(b & 0x0f);
    }
    Ok((len, &bytes[digits..]))
}

/// Parses a BMP list. Known tags with broken values are errors; an unknown tag ends the walk and
/// the rest is returned in `unparsed`.
pub fn parse(mut bytes: &[u8]) -> Result<BmpList, CodecError> {
    let mut list = BmpList::default();
    while let Some((&tag, rest)) = bytes.split_first() {
        let Some(rule) = bmp_length(tag) else {
            list.unparsed = bytes.to_vec();
            break;
        };
        let (len, rest) = match rule {
            BmpLength::Fixed(n) => (n, rest),
            BmpLength::Llvar => var_length(rest, 2)?,
            BmpLength::Lllvar => var_length(rest, 3)?,
            BmpLength::Tlv => tlv::read_length(rest)?,
        };
        if rest.len() < len {
            return Err(CodecError::Truncated("BMP value"));
        }
        list.fields.push(BmpField {
            tag,
            value: rest[..len].to_vec(),
        });
        bytes = &rest[len..];
    }
    Ok(list)
}

/// Appends one BMP (tag, length prefix as the tag requires, value).
pub fn put(out: &mut Vec<u8>, tag: u8, value: &[u8]) -> Result<(), CodecError> {
    let rule = bmp_length(tag).ok_or(CodecError::UnknownBmp(tag))?;
    out.push(tag);
    match rule {
        BmpLength::Fixed(n) => {
            if value.len() != n {
                return Err(CodecError::BadFieldLength {
                    tag,
                    len: value.len(),
                });
            }
        }
        BmpLength::Llvar => {
            if value.len() > 99 {
                return Err(CodecError::BadFieldLength {
                    tag,
                    len: value.len(),
                });
            }
            out.push(0xf0 | (value.len() / 10) as u8);
            out.push(0xf0 | (value.len() % 10) as u8);
        }
        BmpLength::Lllvar => {
            if value.len() > 999 {
                return Err(CodecError::BadFieldLength {
                    tag,
                    len: value.len(),
                });
            }
            out.push(0xf0 | (value.len() / 100) as u8);
            out.push(0xf0 | (value.len() / 10 % 10) as u8);
            out.push(0xf0 | (value.len() % 10) as u8);
        }
        BmpLength::Tlv => tlv::write_length(out, value.len()),
    }
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llvar_and_fixed() {
        let bytes = [0x27, 0x00, 0x22, 0xf0, 0xf2, 0x12, 0x34, 0x87, 0x00, 0x42];
        let list = parse(&bytes).unwrap();
        assert_eq!(list.get(0x27), Some(&[0x00][..]));
        assert_eq!(list.get(0x22), Some(&[0x12, 0x34][..]));
        assert_eq!(list.get(0x87), Some(&[0x00, 0x42][..]));
        let mut out = Vec::new();
        put(&mut out, 0x27, &[0]).unwrap();
        put(&mut out, 0x22, &[0x12, 0x34]).unwrap();
        put(&mut out, 0x87, &[0, 0x42]).unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn unknown_tag_keeps_the_rest() {
        let list = parse(&[0x27, 0x00, 0x7e, 0x01, 0x02]).unwrap();
        assert_eq!(list.fields.len(), 1);
        assert_eq!(list.unparsed, vec![0x7e, 0x01, 0x02]);
    }

    #[test]
    fn truncated_value_is_an_error() {
        assert!(parse(&[0x04, 0x00, 0x00]).is_err());
        assert!(parse(&[0x22, 0xf0]).is_err());
    }
}
