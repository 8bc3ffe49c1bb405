//! Decoding a USB HID keyboard-wedge scanner: the scanner "types" each code as key presses and
//! ends it with Enter. Bytes a layout cannot type (Cyrillic in Win-1251, control bytes) come as
//! Alt codes: Alt held, the decimal value on the keypad, Alt released.

use crate::{Scan, MAX_CODE_BYTES};

// Key codes from linux/input-event-codes.h.
const KEY_TAB: u16 = 15;
const KEY_ENTER: u16 = 28;
const KEY_LEFTSHIFT: u16 = 42;
const KEY_RIGHTSHIFT: u16 = 54;
const KEY_LEFTALT: u16 = 56;
const KEY_NUMLOCK: u16 = 69;
const KEY_KPENTER: u16 = 96;
const KEY_RIGHTALT: u16 = 100;
/// KEY_KP0 … KEY_KP9.
const KEYPAD_DIGITS: [u16; 10] = [82, 79, 80, 81, 75, 76, 77, 71, 72, 73];

const RELEASE: i32 = 0;
const PRESS: i32 = 1;

/// The keyboard layout the scanner is configured to type in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLayout {
    /// US English (the factory default of Honeywell, Zebra and Newland scanners).
    Us,
}

impl KeyLayout {
    /// Parses "us"; the error names the known layouts.
    pub fn parse(s: &str) -> Result<KeyLayout, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "us" => Ok(KeyLayout::Us),
            _ => Err(format!(
                "unknown keyboard layout {s:?}: known layouts are us"
            )),
        }
    }

    /// (key code, byte, byte with Shift) of the main keys, then of the keypad, that type one
    /// printable byte.
    fn keys(self) -> [&'static [(u16, u8, u8)]; 2] {
        match self {
            KeyLayout::Us => [US_KEYS, US_KEYPAD],
        }
    }

    fn byte(self, code: u16, shift: bool) -> Option<u8> {
        let &(_, plain, shifted) = self.keys().into_iter().flatten().find(|k| k.0 == code)?;
        Some(if shift { shifted } else { plain })
    }

    /// The key and Shift state that type `byte`, as a scanner does: main keys (Shift+8 for `*`,
    /// not the keypad), plain before shifted.
    fn key_for(self, byte: u8) -> Option<(u16, bool)> {
        let [main, keypad] = self.keys();
        main.iter()
            .find(|k| k.1 == byte)
            .map(|k| (k.0, false))
            .or_else(|| main.iter().find(|k| k.2 == byte).map(|k| (k.0, true)))
            .or_else(|| keypad.iter().find(|k| k.1 == byte).map(|k| (k.0, false)))
    }
}

#[rustfmt::skip]
const US_KEYS: &[(u16, u8, u8)] = &[
    (2, b'1', b'!'), (3, b'2', b'@'), (4, b'3', b'#'), (5, b'4', b'$'), (6, b'5', b'%'),
    (7, b'6', b'^'), (8, b'7', b'&'), (9, b'8', b'*'), (10, b'9', b'('), (11, b'0', b')'),
    (12, b'-', b'_'), (13, b'=', b'+'),
    (KEY_TAB, b'\t', b'\t'),
    (16, b'q', b'Q'), (17, b'w', b'W'), (18, b'e', b'E'), (19, b'r', b'R'), (20, b't', b'T'),
    (21, b'y', b'Y'), (22, b'u', b'U'), (23, b'i', b'I'), (24, b'o', b'O'), (25, b'p', b'P'),
    (26, b'[', b'{'), (27, b']', b'}'),
    (30, b'a', b'A'), (31, b's', b'S'), (32, b'd', b'D'), (33, b'f', b'F'), (34, b'g', b'G'),
    (35, b'h', b'H'), (36, b'j', b'J'), (37, b'k', b'K'), (38, b'l', b'L'),
    (39, b';', b':'), (40, b'\'', b'"'), (41, b'`', b'~'), (43, b'\\', b'|'),
    (44, b'z', b'Z'), (45, b'x', b'X'), (46, b'c', b'C'), (47, b'v', b'V'), (48, b'b', b'B'),
    (49, b'n', b'N'), (50, b'm', b'M'),
    (51, b',', b'<'), (52, b'.', b'>'), (53, b'/', b'?'),
    (57, b' ', b' '),
];

