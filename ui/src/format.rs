//! Russian number formats for the screens: `+7 (912) 345-67-89`; amounts (`1 500,00 ₽`) are
//! `ui-model`'s, shared with the money core, re-exported.

pub use ui_model::{group_thousands, rubles, rubles_whole};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_partly_typed_phone() {
        assert_eq!(phone(""), "+7 (___) ___-__-__");
        assert_eq!(phone("91234"), "+7 (912) 34_-__-__");
        assert_eq!(phone("9123456789"), "+7 (912) 345-67-89");
    }
}
