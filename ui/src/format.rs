//! Russian number formats for the screens: `+7 (912) 345-67-89`; amounts (`1 500,00 ₽`) are
//! `ui-model`'s, shared with the money core, re-exported.

pub use ui_model::{group_thousands, rubles, rubles_whole};

/// Text the terminal worded (a limit, a refused bill, a bank's decline) with the spaces inside
/// its numbers made no-break — between two digits, and between a digit and «₽» — so a screen
/// never wraps «15 000,00 ₽» as «15 / 000,00 ₽». Other spaces stay break opportunities.
pub fn keep_numbers_whole(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let after_digit = i > 0 && chars[i - 1].is_ascii_digit();
            let before_number = chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_digit() || *n == '₽');
            if c == ' ' && after_digit && before_number {
                '\u{a0}'
            } else {
                c
            }
        })
        .collect()
}

/// Shows the digits of a Russian mobile number typed after `+7` as `+7 (912) 345-67-89`,
/// with underscores for what is still missing.
pub fn phone(digits: &str) -> String {
    let mut d: Vec<char> = digits
        .chars()
        .filter(char::is_ascii_digit)
        .take(10)
        .collect();
    d.resize(10, '_');
    let s = |r: std::ops::Range<usize>| d[r].iter().collect::<String>();
    format!("+7 ({}) {}-{}-{}", s(0..3), s(3..6), s(6..8), s(8..10))
}

/// A countdown as minutes and seconds: `165` → `2:45`, `9` → `0:09`.
pub fn minutes_seconds(seconds: u32) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_as_minutes_and_seconds() {
        assert_eq!(minutes_seconds(165), "2:45");
        assert_eq!(minutes_seconds(300), "5:00");
        assert_eq!(minutes_seconds(60), "1:00");
        assert_eq!(minutes_seconds(59), "0:59");
        assert_eq!(minutes_seconds(9), "0:09");
        assert_eq!(minutes_seconds(0), "0:00");
        assert_eq!(minutes_seconds(3_600), "60:00");
    }

    #[test]
    fn spaces_inside_numbers_stop_breaking_and_the_others_do_not() {
        let worded = "Купюра 5 000,00 ₽ не принята: можно внести ещё не больше 3 000,00 ₽.";
        assert_eq!(
            keep_numbers_whole(worded),
            "Купюра 5\u{a0}000,00\u{a0}₽ не принята: можно внести ещё не больше 3\u{a0}000,00\u{a0}₽."
        );
        assert_eq!(keep_numbers_whole("1 2"), "1\u{a0}2");
        assert_eq!(keep_numbers_whole("в 10 часов"), "в 10 часов");
        assert_eq!(keep_numbers_whole(""), "");
    }

    #[test]
    fn formats_a_partly_typed_phone() {
        assert_eq!(phone(""), "+7 (___) ___-__-__");
        assert_eq!(phone("91234"), "+7 (912) 34_-__-__");
        assert_eq!(phone("9123456789"), "+7 (912) 345-67-89");
    }
}
