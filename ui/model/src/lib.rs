//! `ui-model` is the small vocabulary the screens (`ui`) and the money core (`kiosk-core`) share,
//! so that neither imports the other: the service-desk operations a technician picks, how an
//! amount is written on a screen, and how personal data is masked on it (152-FZ). It depends on
//! nothing.

mod masking;

pub use masking::{mask_address, mask_full_name};

/// A service-desk operation the technician picks: the screens name them, the core's service desk
/// runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceOp {
    DeviceTests,
    Encashment,
    PaperReplaced,
    CloseShift,
    Reprint,
    OutageHistory,
    /// Notes a jam or power cut left uncounted: found in the cassette, or handed back.
    StuckNotes,
    /// Copy the journal to removable media.
    ExportJournal,
    /// Confirm the operation on the current report screen.
    Confirm,
    /// Back to the service status screen.
    Back,
    Exit,
}

// Amounts as the screens and the service desk show them.

/// Thousands separator: a no-break space, so an amount never wraps across lines.
const GROUP: char = '\u{a0}';

/// Formats kopecks as roubles with kopecks: `150050` → `1 500,50 ₽` (no-break spaces).
pub fn rubles(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "−" } else { "" };
    let abs = kopecks.unsigned_abs();
    format!(
        "{sign}{},{:02}{GROUP}₽",
        group_thousands(abs / 100),
        abs % 100
    )
}

/// Formats whole roubles (banknote denominations): `500000` → `5 000 ₽`.
/// Kopecks, if any, are kept so that nothing is silently rounded.
pub fn rubles_whole(kopecks: i64) -> String {
    if kopecks % 100 == 0 {
        let sign = if kopecks < 0 { "−" } else { "" };
        format!(
            "{sign}{}{GROUP}₽",
            group_thousands(kopecks.unsigned_abs() / 100)
        )
    } else {
        rubles(kopecks)
    }
}

/// `1234567` → `1 234 567` with no-break spaces.
pub fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 * 2);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(GROUP);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_russian_amounts() {
        assert_eq!(rubles(0), "0,00\u{a0}₽");
        assert_eq!(rubles(5), "0,05\u{a0}₽");
        assert_eq!(rubles(150_050), "1\u{a0}500,50\u{a0}₽");
        assert_eq!(rubles(123_456_789), "1\u{a0}234\u{a0}567,89\u{a0}₽");
        assert_eq!(rubles(-25_000), "−250,00\u{a0}₽");
        assert_eq!(rubles_whole(500_000), "5\u{a0}000\u{a0}₽");
        assert_eq!(rubles_whole(10_050), "100,50\u{a0}₽");
    }

    proptest! {
        #[test]
        fn amounts_read_back_to_the_same_kopecks(k in i64::MIN + 1..i64::MAX) {
            let shown = rubles(k);
            let negative = shown.starts_with('−');
            let digits: String = shown.chars().filter(char::is_ascii_digit).collect();
            let back: i128 = digits.parse().unwrap();
            prop_assert_eq!(if negative { -back } else { back }, k as i128);
            prop_assert!(!shown.contains(' '), "only no-break spaces: {shown:?}");
        }
    }
}
