//! CRC used by the ZVT serial link layer.
//!
//! CRC-16/KERMIT: reflected polynomial 0x8408, initial value 0, no final xor. ZVT computes it over
//! the unescaped APDU followed by the ETX byte (0x03) and sends it low byte first.

/// CRC-16/KERMIT over `data`.
pub fn crc16_kermit(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte);
        for _ in 0..8 {
            if crc & 1 != 0 {
                crc = (crc >> 1) ^ 0x8408;
            } else {
                crc >>= 1;
            }
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kermit_check_value() {
        // The catalogued check value of CRC-16/KERMIT over "123456789".
        assert_eq!(crc16_kermit(b"123456789"), 0x2189);
    }

    #[test]
    fn ccnet_vectors_from_design_share_the_crc() {
        // DESIGN.md's CCNET vectors use the same CRC: RESET `02 03 06 30` -> `41 b3`.
        assert_eq!(crc16_kermit(&[0x02, 0x03, 0x06, 0x30]), 0xb341);
    }
}
