//! Card numbers: masking, and the detector that tests apply to everything that leaves the kiosk.
//!
//! Only a masked PAN (first six, last four digits) may ever leave this crate.

/// Luhn check over a string of ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

fn is_pan_candidate(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && luhn_valid(digits)
}

/// True when `text` contains something that looks like a full card number: a run of 13–19 digits
/// that passes the Luhn check. A run counts when it is not glued to letters or further digits
/// (so hex hashes and longer numbers do not trip it), and digit groups of 4–6 joined by single
/// spaces or dashes ("4111 1111 1111 1111") are read as one run.
pub fn contains_full_pan(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        // Collect a maximal digit run starting at i.
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let glued_after = i < bytes.len() && bytes[i].is_ascii_alphabetic();
        if !glued_after && is_pan_candidate(&bytes[start..i]) {
            return true;
        }
        if grouped_pan_at(bytes, start) {
            return true;
        }
    }
    false
}

/// Reads digit groups of 4–6 separated by one space or dash, starting at `start`.
fn grouped_pan_at(bytes: &[u8], start: usize) -> bool {
    let mut digits = Vec::new();
    let mut i = start;
    loop {
        let group_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let group = &bytes[group_start..i];
        if !(4..=6).contains(&group.len()) {
            return false;
        }
        digits.extend_from_slice(group);
        if digits.len() >= 13 && is_pan_candidate(&digits) {
            let glued = i < bytes.len() && bytes[i].is_ascii_alphanumeric();
            if !glued {
                return true;
            }
        }
        if digits.len() > 19 {
            return false;
        }
        let separator = i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'-');
        if !separator || i + 1 >= bytes.len() || !bytes[i + 1].is_ascii_digit() {
            return false;
        }
        i += 1;
    }
}

/// Masks a PAN string for display: the first six and last four characters stay, the rest become
/// `*`. Anything shorter than 11 characters is fully masked.
pub fn mask_pan(pan: &str) -> String {
    let chars: Vec<char> = pan.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.len() < 11 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i < 6 || i >= chars.len() - 4 {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Reads BMP 22 (packed digits; nibble E = masked digit, F = padding) into a masked string.
/// A terminal that sends an unmasked number gets it masked here, so it never travels further.
pub fn masked_pan_from_bmp(value: &[u8]) -> String {
    let mut text = String::with_capacity(value.len() * 2);
    for &byte in value {
        for nibble in [byte >> 4, byte & 0x0f] {
            match nibble {
                0..=9 => text.push(char::from(b'0' + nibble)),
                0x0e => text.push('*'),
                _ => {}
            }
        }
    }
    if text.contains('*') && !contains_full_pan(&text) {
        text
    } else {
        mask_pan(&text)
    }
}

/// Encodes a masked PAN (digits and `*`) into BMP 22 nibbles.
pub fn masked_pan_to_bmp(masked: &str) -> Vec<u8> {
    let mut nibbles: Vec<u8> = masked
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c as u8 - b'0'),
            '*' => Some(0x0e),
            _ => None,
        })
        .collect();
    if nibbles.len() % 2 == 1 {
        nibbles.push(0x0f);
    }
    nibbles
        .chunks(2)
        .map(|pair| (pair[0] << 4) | pair[1])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn detects_plain_and_grouped_test_pans() {
        assert!(contains_full_pan("pan=4111111111111111;"));
        assert!(contains_full_pan("{\"pan\":\"2200 7001 2345 6781\"}"));
        assert!(luhn_valid(b"2200700123456781"));
        assert!(contains_full_pan("card 4111-1111-1111-1111 ok"));
        assert!(contains_full_pan("5555555555554444"));
    }

    #[test]
    fn ignores_masked_short_and_glued_numbers() {
        assert!(!contains_full_pan("411111******1111"));
        assert!(!contains_full_pan("amount 123456 trace 000042"));
        assert!(!contains_full_pan("2026-11-27T14:13:47Z"));
        assert!(!contains_full_pan("hash ab4111111111111111cd"));
        assert!(!contains_full_pan("41111111111111110000")); // 20 digits: no PAN
        assert!(!contains_full_pan("4111111111111112")); // Luhn fails
    }

    #[test]
    fn bmp22_masked_vector() {
        // 4111 11EE EEEE 1111 as sent by a terminal that masks.
        let bmp = [0x41, 0x11, 0x11, 0xee, 0xee, 0xee, 0x11, 0x11];
        assert_eq!(masked_pan_from_bmp(&bmp), "411111******1111");
        assert_eq!(masked_pan_to_bmp("411111******1111"), bmp);
    }

    #[test]
    fn unmasked_bmp22_is_masked_on_entry() {
        let bmp = [0x41, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11];
        let masked = masked_pan_from_bmp(&bmp);
        assert_eq!(masked, "411111******1111");
        assert!(!contains_full_pan(&masked));
    }

    proptest! {
        #[test]
        fn masked_output_never_contains_a_full_pan(digits in "[0-9]{13,19}") {
            prop_assert!(!contains_full_pan(&mask_pan(&digits)));
        }

        #[test]
        fn detector_never_panics(text in ".*") {
            let _ = contains_full_pan(&text);
        }
    }
}
