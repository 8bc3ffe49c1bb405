//! Payment QR codes printed on utility bills (GOST R 56042-2014, "ST00012|Name=…|PersAcc=…").
//!
//! Layout: an 8-character header — `ST` (format), `0001` (version), one encoding digit
//! (`1` Windows-1251, `2` UTF-8, `3` KOI8-R) and the separator character (usually `|`) — then
//! `Key=Value` fields divided by the separator. Keys are matched case-insensitively and unknown
//! keys are kept. The five fields GOST makes mandatory are checked (`Name`, `PersonalAcc` 20 digits,
//! `BankName`, `BIC` 9 digits, `CorrespAcc` up to 20 digits); for identification the kiosk needs
//! `PersAcc` (the customer's account, checked against the configured account scheme) and uses `Sum`
//! (kopecks) when present.
//!
//! Scanner input arrives either as text the scanner already decoded ([`parse_payment_qr_text`])
//! or as the raw bytes of the code ([`parse_payment_qr`]), decoded here by the header's encoding
//! digit, strictly: a scanner configured to transcode to UTF-8 must be read as text. (Were such
//! UTF-8 bytes passed as bytes under digit `1`/`3`, the names would garble while `PersAcc` and
//! `Sum`, ASCII digits in every encoding, survive — unless a byte decodes to a control character,
//! as Windows-1251's unassigned 0x98 does, and the code is refused as damaged.)

use std::fmt;

use encoding_rs::{Encoding, KOI8_R, UTF_8, WINDOWS_1251};

use super::number::{AccountError, AccountNumber, AccountScheme};

/// The largest payload a QR code can carry (version 40, level L, byte mode); anything longer
/// did not come from a QR code.
pub const MAX_QR_BYTES: usize = 2953;

const HEADER: &str = "ST0001";

/// The character encoding named by the header's encoding digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrEncoding {
    /// Digit `1`.
    Windows1251,
    /// Digit `2`.
    Utf8,
    /// Digit `3`.
    Koi8R,
}

impl QrEncoding {
    pub fn digit(self) -> char {
        match self {
            QrEncoding::Windows1251 => '1',
            QrEncoding::Utf8 => '2',
            QrEncoding::Koi8R => '3',
        }
    }

    pub fn from_digit(digit: char) -> Option<Self> {
        match digit {
            '1' => Some(QrEncoding::Windows1251),
            '2' => Some(QrEncoding::Utf8),
            '3' => Some(QrEncoding::Koi8R),
            _ => None,
        }
    }

    fn encoding(self) -> &'static Encoding {
        match self {
            QrEncoding::Windows1251 => WINDOWS_1251,
            QrEncoding::Utf8 => UTF_8,
            QrEncoding::Koi8R => KOI8_R,
        }
    }
}

/// One `Key=Value` field as it appeared in the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrField {
    pub key: String,
    pub value: String,
}

/// The GOST mandatory fields, with what they mean for the customer's message.
const MANDATORY: [(&str, &str); 5] = [
    ("Name", "получатель платежа"),
    ("PersonalAcc", "расчётный счёт получателя"),
    ("BankName", "банк получателя"),
    ("BIC", "БИК банка"),
    ("CorrespAcc", "корреспондентский счёт банка"),
];

/// A parsed, checked payment QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentQr {
    pub encoding: QrEncoding,
    pub separator: char,
    /// All fields in their original order and spelling, unknown keys included.
    pub fields: Vec<QrField>,
}

