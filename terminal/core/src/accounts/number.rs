//! Account numbers (лицевой счёт): length and check-digit scheme, both from config.
//!
//! # The default scheme: 10 digits, weighted mod 11 (`mod11`)
//!
//! The last digit is a check digit over the digits before it:
//!
//! ```text
//! weights  w_i = (i mod 10) + 1   for i = 0, 1, 2, …  counted from the left (1, 2, …, 9 for 10 digits)
//! check    = (Σ d_i · w_i  mod 11) mod 10
//! ```
//!
//! This is the same reduction as the Russian INN check digits, so billing staff know it. Any single
//! wrong digit and any swap of two neighbouring digits is caught, except the rare case where the sum
//! moves between remainder 0 and remainder 10 (both give check digit 0). Examples: `1000000001`
//! (Σ = 1·1 = 1 → check digit 1) and `1234567890` (Σ = 1·1 + 2·2 + … + 9·9 = 285, 285 mod 11 = 10,
//! 10 mod 10 = 0).
//!
//! Other schemes: `luhn` (the ISO/IEC 7812 check digit, as on bank cards) and `none` (length and
//! digits only, for retailers whose numbers carry no check digit).
//!
//! Keypad and QR input may contain spaces or dashes between digit groups (as printed on bills);
//! these are removed before checking. Anything else that is not a digit is refused.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which check-digit algorithm the account numbers of this retailer use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumKind {
    /// Weighted mod 11 (the default; see the module documentation).
    Mod11,
    /// Luhn (ISO/IEC 7812-1).
    Luhn,
    /// No check digit: only length and digits are checked.
    None,
}

impl ChecksumKind {
    /// The config spellings, for error messages.
    pub const NAMES: [&'static str; 3] = ["mod11", "luhn", "none"];

    /// The name used in config files.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumKind::Mod11 => "mod11",
            ChecksumKind::Luhn => "luhn",
            ChecksumKind::None => "none",
        }
    }

    /// The check digit for `payload` (digits only, as `0..=9` values), or `None` for
    /// [`ChecksumKind::None`].
    pub fn check_digit(self, payload: &[u8]) -> Option<u8> {
        match self {
            ChecksumKind::Mod11 => {
                let sum: u64 = payload
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| u64::from(d) * ((i as u64 % 10) + 1))
                    .sum();
                Some(((sum % 11) % 10) as u8)
            }
            ChecksumKind::Luhn => {
                // Double every second digit counting leftwards from the digit next to the check digit.
                let sum: u32 = payload
                    .iter()
                    .rev()
                    .enumerate()
                    .map(|(i, &d)| {
                        let d = u32::from(d);
                        if i % 2 == 0 {
                            let doubled = d * 2;
                            if doubled > 9 {
                                doubled - 9
                            } else {
                                doubled
                            }
                        } else {
                            d
                        }
                    })
                    .sum();
                Some(((10 - sum % 10) % 10) as u8)
            }
            ChecksumKind::None => None,
        }
    }
}

impl FromStr for ChecksumKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "mod11" => Ok(ChecksumKind::Mod11),
            "luhn" => Ok(ChecksumKind::Luhn),
            "none" => Ok(ChecksumKind::None),
            _ => Err(()),
        }
    }
}

/// Shortest and longest account numbers a scheme may configure.
pub const MIN_ACCOUNT_LENGTH: usize = 4;
/// Longest account number (GOST R 56042 allows 30 characters for `PersAcc`; we need digits).
pub const MAX_ACCOUNT_LENGTH: usize = 30;

/// The retailer's account-number rules: exact length in digits and the check-digit scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AccountScheme {
    pub kind: ChecksumKind,
    pub length: usize,
}

impl Default for AccountScheme {
    /// Ten digits with a weighted mod-11 check digit.
    fn default() -> Self {
        AccountScheme {
            kind: ChecksumKind::Mod11,
            length: 10,
        }
    }
}

impl AccountScheme {
    /// Checks `input` and returns the account number, or a typed reason with a Russian message.
    pub fn parse(&self, input: &str) -> Result<AccountNumber, AccountError> {
        let mut digits = String::with_capacity(input.len());
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '\u{a0}' => {}
                other => return Err(AccountError::NotDigits { found: other }),
            }
        }
        if digits.is_empty() {
            return Err(AccountError::Empty);
        }
        let entered = digits.len();
        if entered != self.length {
            return Err(AccountError::WrongLength {
                expected: self.length,
                entered,
            });
        }
        let values: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        let (payload, last) = values.split_at(values.len() - 1);
        if let Some(expected) = self.kind.check_digit(payload) {
            if expected != last[0] {
                return Err(AccountError::BadCheckDigit);
            }
        }
        Ok(AccountNumber(digits))
    }

    /// Appends the scheme's check digit to `payload` (which must be `length - 1` digits; for the
    /// `none` scheme, `length` digits). Used by simulations and tests to make valid numbers.
    pub fn complete(&self, payload: &str) -> Option<AccountNumber> {
        if !payload.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let values: Vec<u8> = payload.bytes().map(|b| b - b'0').collect();
        let mut digits = payload.to_string();
        if let Some(check) = self.kind.check_digit(&values) {
            digits.push(char::from(b'0' + check));
        }
        (digits.len() == self.length).then_some(AccountNumber(digits))
    }
}

/// A checked account number: digits only, of the configured length, check digit valid.
///
/// It can only be made through [`AccountScheme::parse`] or [`AccountScheme::complete`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AccountNumber(String);

impl AccountNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the last four digits hidden, for logs (`******0001`).
    pub fn masked(&self) -> String {
        let keep = self.0.len().min(4);
        let hidden = self.0.len() - keep;
        format!("{}{}", "*".repeat(hidden), &self.0[hidden..])
    }
}

impl fmt::Display for AccountNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an entered account number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("account number is empty")]
    Empty,
    #[error("account number contains a non-digit character {found:?}")]
    NotDigits { found: char },
    #[error("account number must have {expected} digits, got {entered}")]
    WrongLength { expected: usize, entered: usize },
    #[error("account number check digit is wrong")]
    BadCheckDigit,
}

impl AccountError {
    /// The message for the customer's screen.
    pub fn customer_message(&self) -> String {
        match self {
            AccountError::Empty => "Введите номер лицевого счёта".to_string(),
            AccountError::NotDigits { .. } => {
                "Номер лицевого счёта состоит только из цифр".to_string()
            }
            AccountError::WrongLength { expected, entered } => format!(
                "Номер лицевого счёта должен содержать {expected} {}, введено {entered}",
                digits_word_accusative(*expected)
            ),
            AccountError::BadCheckDigit => {
                "Неверная контрольная цифра — проверьте номер по квитанции".to_string()
            }
        }
    }
}

/// «цифру / цифры / цифр» after a number, as in «содержать 10 цифр».
pub(crate) fn digits_word_accusative(n: usize) -> &'static str {
    match (n % 10, n % 100) {
        (_, 11..=14) => "цифр",
        (1, _) => "цифру",
        (2..=4, _) => "цифры",
        _ => "цифр",
    }
}