/// The keypad as with Num Lock on (scanners switch it on for Alt codes); Shift does not change
/// it here.
#[rustfmt::skip]
const US_KEYPAD: &[(u16, u8, u8)] = &[
    (55, b'*', b'*'), (74, b'-', b'-'), (78, b'+', b'+'), (83, b'.', b'.'), (98, b'/', b'/'),
    (82, b'0', b'0'), (79, b'1', b'1'), (80, b'2', b'2'), (81, b'3', b'3'), (75, b'4', b'4'),
    (76, b'5', b'5'), (77, b'6', b'6'), (71, b'7', b'7'), (72, b'8', b'8'), (73, b'9', b'9'),
];

/// Turns a scanner's key events into scans. Sans-IO: the adapter feeds it EV_KEY events and
/// silences.
pub struct HidDecoder {
    layout: KeyLayout,
    max_len: usize,
    /// Left and right Shift held.
    shift: [bool; 2],
    /// Left and right Alt held.
    alt: [bool; 2],
    /// The keypad number typed while Alt is held; None before the first digit.
    alt_code: Option<u32>,
    /// The current code's bytes (dropped once it is overlong).
    bytes: Vec<u8>,
    /// Bytes in the current code, counted on after it became overlong.
    len: usize,
    /// Why the current code cannot be read; the first reason wins.
    unreadable: Option<String>,
}

impl HidDecoder {
    pub fn new(layout: KeyLayout) -> HidDecoder {
        HidDecoder::with_max_len(layout, MAX_CODE_BYTES)
    }

    fn with_max_len(layout: KeyLayout, max_len: usize) -> HidDecoder {
        HidDecoder {
            layout,
            max_len,
            shift: [false; 2],
            alt: [false; 2],
            alt_code: None,
            bytes: Vec::new(),
            len: 0,
            unreadable: None,
        }
    }

    /// One Linux input key event: `code` is the KEY_* code, `value` 0 release, 1 press,
    /// 2 autorepeat (ignored: a scanner does not hold keys, and a repeat would double a byte).
    /// Enter or keypad Enter ends a code and returns its scan. See the crate README for the
    /// Shift, Alt-code, unmapped-key and overlong rules.
    pub fn key(&mut self, code: u16, value: i32) -> Option<Scan> {
        match value {
            PRESS => self.press(code),
            RELEASE => {
                self.release(code);
                None
            }
            _ => None,
        }
    }

    /// Silence (no key for the idle gap): pending bytes become a code, as in serial mode.
    pub fn idle(&mut self) -> Option<Scan> {
        self.finish()
    }

    /// The kernel dropped events (SYN_DROPPED): the current code has holes, and a release may be
    /// among the lost events.
    pub(crate) fn events_dropped(&mut self) {
        self.shift = [false; 2];
        self.alt = [false; 2];
        self.alt_code = None;
        self.mark_unreadable("input events were dropped by the kernel".into());
    }

    fn press(&mut self, code: u16) -> Option<Scan> {
        match code {
            KEY_LEFTSHIFT => self.shift[0] = true,
            KEY_RIGHTSHIFT => self.shift[1] = true,
            KEY_LEFTALT | KEY_RIGHTALT => {
                if !self.alt_held() {
                    self.alt_code = None;
                }
                self.alt[usize::from(code == KEY_RIGHTALT)] = true;
            }
            // Scanners toggle Num Lock around Alt codes; it carries no data.
            KEY_NUMLOCK => {}
            KEY_ENTER | KEY_KPENTER => return self.finish(),
            _ if self.alt_held() => match KEYPAD_DIGITS.iter().position(|&k| k == code) {
                Some(digit) => {
                    let n = self.alt_code.unwrap_or(0);
                    self.alt_code = Some(n.saturating_mul(10).saturating_add(digit as u32));
                }
                None => self.mark_unreadable(format!("key code {code} pressed with Alt")),
            },
            _ => match self.layout.byte(code, self.shift_held()) {
                Some(byte) => self.append(byte),
                None => self.mark_unreadable(format!("unmapped key code {code}")),
            },
        }
        None
    }