impl PaymentQr {
    /// The value of `key`, compared case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.key.eq_ignore_ascii_case(key))
            .map(|f| f.value.as_str())
    }

    /// Payee name (`Name`).
    pub fn payee_name(&self) -> &str {
        self.get("Name").unwrap_or_default()
    }

    /// Payee bank account (`PersonalAcc`, 20 digits).
    pub fn payee_account(&self) -> &str {
        self.get("PersonalAcc").unwrap_or_default()
    }

    /// `BIC`, 9 digits.
    pub fn bic(&self) -> &str {
        self.get("BIC").unwrap_or_default()
    }

    /// The customer's account with the payee (`PersAcc`), as written in the code.
    pub fn pers_acc(&self) -> Option<&str> {
        self.get("PersAcc")
    }

    /// The amount (`Sum`) in kopecks; checked at parse time.
    pub fn sum_kopecks(&self) -> Option<i64> {
        self.get("Sum").and_then(|s| s.parse().ok())
    }

    /// The code's text: header, separator and fields.
    pub fn to_text(&self) -> Result<String, QrEncodeError> {
        if self.separator.is_ascii_alphanumeric() || self.separator == '=' {
            return Err(QrEncodeError::BadSeparator(self.separator));
        }
        let mut out = format!("{HEADER}{}{}", self.encoding.digit(), self.separator);
        for (i, field) in self.fields.iter().enumerate() {
            if field.value.contains(self.separator) || field.key.contains(self.separator) {
                return Err(QrEncodeError::SeparatorInField(field.key.clone()));
            }
            if i > 0 {
                out.push(self.separator);
            }
            out.push_str(&field.key);
            out.push('=');
            out.push_str(&field.value);
        }
        Ok(out)
    }

    /// The code's bytes in the header's encoding (what a QR generator would put in the symbol).
    pub fn to_bytes(&self) -> Result<Vec<u8>, QrEncodeError> {
        let text = self.to_text()?;
        let (bytes, _, had_errors) = self.encoding.encoding().encode(&text);
        if had_errors {
            return Err(QrEncodeError::Unencodable(self.encoding));
        }
        Ok(bytes.into_owned())
    }
}

/// Why a [`PaymentQr`] could not be written out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrEncodeError {
    #[error("separator {0:?} is a letter, digit or '='")]
    BadSeparator(char),
    #[error("field {0} contains the separator")]
    SeparatorInField(String),
    #[error("text has characters that {0:?} cannot encode")]
    Unencodable(QrEncoding),
}

/// Why a scanned code was refused. [`QrError::customer_message`] is the text for the screen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("scanned code is empty")]
    Empty,
    #[error("scanned code is {len} bytes, longer than any QR code")]
    TooLong { len: usize },
    #[error("not a GOST R 56042 payment code (no ST0001 header)")]
    NotPaymentQr,
    #[error("unknown encoding digit {0:?}")]
    UnknownEncoding(char),
    #[error("invalid separator {0:?}")]
    BadSeparator(char),
    #[error("encoding digit 2 but the bytes are not UTF-8")]
    InvalidUtf8,
    #[error("control character U+{0:04X} in the code")]
    ControlCharacter(u32),
    #[error("field {index} has no '='")]
    FieldWithoutEquals { index: usize },
    #[error("field {index} has an invalid key {key:?}")]
    BadKey { index: usize, key: String },
    #[error("field {key} appears more than once")]
    DuplicateField { key: String },
    #[error("mandatory field {key} is missing")]
    MissingField {
        key: &'static str,
        meaning: &'static str,
    },
    #[error("field {key} is malformed: expected {expected}")]
    BadFieldFormat {
        key: &'static str,
        meaning: &'static str,
        expected: &'static str,
    },
    #[error("no customer account (PersAcc) in the code")]
    MissingAccount,
    #[error("customer account in the code is invalid: {0}")]
    BadAccount(AccountError),
    #[error("Sum {value:?} is not an amount in kopecks")]
    BadSum { value: String },
    #[error("the bill is payable to another organisation (PayeeINN {inn})")]
    ForeignPayee { inn: String },
}

