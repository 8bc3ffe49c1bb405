//! APDU: `CLASS INSTR LEN DATA`; LEN 0xFF announces a two-byte little-endian length.

use super::CodecError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apdu {
    pub class: u8,
    pub instr: u8,
    pub data: Vec<u8>,
}

impl Apdu {
    pub fn new(class: u8, instr: u8, data: Vec<u8>) -> Self {
        Self { class, instr, data }
    }

    /// The control field as one number, e.g. 0x0601 for authorisation.
    pub fn command(&self) -> u16 {
        u16::from_be_bytes([self.class, self.instr])
    }

    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let len = self.data.len();
        let mut out = Vec::with_capacity(len + 5);
        out.push(self.class);
        out.push(self.instr);
        if len < 0xff {
            out.push(len as u8);
        } else if let Ok(len16) = u16::try_from(len) {
            out.push(0xff);
            out.extend_from_slice(&len16.to_le_bytes());
        } else {
            return Err(CodecError::TooLong(len));
        }
        out.extend_from_slice(&self.data);
        Ok(out)
    }

    /// Decodes exactly one APDU filling `bytes` (a frame body).
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let (&class, rest) = bytes
            .split_first()
            .ok_or(CodecError::Truncated("control field"))?;
        let (&instr, rest) = rest
            .split_first()
            .ok_or(CodecError::Truncated("control field"))?;
        let (&len_byte, rest) = rest.split_first().ok_or(CodecError::Truncated("length"))?;
        let (len, rest) = if len_byte == 0xff {
            if rest.len() < 2 {
                return Err(CodecError::Truncated("extended length"));
            }
            (
                usize::from(u16::from_le_bytes([rest[0], rest[1]])),
                &rest[2..],
            )
        } else {
            (usize::from(len_byte), rest)
        };
        if rest.len() != len {
            return Err(CodecError::LengthMismatch {
                declared: len,
                actual: rest.len(),
            });
        }
        Ok(Self {
            class,
            instr,
            data: rest.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_and_extended_lengths() {
        let short = Apdu::new(0x06, 0x01, vec![0x04, 0, 0, 0, 0, 0x10, 0x00]);
        assert_eq!(
            short.encode().unwrap(),
            [0x06, 0x01, 0x07, 0x04, 0, 0, 0, 0, 0x10, 0x00]
        );
        let long = Apdu::new(0x06, 0xd3, vec![0x20; 300]);
        let encoded = long.encode().unwrap();
        assert_eq!(&encoded[..5], &[0x06, 0xd3, 0xff, 0x2c, 0x01]);
        assert_eq!(Apdu::decode(&encoded).unwrap(), long);
    }

    #[test]
    fn length_mismatch_is_an_error() {
        assert!(matches!(
            Apdu::decode(&[0x80, 0x00, 0x02, 0x01]),
            Err(CodecError::LengthMismatch {
                declared: 2,
                actual: 1
            })
        ));
    }

    proptest! {
        #[test]
        fn round_trip(class: u8, instr: u8, data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let apdu = Apdu::new(class, instr, data);
            prop_assert_eq!(Apdu::decode(&apdu.encode().unwrap()).unwrap(), apdu);
        }
    }
}