    fn release(&mut self, code: u16) {
        match code {
            KEY_LEFTSHIFT => self.shift[0] = false,
            KEY_RIGHTSHIFT => self.shift[1] = false,
            KEY_LEFTALT | KEY_RIGHTALT => {
                self.alt[usize::from(code == KEY_RIGHTALT)] = false;
                if !self.alt_held() {
                    // Alt alone types nothing.
                    if let Some(n) = self.alt_code.take() {
                        match u8::try_from(n) {
                            Ok(byte) => self.append(byte),
                            Err(_) => self.mark_unreadable(format!("Alt code {n} is not a byte")),
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self) -> Option<Scan> {
        if let Some(n) = self.alt_code.take() {
            self.mark_unreadable(format!("Alt code {n} not finished"));
        }
        let scan = if let Some(reason) = self.unreadable.take() {
            Some(Scan::Unreadable { reason })
        } else if self.len > self.max_len {
            Some(Scan::Overlong { len: self.len })
        } else if self.bytes.is_empty() {
            None
        } else {
            Some(Scan::Code(std::mem::take(&mut self.bytes)))
        };
        self.bytes.clear();
        self.len = 0;
        scan
    }

    fn append(&mut self, byte: u8) {
        self.len += 1;
        if self.len <= self.max_len {
            self.bytes.push(byte);
        } else if !self.bytes.is_empty() {
            tracing::debug!(
                max_len = self.max_len,
                "scanned code is overlong, dropping it"
            );
            self.bytes = Vec::new();
        }
    }

    fn mark_unreadable(&mut self, reason: String) {
        if self.unreadable.is_none() {
            tracing::debug!(%reason, "scanned code is unreadable");
            self.unreadable = Some(reason);
        }
    }

    fn shift_held(&self) -> bool {
        self.shift.iter().any(|&held| held)
    }

    fn alt_held(&self) -> bool {
        self.alt.iter().any(|&held| held)
    }
}

/// The key events (code, value) a scanner in Alt-code mode would type for `payload` with
/// `layout`: printable ASCII as keys (with Shift where needed), every other byte (>= 0x80,
/// control bytes other than tab) as Alt + four keypad digits (Alt+0nnn), then Enter.
pub fn hid_events_for(payload: &[u8], layout: KeyLayout) -> Vec<(u16, i32)> {
    let mut events = Vec::new();
    let tap = |events: &mut Vec<(u16, i32)>, code: u16| {
        events.push((code, PRESS));
        events.push((code, RELEASE));
    };
    for &byte in payload {
        // The layout types printable ASCII and tab; everything else goes as an Alt code.
        match layout.key_for(byte) {
            Some((code, false)) => tap(&mut events, code),
            Some((code, true)) => {
                events.push((KEY_LEFTSHIFT, PRESS));
                tap(&mut events, code);
                events.push((KEY_LEFTSHIFT, RELEASE));
            }
            None => {
                events.push((KEY_LEFTALT, PRESS));
                let digits = [byte / 100 % 10, byte / 10 % 10, byte % 10];
                tap(&mut events, KEYPAD_DIGITS[0]);
                for d in digits {
                    tap(&mut events, KEYPAD_DIGITS[usize::from(d)]);
                }
                events.push((KEY_LEFTALT, RELEASE));
            }
        }
    }
    tap(&mut events, KEY_ENTER);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY_A: u16 = 30;
    const KEY_KP2: u16 = 80;
    const KEY_KP5: u16 = 76;
    const KEY_F1: u16 = 59;

    fn feed(decoder: &mut HidDecoder, events: &[(u16, i32)]) -> Vec<Scan> {
        events
            .iter()
            .filter_map(|&(code, value)| decoder.key(code, value))
            .collect()
    }

    fn tap(code: u16) -> [(u16, i32); 2] {
        [(code, PRESS), (code, RELEASE)]
    }

    fn alt_code(digits: &[u16]) -> Vec<(u16, i32)> {
        let mut events = vec![(KEY_LEFTALT, PRESS)];
        events.extend(digits.iter().flat_map(|&d| tap(d)));
        events.push((KEY_LEFTALT, RELEASE));
        events
    }

    #[test]
    fn parses_layouts_and_names_the_known_ones() {
        assert_eq!(KeyLayout::parse("us"), Ok(KeyLayout::Us));
        assert_eq!(KeyLayout::parse(" US "), Ok(KeyLayout::Us));
        let err = KeyLayout::parse("ru").unwrap_err();
        assert!(err.contains("us") && err.contains("ru"), "{err}");
    }

    #[test]
    fn types_letters_with_and_without_shift() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let mut events = vec![(KEY_LEFTSHIFT, PRESS)];
        events.extend(tap(KEY_A));
        events.push((KEY_LEFTSHIFT, RELEASE));
        events.extend(tap(KEY_A));
        events.push((KEY_RIGHTSHIFT, PRESS));
        events.extend(tap(2));
        events.push((KEY_RIGHTSHIFT, RELEASE));
        events.extend(tap(KEY_TAB));
        events.extend(tap(KEY_KPENTER));
        assert_eq!(feed(&mut d, &events), vec![Scan::Code(b"Aa!\t".to_vec())]);
    }

    #[test]
    fn alt_codes_with_and_without_leading_zero_give_one_byte() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let mut events = alt_code(&[
            KEYPAD_DIGITS[0],
            KEY_KP2,
            KEYPAD_DIGITS[0],
            KEYPAD_DIGITS[0],
        ]);
        events.extend(alt_code(&[KEY_KP2, KEYPAD_DIGITS[0], KEYPAD_DIGITS[1]]));
        // Right Alt works the same.
        events.push((KEY_RIGHTALT, PRESS));
        events.extend(tap(KEY_KP5));
        events.push((KEY_RIGHTALT, RELEASE));
        events.extend(tap(KEY_ENTER));
        assert_eq!(feed(&mut d, &events), vec![Scan::Code(vec![200, 201, 5])]);
    }

    #[test]
    fn alt_code_above_255_makes_the_code_unreadable_and_the_next_is_clean() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let mut events = tap(KEY_A).to_vec();
        events.extend(alt_code(&[KEY_KP2, KEY_KP5, KEYPAD_DIGITS[6]]));
        events.extend(tap(KEY_A));
        events.extend(tap(KEY_ENTER));
        let scans = feed(&mut d, &events);
        assert!(
            matches!(&scans[..], [Scan::Unreadable { reason }] if reason.contains("256")),
            "{scans:?}"
        );
        assert_eq!(
            feed(&mut d, &hid_events_for(b"ok", KeyLayout::Us)),
            vec![Scan::Code(b"ok".to_vec())]
        );
    }

    #[test]
    fn keypad_without_alt_types_digits_and_signs() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let mut events = Vec::new();
        for code in [KEY_KP2, KEY_KP5, 83, 55, 74] {
            events.extend(tap(code));
        }
        events.extend(tap(KEY_ENTER));
        assert_eq!(feed(&mut d, &events), vec![Scan::Code(b"25.*-".to_vec())]);
    }

    #[test]
    fn autorepeat_is_ignored() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let events = [
            (KEY_A, PRESS),
            (KEY_A, 2),
            (KEY_A, 2),
            (KEY_A, RELEASE),
            (KEY_ENTER, PRESS),
            (KEY_ENTER, 2),
            (KEY_ENTER, RELEASE),
        ];
        assert_eq!(feed(&mut d, &events), vec![Scan::Code(b"a".to_vec())]);
    }