impl QrError {
    /// The message for the customer's screen.
    pub fn customer_message(&self) -> String {
        match self {
            QrError::Empty => "QR-код не прочитан — поднесите квитанцию ещё раз".to_string(),
            QrError::TooLong { .. } | QrError::NotPaymentQr => {
                "Это не платёжный QR-код квитанции. Поднесите QR-код с квитанции за электроэнергию или введите номер лицевого счёта".to_string()
            }
            QrError::UnknownEncoding(digit) => format!(
                "QR-код квитанции в неизвестной кодировке (признак «{digit}») — введите номер лицевого счёта вручную"
            ),
            QrError::BadSeparator(_)
            | QrError::InvalidUtf8
            | QrError::ControlCharacter(_)
            | QrError::FieldWithoutEquals { .. }
            | QrError::BadKey { .. } => {
                "QR-код квитанции повреждён — введите номер лицевого счёта вручную".to_string()
            }
            QrError::DuplicateField { key } => format!(
                "QR-код квитанции повреждён: поле {key} указано дважды — введите номер лицевого счёта вручную"
            ),
            QrError::MissingField { key, meaning } => format!(
                "QR-код квитанции неполный: нет поля {key} ({meaning}) — введите номер лицевого счёта вручную"
            ),
            QrError::BadFieldFormat {
                key,
                meaning,
                expected,
            } => format!(
                "QR-код квитанции повреждён: {meaning} ({key}) должен содержать {expected} — введите номер лицевого счёта вручную"
            ),
            QrError::MissingAccount => {
                "В QR-коде нет номера лицевого счёта — введите номер вручную".to_string()
            }
            QrError::BadAccount(inner) => format!(
                "Номер лицевого счёта в QR-коде неверен: {}",
                lowercase_first(&inner.customer_message())
            ),
            QrError::BadSum { value } => format!(
                "Сумма в QR-коде неверна («{value}») — введите номер лицевого счёта вручную"
            ),
            QrError::ForeignPayee { .. } => {
                "Это квитанция другой организации: здесь её оплатить нельзя. Поднесите квитанцию за электроэнергию или введите номер лицевого счёта".to_string()
            }
        }
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Parses the raw bytes of a scanned code, decoding them by the header's encoding digit.
pub fn parse_payment_qr(bytes: &[u8]) -> Result<PaymentQr, QrError> {
    if bytes.len() > MAX_QR_BYTES {
        return Err(QrError::TooLong { len: bytes.len() });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or(QrError::Empty)?;
    let bytes = strip_symbology_id(&bytes[start..]);
    if bytes.len() < HEADER.len() + 1 || !bytes.starts_with(HEADER.as_bytes()) {
        return Err(QrError::NotPaymentQr);
    }
    let digit = char::from(bytes[HEADER.len()]);
    let encoding = QrEncoding::from_digit(digit).ok_or(QrError::UnknownEncoding(digit))?;
    let text = match encoding {
        QrEncoding::Utf8 => std::str::from_utf8(bytes)
            .map_err(|_| QrError::InvalidUtf8)?
            .to_string(),
        // Every byte maps to a character in these single-byte encodings.
        QrEncoding::Windows1251 | QrEncoding::Koi8R => encoding
            .encoding()
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    };
    parse_payment_qr_text(&text)
}

/// Parses a code the scanner has already decoded to text.
pub fn parse_payment_qr_text(text: &str) -> Result<PaymentQr, QrError> {
    // A single-byte encoding expands to at most 3 UTF-8 bytes per byte.
    if text.len() > MAX_QR_BYTES * 3 {
        return Err(QrError::TooLong { len: text.len() });
    }
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(QrError::Empty);
    }
    let text = strip_symbology_id_str(text);
    let rest = text.strip_prefix(HEADER).ok_or(QrError::NotPaymentQr)?;
    let mut chars = rest.chars();
    let digit = chars.next().ok_or(QrError::NotPaymentQr)?;
    let encoding = QrEncoding::from_digit(digit).ok_or(QrError::UnknownEncoding(digit))?;
    let separator = chars.next().ok_or(QrError::NotPaymentQr)?;
    if separator.is_alphanumeric() || separator == '=' || separator.is_whitespace() {
        return Err(QrError::BadSeparator(separator));
    }
    if let Some(c) = rest.chars().find(|c| c.is_control()) {
        return Err(QrError::ControlCharacter(u32::from(c)));
    }
    let body = chars.as_str();

    let mut fields: Vec<QrField> = Vec::new();
    for (index, segment) in body.split(separator).enumerate() {
        // A trailing or doubled separator is common on real bills and harmless.
        if segment.trim().is_empty() {
            continue;
        }
        let (key, value) = segment
            .split_once('=')
            .ok_or(QrError::FieldWithoutEquals { index: index + 1 })?;
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(QrError::BadKey {
                index: index + 1,
                key: key.to_string(),
            });
        }
        if fields.iter().any(|f| f.key.eq_ignore_ascii_case(key)) {
            return Err(QrError::DuplicateField {
                key: key.to_string(),
            });
        }
        fields.push(QrField {
            key: key.to_string(),
            value: value.trim().to_string(),
        });
    }
    let qr = PaymentQr {
        encoding,
        separator,
        fields,
    };
    check_mandatory(&qr)?;
    if let Some(sum) = qr.get("Sum") {
        let ok = !sum.is_empty() && sum.len() <= 18 && sum.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(QrError::BadSum {
                value: sum.to_string(),
            });
        }
    }
    Ok(qr)
}

