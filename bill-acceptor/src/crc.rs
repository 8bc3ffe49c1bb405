//! CRC-16/KERMIT (reflected polynomial 0x8408, init 0, no final xor), used by both CCNET and ID003.

/// One entry per byte value: the CRC of that byte alone (a byte at a time instead of a bit).
const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-16/KERMIT of `bytes`. Frames carry it low byte first.
pub fn crc16_kermit(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &byte| {
        (crc >> 8) ^ TABLE[usize::from((crc ^ u16::from(byte)) as u8)]
    })
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