    #[test]
    fn unmapped_key_makes_the_code_unreadable_until_enter() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let mut events = tap(KEY_A).to_vec();
        events.extend(tap(KEY_F1));
        events.extend(tap(KEY_A));
        assert_eq!(feed(&mut d, &events), vec![]);
        let scans = feed(&mut d, &tap(KEY_ENTER));
        assert!(
            matches!(&scans[..], [Scan::Unreadable { reason }] if reason.contains("59")),
            "{scans:?}"
        );
        assert_eq!(
            feed(&mut d, &hid_events_for(b"ST00012", KeyLayout::Us)),
            vec![Scan::Code(b"ST00012".to_vec())]
        );
    }

    #[test]
    fn a_letter_with_alt_is_unreadable() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let mut events = vec![(KEY_LEFTALT, PRESS)];
        events.extend(tap(KEY_A));
        events.push((KEY_LEFTALT, RELEASE));
        events.extend(tap(KEY_ENTER));
        assert!(matches!(
            &feed(&mut d, &events)[..],
            [Scan::Unreadable { .. }]
        ));
    }

    #[test]
    fn bare_enter_is_not_a_scan() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        assert_eq!(feed(&mut d, &hid_events_for(b"", KeyLayout::Us)), vec![]);
        assert_eq!(d.idle(), None);
    }

    #[test]
    fn idle_flushes_a_code_without_enter() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let mut events = hid_events_for(b"Sum=100\xc0", KeyLayout::Us);
        events.truncate(events.len() - 2); // no Enter
        assert_eq!(feed(&mut d, &events), vec![]);
        assert_eq!(d.idle(), Some(Scan::Code(b"Sum=100\xc0".to_vec())));
        assert_eq!(d.idle(), None);
    }

    #[test]
    fn idle_in_the_middle_of_an_alt_code_is_unreadable() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        feed(&mut d, &[(KEY_LEFTALT, PRESS), (KEY_KP2, PRESS)]);
        assert!(matches!(d.idle(), Some(Scan::Unreadable { .. })));
        feed(&mut d, &[(KEY_KP2, RELEASE), (KEY_LEFTALT, RELEASE)]);
        assert_eq!(d.idle(), None);
    }

    #[test]
    fn dropped_events_make_the_code_unreadable_and_release_modifiers() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        feed(&mut d, &[(KEY_LEFTSHIFT, PRESS), (KEY_A, PRESS)]);
        d.events_dropped();
        assert!(matches!(
            feed(&mut d, &tap(KEY_ENTER))[..],
            [Scan::Unreadable { .. }]
        ));
        assert_eq!(
            feed(&mut d, &hid_events_for(b"a", KeyLayout::Us)),
            vec![Scan::Code(b"a".to_vec())]
        );
    }

    #[test]
    fn overlong_code_is_reported_and_the_next_is_clean() {
        let mut d = HidDecoder::with_max_len(KeyLayout::Us, 4);
        assert_eq!(
            feed(&mut d, &hid_events_for(b"12345\xff", KeyLayout::Us)),
            vec![Scan::Overlong { len: 6 }]
        );
        assert_eq!(
            feed(&mut d, &hid_events_for(b"1234", KeyLayout::Us)),
            vec![Scan::Code(b"1234".to_vec())]
        );
    }

    #[test]
    fn default_limit_is_max_code_bytes() {
        let mut d = HidDecoder::new(KeyLayout::Us);
        let long = vec![b'7'; MAX_CODE_BYTES + 1];
        assert_eq!(
            feed(&mut d, &hid_events_for(&long, KeyLayout::Us)),
            vec![Scan::Overlong {
                len: MAX_CODE_BYTES + 1
            }]
        );
        assert_eq!(
            feed(&mut d, &hid_events_for(&long[1..], KeyLayout::Us)),
            vec![Scan::Code(long[1..].to_vec())]
        );
    }

    #[test]
    fn non_ascii_goes_as_alt_plus_four_keypad_digits() {
        let events = hid_events_for(b"\xc0", KeyLayout::Us);
        let presses: Vec<u16> = events
            .iter()
            .filter(|e| e.1 == PRESS)
            .map(|e| e.0)
            .collect();
        // Alt, KP0, KP1, KP9, KP2, Enter: 0192.
        assert_eq!(presses, vec![KEY_LEFTALT, 82, 79, 73, 80, KEY_ENTER]);
    }

    #[test]
    fn printable_ascii_is_typed_as_keys_not_alt_codes() {
        let keypad: Vec<u16> = US_KEYPAD.iter().map(|k| k.0).collect();
        for byte in 0x20u8..=0x7e {
            let events = hid_events_for(&[byte], KeyLayout::Us);
            assert!(
                !events
                    .iter()
                    .any(|e| e.0 == KEY_LEFTALT || keypad.contains(&e.0)),
                "{byte:#x}: {events:?}"
            );
        }
        assert!(!hid_events_for(b"\t", KeyLayout::Us)
            .iter()
            .any(|e| e.0 == KEY_LEFTALT));
    }

    proptest! {
        #[test]
        fn hid_events_round_trip(
            payload in proptest::collection::vec(
                any::<u8>().prop_filter("CR/LF", |b| *b != b'\r' && *b != b'\n'), 1..300),
        ) {
            let mut d = HidDecoder::new(KeyLayout::Us);
            prop_assert_eq!(
                feed(&mut d, &hid_events_for(&payload, KeyLayout::Us)),
                vec![Scan::Code(payload.clone())]
            );
            // And again from the same decoder: no state leaks from one code to the next.
            prop_assert_eq!(
                feed(&mut d, &hid_events_for(&payload, KeyLayout::Us)),
                vec![Scan::Code(payload)]
            );
        }

        #[test]
        fn autorepeats_anywhere_change_nothing(
            payload in proptest::collection::vec(any::<u8>(), 1..60),
            at in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let mut events = hid_events_for(&payload, KeyLayout::Us);
            for i in at {
                let pos = i.index(events.len());
                let code = events[pos].0;
                events.insert(pos + 1, (code, 2));
            }
            let mut d = HidDecoder::new(KeyLayout::Us);
            prop_assert_eq!(feed(&mut d, &events), vec![Scan::Code(payload)]);
        }
    }
}