fn check_mandatory(qr: &PaymentQr) -> Result<(), QrError> {
    for (key, meaning) in MANDATORY {
        let value = qr.get(key).unwrap_or_default();
        if value.is_empty() {
            return Err(QrError::MissingField { key, meaning });
        }
        let expected = match key {
            "PersonalAcc" if !is_digits(value, 20, 20) => Some("20 цифр"),
            "BIC" if !is_digits(value, 9, 9) => Some("9 цифр"),
            "CorrespAcc" if !is_digits(value, 1, 20) => Some("не более 20 цифр"),
            _ => None,
        };
        if let Some(expected) = expected {
            return Err(QrError::BadFieldFormat {
                key,
                meaning,
                expected,
            });
        }
    }
    Ok(())
}

fn is_digits(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

/// Some scanners prefix an AIM symbology identifier (`]Q1`) to what they read.
fn strip_symbology_id(bytes: &[u8]) -> &[u8] {
    match bytes {
        [b']', b'Q', d, rest @ ..] if d.is_ascii_digit() => rest,
        _ => bytes,
    }
}

fn strip_symbology_id_str(text: &str) -> &str {
    let bytes = text.as_bytes();
    if bytes.len() >= 3 && bytes[0] == b']' && bytes[1] == b'Q' && bytes[2].is_ascii_digit() {
        &text[3..]
    } else {
        text
    }
}

/// What the kiosk takes from a bill's code: the checked account and the billed amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrIdentification {
    pub account: AccountNumber,
    /// `Sum` in kopecks, when the bill states one.
    pub sum_kopecks: Option<i64>,
    pub qr: PaymentQr,
}

impl fmt::Display for QrIdentification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {}", self.account.masked())
    }
}

/// Raw scanner input: bytes of the code or text the scanner already decoded.
#[derive(Debug, Clone, Copy)]
pub enum ScannerInput<'a> {
    Bytes(&'a [u8]),
    Text(&'a str),
}

/// Whose bills the kiosk takes: the account scheme and the payees' INNs (the seller's, and the
/// supplier's when the kiosk sells as its agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillAcceptance {
    pub scheme: AccountScheme,
    /// Empty: any payee.
    pub payee_inns: Vec<String>,
}

/// The raw bytes from the scanner, checked as one of our bills: a GOST R 56042 code whose
/// `PayeeINN`, when the bill states one, is ours, and whose `PersAcc` fits the account scheme.
/// (`PayeeINN` is optional in the standard; without it the account check still applies.)
pub fn identify_bill(
    bytes: &[u8],
    acceptance: &BillAcceptance,
) -> Result<QrIdentification, QrError> {
    let identified = identify_from_qr(ScannerInput::Bytes(bytes), &acceptance.scheme)?;
    if let Some(inn) = identified.qr.get("PayeeINN").map(str::trim) {
        let ours =
            acceptance.payee_inns.is_empty() || acceptance.payee_inns.iter().any(|own| own == inn);
        if !ours {
            return Err(QrError::ForeignPayee { inn: inn.into() });
        }
    }
    Ok(identified)
}

/// Parses a scanned bill code and checks its `PersAcc` against the account scheme.
pub fn identify_from_qr(
    input: ScannerInput<'_>,
    scheme: &AccountScheme,
) -> Result<QrIdentification, QrError> {
    let qr = match input {
        ScannerInput::Bytes(bytes) => parse_payment_qr(bytes)?,
        ScannerInput::Text(text) => parse_payment_qr_text(text)?,
    };
    let pers_acc = qr
        .pers_acc()
        .filter(|v| !v.is_empty())
        .ok_or(QrError::MissingAccount)?;
    let account = scheme.parse(pers_acc).map_err(QrError::BadAccount)?;
    Ok(QrIdentification {
        account,
        sum_kopecks: qr.sum_kopecks(),
        qr,
    })
}
