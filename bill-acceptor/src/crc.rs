//! CRC-16/KERMIT (reflected polynomial 0x8408, init 0, no final xor), used by both CCNET and ID003.

/// CRC-16/KERMIT of `bytes`. Frames carry it low byte first.
pub fn crc16_kermit(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_catalogue() {
        // The CRC catalogue's check value for CRC-16/KERMIT over "123456789" is 0x2189.
        assert_eq!(crc16_kermit(b"123456789"), 0x2189);
    }

    #[test]
    fn design_md_poll_frame() {
        assert_eq!(crc16_kermit(&[0x02, 0x03, 0x06, 0x33]), 0x81da);
    }
}
