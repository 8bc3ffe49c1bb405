//! Money is kept as integer kopecks; this module only formats it for people.

/// Formats kopecks the way a Russian receipt shows them: `1 500,00 руб.`.
///
/// The rouble sign «₽» is not in CP866, so receipts always spell the currency out.
pub fn format_rub(kopecks: i64) -> String {
    format!("{} руб.", format_amount(kopecks))
}

/// Formats kopecks as `1 500,00` (space-grouped roubles, comma, two-digit kopecks).
pub fn format_amount(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let abs = kopecks.unsigned_abs();
    let roubles = (abs / 100).to_string();
    let mut grouped = String::with_capacity(roubles.len() + roubles.len() / 3);
    for (i, digit) in roubles.chars().enumerate() {
        if i > 0 && (roubles.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped},{:02}", abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_like_a_russian_receipt() {
        assert_eq!(format_rub(150_000), "1 500,00 руб.");
        assert_eq!(format_rub(5), "0,05 руб.");
        assert_eq!(format_rub(123_456_789), "1 234 567,89 руб.");
        assert_eq!(format_rub(-1_000), "-10,00 руб.");
    }

    proptest! {
        #[test]
        fn amount_round_trips(k in -1_000_000_000_000i64..1_000_000_000_000i64) {
            let text = format_amount(k).replace([' ', ','], "");
            prop_assert_eq!(text.parse::<i64>().unwrap(), k);
        }
    }
}
