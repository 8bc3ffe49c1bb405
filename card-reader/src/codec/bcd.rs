//! Packed BCD as ZVT uses it: two decimal digits per byte, most significant first.

use super::CodecError;

/// Encodes `value` as `len` bytes of packed BCD. Fails when it does not fit.
pub fn encode(value: u64, len: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![0u8; len];
    let mut rest = value;
    for byte in out.iter_mut().rev() {
        let low = (rest % 10) as u8;
        rest /= 10;
        let high = (rest % 10) as u8;
        rest /= 10;
        *byte = (high << 4) | low;
    }
    if rest != 0 {
        return Err(CodecError::BcdOverflow { value, len });
    }
    Ok(out)
}

/// Decodes packed BCD. Every nibble must be a decimal digit.
pub fn decode(bytes: &[u8]) -> Result<u64, CodecError> {
    if bytes.len() > 9 {
        return Err(CodecError::BadBcd);
    }
    let mut value: u64 = 0;
    for &byte in bytes {
        let (high, low) = (byte >> 4, byte & 0x0f);
        if high > 9 || low > 9 {
            return Err(CodecError::BadBcd);
        }
        value = value * 100 + u64::from(high) * 10 + u64::from(low);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amount_vector() {
        // 1234.56 RUB = 123456 kopecks in BMP 04's six bytes.
        assert_eq!(encode(123_456, 6).unwrap(), [0, 0, 0, 0x12, 0x34, 0x56]);
        assert_eq!(decode(&[0, 0, 0, 0x12, 0x34, 0x56]).unwrap(), 123_456);
    }

    #[test]
    fn rejects_overflow_and_hex_nibbles() {
        assert!(encode(1000, 1).is_err());
        assert!(decode(&[0x1a]).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(value in 0u64..=999_999_999_999) {
            prop_assert_eq!(decode(&encode(value, 6).unwrap()).unwrap(), value);
        }
    }
}
