//! Typed ZVT messages over [`Apdu`]: the commands this crate sends and answers.

use crate::codec::{bcd, bmp, tlv, Apdu, CodecError};
use crate::pan;

/// ISO 4217 numeric code of the rouble, BCD-coded into BMP 49.
pub const CURRENCY_RUB: u16 = 643;

/// Registration config byte used by the kiosk: ECR prints payment and administration receipts
/// from print lines (0x02 | 0x04 | 0x80), wants intermediate status (0x08), and controls payment
/// and administration (0x10 | 0x20: no amount entry or admin menu on the PT).
pub const KIOSK_CONFIG_BYTE: u8 = 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x80;

/// Result code the PT uses when the customer (or a timeout) aborted; also reported by the
/// emulator for a transaction it reversed because the ECR never confirmed it.
pub const RESULT_ABORTED: u8 = 0x6c;
/// ECR answer to an approved status information: goods not issued, the PT must reverse.
pub const NACK_GOODS_NOT_ISSUED: u8 = 0x66;
/// Negative acknowledgement "receiver not ready": the PT is busy.
pub const NACK_BUSY: u8 = 0xa0;
/// Result code "function not possible" (e.g. reversal of an unknown receipt).
pub const RESULT_NOT_POSSIBLE: u8 = 0x83;

/// Status information 04 0F (the transaction result and its data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusInformation {
    pub result_code: Option<u8>,
    pub amount_kopecks: Option<i64>,
    pub trace: Option<u32>,
    pub time_hhmmss: Option<u32>,
    pub date_mmdd: Option<u32>,
    /// Masked PAN (never the full number; masked on entry if a terminal sends it unmasked).
    pub masked_pan: Option<String>,
    pub payment_type: Option<u8>,
    pub terminal_id: Option<u32>,
    pub vu_number: Option<String>,
    pub auth_code: Option<String>,
    pub additional_text: Option<String>,
    /// BMP 60 individual totals, raw (end of day).
    pub individual_totals: Option<Vec<u8>>,
    pub receipt_no: Option<u32>,
    pub currency: Option<u16>,
    pub card_type: Option<u8>,
    pub card_name: Option<String>,
    pub tlv: Vec<tlv::Tlv>,
}

/// Completion 06 0F.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    pub result_code: Option<u8>,
    pub status_byte: Option<u8>,
    pub terminal_id: Option<u32>,
    pub currency: Option<u16>,
    /// Software version, in the completion that answers a status enquiry (LLLVAR before the BMPs).
    pub sw_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 06 00
    Registration {
        password: u32,
        config: u8,
        currency: Option<u16>,
        service_byte: Option<u8>,
    },
    /// 06 01
    Authorisation {
        amount_kopecks: i64,
        currency: Option<u16>,
        payment_type: Option<u8>,
    },
    /// 04 0F
    StatusInformation(Box<StatusInformation>),
    /// 04 FF
    IntermediateStatus { status: u8, timeout: Option<u8> },
    /// 06 0F
    Completion(Completion),
    /// 06 1E from the PT: the transaction ended without success.
    Abort { result_code: u8 },
    /// 06 B0 from the ECR: stop the running transaction (customer pressed cancel on the kiosk).
    EcrAbort,
    /// 06 20
    RepeatLastResult { password: u32 },
    /// 06 30
    Reversal { password: u32, receipt_no: u32 },
    /// 06 50
    EndOfDay { password: u32 },
    /// 06 70
    Diagnosis,
    /// 06 D1
    PrintLine { attribute: u8, text: String },
    /// 06 D3
    PrintTextBlock {
        receipt_type: Option<u8>,
        lines: Vec<String>,
    },
    /// 05 01
    StatusEnquiry { password: Option<u32> },
    /// 80 00 (or 84 00)
    Ack,
    /// 84 xx
    Nack { code: u8 },
    /// Anything else, kept whole.
    Other(Apdu),
}

fn bcd_u32(value: &[u8]) -> Result<u32, CodecError> {
    u32::try_from(bcd::decode(value)?).map_err(|_| CodecError::BadBcd)
}

/// Upper half of code page 437, ZVT's default character set.
const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

/// Decodes terminal text: UTF-8 when it is valid UTF-8, otherwise code page 437 (ZVT's
/// default). Trailing NUL padding is dropped.
fn text(value: &[u8]) -> String {
    let decoded = match std::str::from_utf8(value) {
        Ok(s) => s.to_owned(),
        Err(_) => value
            .iter()
            .map(|&b| {
                if b < 0x80 {
                    char::from(b)
                } else {
                    CP437_HIGH.chars().nth(usize::from(b - 0x80)).unwrap_or('?')
                }
            })
            .collect(),
    };
    decoded.trim_end_matches('\0').to_owned()
}

/// Masks anything in a line of text that looks like a full card number.
pub fn scrub_text(line: &str) -> String {
    if !pan::contains_full_pan(line) {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let mut run = String::new();
    for c in line.chars().chain(std::iter::once('\u{0}')) {
        if c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        if run.len() >= 13 {
            out.push_str(&pan::mask_pan(&run));
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\u{0}' {
            out.push(c);
        }
    }
    if pan::contains_full_pan(&out) {
        // Grouped digits ("4111 1111 ..."): mask every digit rather than risk it.
        out = out
            .chars()
            .map(|c| if c.is_ascii_digit() { '*' } else { c })
            .collect();
    }
    out
}

fn amount_bmp(amount_kopecks: i64) -> Result<Vec<u8>, CodecError> {
    let value = u64::try_from(amount_kopecks).map_err(|_| CodecError::BadAmount(amount_kopecks))?;
    bcd::encode(value, 6).map_err(|_| CodecError::BadAmount(amount_kopecks))
}

impl StatusInformation {
    fn decode(data: &[u8]) -> Result<Self, CodecError> {
        let list = bmp::parse(data)?;
        let mut info = StatusInformation::default();
        for field in &list.fields {
            let v = field.value.as_slice();
            match field.tag {
                0x27 => info.result_code = v.first().copied(),
                0x04 => info.amount_kopecks = Some(bcd::decode(v)? as i64),
                0x0b => info.trace = Some(bcd_u32(v)?),
                0x0c => info.time_hhmmss = Some(bcd_u32(v)?),
                0x0d => info.date_mmdd = Some(bcd_u32(v)?),
                0x22 => info.masked_pan = Some(pan::masked_pan_from_bmp(v)),
                0x19 => info.payment_type = v.first().copied(),
                0x29 => info.terminal_id = Some(bcd_u32(v)?),
                0x2a => info.vu_number = Some(scrub_text(text(v).trim_end())),
                0x3b => info.auth_code = Some(scrub_text(text(v).trim_end())),
                0x3c => info.additional_text = Some(scrub_text(&text(v))),
                0x60 => info.individual_totals = Some(v.to_vec()),
                0x87 => info.receipt_no = Some(bcd_u32(v)?),
                0x49 => info.currency = Some(bcd_u32(v)? as u16),
                0x8a => info.card_type = v.first().copied(),
                0x8b => info.card_name = Some(scrub_text(&text(v))),
                0x06 => info.tlv = tlv::parse(v)?,
                _ => {}
            }
        }
        Ok(info)
    }

    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        if let Some(code) = self.result_code {
            bmp::put(&mut out, 0x27, &[code])?;
        }
        if let Some(amount) = self.amount_kopecks {
            bmp::put(&mut out, 0x04, &amount_bmp(amount)?)?;
        }
        if let Some(trace) = self.trace {
            bmp::put(&mut out, 0x0b, &bcd::encode(trace.into(), 3)?)?;
        }
        if let Some(time) = self.time_hhmmss {
            bmp::put(&mut out, 0x0c, &bcd::encode(time.into(), 3)?)?;
        }
        if let Some(date) = self.date_mmdd {
            bmp::put(&mut out, 0x0d, &bcd::encode(date.into(), 2)?)?;
        }
        if let Some(masked) = &self.masked_pan {
            bmp::put(&mut out, 0x22, &pan::masked_pan_to_bmp(masked))?;
        }
        if let Some(kind) = self.payment_type {
            bmp::put(&mut out, 0x19, &[kind])?;
        }
        if let Some(tid) = self.terminal_id {
            bmp::put(&mut out, 0x29, &bcd::encode(tid.into(), 4)?)?;
        }
        if let Some(vu) = &self.vu_number {
            let mut bytes = vu.as_bytes().to_vec();
            bytes.resize(15, b' ');
            bmp::put(&mut out, 0x2a, &bytes)?;
        }
        if let Some(code) = &self.auth_code {
            let mut bytes = code.as_bytes().to_vec();
            bytes.resize(8, 0);
            bmp::put(&mut out, 0x3b, &bytes)?;
        }
        if let Some(extra) = &self.additional_text {
            bmp::put(&mut out, 0x3c, extra.as_bytes())?;
        }
        if let Some(totals) = &self.individual_totals {
            bmp::put(&mut out, 0x60, totals)?;
        }
        if let Some(receipt) = self.receipt_no {
            bmp::put(&mut out, 0x87, &bcd::encode(receipt.into(), 2)?)?;
        }
        if let Some(currency) = self.currency {
            bmp::put(&mut out, 0x49, &bcd::encode(currency.into(), 2)?)?;
        }
        if let Some(kind) = self.card_type {
            bmp::put(&mut out, 0x8a, &[kind])?;
        }
        if let Some(name) = &self.card_name {
            bmp::put(&mut out, 0x8b, name.as_bytes())?;
        }
        if !self.tlv.is_empty() {
            bmp::put(&mut out, 0x06, &tlv::encode(&self.tlv))?;
        }
        Ok(out)
    }
}

impl Completion {
    fn decode(data: &[u8]) -> Result<Self, CodecError> {
        let mut completion = Completion::default();
        let mut data = data;
        // Answer to a status enquiry: <LLLVAR software version> <terminal status code> [BMPs].
        // No BMP has tag F0, so a leading F0 can only be that length.
        if data.first() == Some(&0xf0) {
            let (len, rest) = bmp::var_length(data, 3)?;
            if rest.len() < len + 1 {
                return Err(CodecError::Truncated("software version"));
            }
            completion.sw_version = Some(text(&rest[..len]).trim_end().to_owned());
            completion.status_byte = Some(rest[len]);
            data = &rest[len + 1..];
        }
        let list = bmp::parse(data)?;
        for field in &list.fields {
            let v = field.value.as_slice();
            match field.tag {
                0x27 => completion.result_code = v.first().copied(),
                0x19 => completion.status_byte = v.first().copied(),
                0x29 => completion.terminal_id = Some(bcd_u32(v)?),
                0x49 => completion.currency = Some(bcd_u32(v)? as u16),
                _ => {}
            }
        }
        Ok(completion)
    }

    fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        if let Some(version) = &self.sw_version {
            let bytes = version.as_bytes();
            if bytes.len() > 99 {
                return Err(CodecError::BadFieldLength {
                    tag: 0x0f,
                    len: bytes.len(),
                });
            }
            out.extend_from_slice(&[
                0xf0,
                0xf0 | (bytes.len() / 10) as u8,
                0xf0 | (bytes.len() % 10) as u8,
            ]);
            out.extend_from_slice(bytes);
            out.push(self.status_byte.unwrap_or(0));
        }
        if let Some(code) = self.result_code {
            bmp::put(&mut out, 0x27, &[code])?;
        }
        if let (Some(status), None) = (self.status_byte, &self.sw_version) {
            bmp::put(&mut out, 0x19, &[status])?;
        }
        if let Some(tid) = self.terminal_id {
            bmp::put(&mut out, 0x29, &bcd::encode(tid.into(), 4)?)?;
        }
        if let Some(currency) = self.currency {
            bmp::put(&mut out, 0x49, &bcd::encode(currency.into(), 2)?)?;
        }
        Ok(out)
    }
}

fn password(bytes: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    if bytes.len() < 3 {
        return Err(CodecError::Truncated("password"));
    }
    Ok((bcd_u32(&bytes[..3])?, &bytes[3..]))
}

fn password_bytes(password: u32) -> Result<Vec<u8>, CodecError> {
    bcd::encode(password.into(), 3)
}

impl Message {
    pub fn to_apdu(&self) -> Result<Apdu, CodecError> {
        let apdu = match self {
            Message::Registration {
                password,
                config,
                currency,
                service_byte,
            } => {
                let mut data = password_bytes(*password)?;
                data.push(*config);
                if let Some(cc) = currency {
                    data.extend(bcd::encode((*cc).into(), 2)?);
                    if let Some(sb) = service_byte {
                        bmp::put(&mut data, 0x03, &[*sb])?;
                    }
                }
                Apdu::new(0x06, 0x00, data)
            }
            Message::Authorisation {
                amount_kopecks,
                currency,
                payment_type,
            } => {
                if *amount_kopecks <= 0 {
                    return Err(CodecError::BadAmount(*amount_kopecks));
                }
                let mut data = Vec::new();
                bmp::put(&mut data, 0x04, &amount_bmp(*amount_kopecks)?)?;
                if let Some(cc) = currency {
                    bmp::put(&mut data, 0x49, &bcd::encode((*cc).into(), 2)?)?;
                }
                if let Some(kind) = payment_type {
                    bmp::put(&mut data, 0x19, &[*kind])?;
                }
                Apdu::new(0x06, 0x01, data)
            }
            Message::StatusInformation(info) => Apdu::new(0x04, 0x0f, info.encode()?),
            Message::IntermediateStatus { status, timeout } => {
                let mut data = vec![*status];
                if let Some(t) = timeout {
                    data.extend(bcd::encode((*t).into(), 1)?);
                }
                Apdu::new(0x04, 0xff, data)
            }
            Message::Completion(c) => Apdu::new(0x06, 0x0f, c.encode()?),
            Message::Abort { result_code } => Apdu::new(0x06, 0x1e, vec![*result_code]),
            Message::EcrAbort => Apdu::new(0x06, 0xb0, Vec::new()),
            Message::RepeatLastResult { password } => {
                Apdu::new(0x06, 0x20, password_bytes(*password)?)
            }
            Message::Reversal {
                password,
                receipt_no,
            } => {
                let mut data = password_bytes(*password)?;
                bmp::put(&mut data, 0x87, &bcd::encode((*receipt_no).into(), 2)?)?;
                Apdu::new(0x06, 0x30, data)
            }
            Message::EndOfDay { password } => Apdu::new(0x06, 0x50, password_bytes(*password)?),
            Message::Diagnosis => Apdu::new(0x06, 0x70, Vec::new()),
            Message::PrintLine { attribute, text } => {
                let mut data = vec![*attribute];
                data.extend_from_slice(text.as_bytes());
                Apdu::new(0x06, 0xd1, data)
            }
            Message::PrintTextBlock {
                receipt_type,
                lines,
            } => {
                let mut inner: Vec<tlv::Tlv> = lines
                    .iter()
                    .map(|l| tlv::Tlv::new(0x07, l.as_bytes().to_vec()))
                    .collect();
                inner.push(tlv::Tlv::new(0x09, vec![0xff]));
                let mut objects = Vec::new();
                if let Some(kind) = receipt_type {
                    objects.push(tlv::Tlv::new(0x1f07, vec![*kind]));
                }
                objects.push(tlv::Tlv::new(0x25, tlv::encode(&inner)));
                let mut data = Vec::new();
                bmp::put(&mut data, 0x06, &tlv::encode(&objects))?;
                Apdu::new(0x06, 0xd3, data)
            }
            Message::StatusEnquiry { password } => {
                let data = match password {
                    Some(p) => password_bytes(*p)?,
                    None => Vec::new(),
                };
                Apdu::new(0x05, 0x01, data)
            }
            Message::Ack => Apdu::new(0x80, 0x00, Vec::new()),
            Message::Nack { code } => Apdu::new(0x84, *code, Vec::new()),
            Message::Other(apdu) => apdu.clone(),
        };
        Ok(apdu)
    }

    pub fn from_apdu(apdu: &Apdu) -> Result<Self, CodecError> {
        let data = apdu.data.as_slice();
        Ok(match (apdu.class, apdu.instr) {
            (0x06, 0x00) => {
                let (password, rest) = password(data)?;
                let (&config, rest) = rest
                    .split_first()
                    .ok_or(CodecError::Truncated("config byte"))?;
                let (currency, rest) = if rest.len() >= 2 {
                    (Some(bcd_u32(&rest[..2])? as u16), &rest[2..])
                } else {
                    (None, rest)
                };
                let list = bmp::parse(rest)?;
                let service_byte = list.get(0x03).and_then(|v| v.first().copied());
                Message::Registration {
                    password,
                    config,
                    currency,
                    service_byte,
                }
            }
            (0x06, 0x01) => {
                let list = bmp::parse(data)?;
                let amount = list
                    .get(0x04)
                    .ok_or(CodecError::Truncated("amount BMP 04"))?;
                Message::Authorisation {
                    amount_kopecks: bcd::decode(amount)? as i64,
                    currency: list.get(0x49).map(bcd_u32).transpose()?.map(|c| c as u16),
                    payment_type: list.get(0x19).and_then(|v| v.first().copied()),
                }
            }
            (0x04, 0x0f) => Message::StatusInformation(Box::new(StatusInformation::decode(data)?)),
            (0x04, 0xff) => {
                let (&status, rest) = data.split_first().ok_or(CodecError::Truncated("status"))?;
                let timeout = match rest.first() {
                    Some(&t) => Some(bcd::decode(&[t])? as u8),
                    None => None,
                };
                Message::IntermediateStatus { status, timeout }
            }
            (0x06, 0x0f) => Message::Completion(Completion::decode(data)?),
            (0x06, 0x1e) => Message::Abort {
                result_code: data
                    .first()
                    .copied()
                    .ok_or(CodecError::Truncated("result code"))?,
            },
            (0x06, 0xb0) => Message::EcrAbort,
            (0x06, 0x20) => Message::RepeatLastResult {
                password: password(data)?.0,
            },
            (0x06, 0x30) => {
                let (password, rest) = password(data)?;
                let list = bmp::parse(rest)?;
                let receipt = list
                    .get(0x87)
                    .ok_or(CodecError::Truncated("receipt BMP 87"))?;
                Message::Reversal {
                    password,
                    receipt_no: bcd_u32(receipt)?,
                }
            }
            (0x06, 0x50) => Message::EndOfDay {
                password: password(data)?.0,
            },
            (0x06, 0x70) => Message::Diagnosis,
            (0x06, 0xd1) => {
                let (&attribute, rest) = data
                    .split_first()
                    .ok_or(CodecError::Truncated("attribute"))?;
                Message::PrintLine {
                    attribute,
                    text: scrub_text(&text(rest)),
                }
            }
            (0x06, 0xd3) => {
                let list = bmp::parse(data)?;
                let mut receipt_type = None;
                let mut lines = Vec::new();
                if let Some(container) = list.get(0x06) {
                    for object in tlv::parse(container)? {
                        match object.tag {
                            0x1f07 => receipt_type = object.value.first().copied(),
                            0x25 => {
                                for line in tlv::parse(&object.value)? {
                                    if line.tag == 0x07 {
                                        lines.push(scrub_text(&text(&line.value)));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Message::PrintTextBlock {
                    receipt_type,
                    lines,
                }
            }
            (0x05, 0x01) => Message::StatusEnquiry {
                password: if data.len() >= 3 {
                    Some(password(data)?.0)
                } else {
                    None
                },
            },
            (0x80, 0x00) | (0x84, 0x00) => Message::Ack,
            (0x84, code) => Message::Nack { code },
            _ => Message::Other(apdu.clone()),
        })
    }
}

/// End-of-day totals from the status information of 06 50.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndOfDayTotals {
    pub count: u32,
    pub total_kopecks: i64,
    pub receipt_from: Option<u32>,
    pub receipt_to: Option<u32>,
}

/// Card-type slots of BMP 60 in order: girocard, JCB, Eurocard, Amex, Visa, Diners, others.
pub const TOTALS_SLOTS: usize = 7;

impl EndOfDayTotals {
    /// Encodes BMP 60: receipt range (2 + 2 BCD) then per slot count (1 byte) and total (6 BCD).
    /// All kiosk cards (Mir, Visa, Mastercard as one acquirer batch) are counted in "others".
    pub fn to_bmp60(&self) -> Result<Vec<u8>, CodecError> {
        let mut out = bcd::encode(self.receipt_from.unwrap_or(0).into(), 2)?;
        out.extend(bcd::encode(self.receipt_to.unwrap_or(0).into(), 2)?);
        for slot in 0..TOTALS_SLOTS {
            if slot == TOTALS_SLOTS - 1 {
                out.push(u8::try_from(self.count).unwrap_or(u8::MAX));
                out.extend(amount_bmp(self.total_kopecks)?);
            } else {
                out.push(0);
                out.extend(bcd::encode(0, 6)?);
            }
        }
        Ok(out)
    }

    /// Reads totals from an end-of-day status information: BMP 04 total, BMP 60 counts.
    pub fn from_status(info: &StatusInformation) -> Result<Self, CodecError> {
        let mut totals = EndOfDayTotals {
            total_kopecks: info.amount_kopecks.unwrap_or(0),
            ..Default::default()
        };
        if let Some(b60) = &info.individual_totals {
            if b60.len() < 4 + TOTALS_SLOTS * 7 {
                return Err(CodecError::Truncated("BMP 60 totals"));
            }
            totals.receipt_from = Some(bcd_u32(&b60[0..2])?);
            totals.receipt_to = Some(bcd_u32(&b60[2..4])?);
            let mut sum = 0i64;
            for slot in 0..TOTALS_SLOTS {
                let at = 4 + slot * 7;
                totals.count += u32::from(b60[at]);
                sum += bcd::decode(&b60[at + 1..at + 7])? as i64;
            }
            if info.amount_kopecks.is_none() {
                totals.total_kopecks = sum;
            }
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: Message) {
        let apdu = message.to_apdu().unwrap();
        let bytes = apdu.encode().unwrap();
        let back = Message::from_apdu(&Apdu::decode(&bytes).unwrap()).unwrap();
        assert_eq!(back, message);
    }

    #[test]
    fn authorisation_vector() {
        // 06 01 len 0C, 04 <12.34 RUB>, 49 06 43 (RUB), 19 40 (payment type: PT decides, no GeldKarte)
        let message = Message::Authorisation {
            amount_kopecks: 1234,
            currency: Some(CURRENCY_RUB),
            payment_type: Some(0x40),
        };
        let bytes = message.to_apdu().unwrap().encode().unwrap();
        assert_eq!(
            bytes,
            [
                0x06, 0x01, 0x0c, 0x04, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34, 0x49, 0x06, 0x43, 0x19,
                0x40
            ]
        );
        round_trip(message);
    }

    #[test]
    fn registration_vector() {
        let message = Message::Registration {
            password: 0,
            config: KIOSK_CONFIG_BYTE,
            currency: Some(CURRENCY_RUB),
            service_byte: Some(0x01),
        };
        let bytes = message.to_apdu().unwrap().encode().unwrap();
        assert_eq!(
            bytes,
            [0x06, 0x00, 0x08, 0x00, 0x00, 0x00, 0xbe, 0x06, 0x43, 0x03, 0x01]
        );
        round_trip(message);
    }

    #[test]
    fn status_information_round_trip() {
        let info = StatusInformation {
            result_code: Some(0),
            amount_kopecks: Some(150_000),
            trace: Some(42),
            masked_pan: Some("220070******4242".into()),
            terminal_id: Some(12_345_678),
            auth_code: Some("A1B2C3".into()),
            receipt_no: Some(7),
            currency: Some(CURRENCY_RUB),
            card_type: Some(0x05),
            card_name: Some("MIR".into()),
            ..Default::default()
        };
        round_trip(Message::StatusInformation(Box::new(info)));
    }

    #[test]
    fn other_messages_round_trip() {
        round_trip(Message::IntermediateStatus {
            status: 0x0a,
            timeout: Some(30),
        });
        round_trip(Message::Completion(Completion {
            status_byte: Some(0),
            terminal_id: Some(1),
            currency: Some(643),
            ..Default::default()
        }));
        round_trip(Message::Completion(Completion {
            sw_version: Some("EMU 1.0".into()),
            status_byte: Some(0xdc),
            terminal_id: Some(1),
            ..Default::default()
        }));
        round_trip(Message::Abort {
            result_code: RESULT_ABORTED,
        });
        round_trip(Message::EcrAbort);
        round_trip(Message::RepeatLastResult { password: 0 });
        round_trip(Message::Reversal {
            password: 0,
            receipt_no: 12,
        });
        round_trip(Message::EndOfDay { password: 0 });
        round_trip(Message::Diagnosis);
        round_trip(Message::PrintLine {
            attribute: 0,
            text: "MIR 220070******4242".into(),
        });
        round_trip(Message::PrintTextBlock {
            receipt_type: Some(1),
            lines: vec!["A".into(), "".into(), "B".into()],
        });
        round_trip(Message::StatusEnquiry { password: None });
        round_trip(Message::Ack);
        round_trip(Message::Nack {
            code: NACK_GOODS_NOT_ISSUED,
        });
    }

    #[test]
    fn nack_66_vector() {
        assert_eq!(
            Message::Nack { code: 0x66 }
                .to_apdu()
                .unwrap()
                .encode()
                .unwrap(),
            [0x84, 0x66, 0x00]
        );
        assert_eq!(
            Message::Ack.to_apdu().unwrap().encode().unwrap(),
            [0x80, 0x00, 0x00]
        );
    }

    #[test]
    fn cp437_text_and_nul_padding() {
        assert_eq!(text(&[b'E', b'C', 0x84, 0x94, 0x81, 0, 0]), "ECäöü");
        assert_eq!(CP437_HIGH.chars().count(), 128);
        assert_eq!(text("ОПЛАТА".as_bytes()), "ОПЛАТА");
    }

    #[test]
    fn print_lines_are_scrubbed() {
        let apdu = Message::PrintLine {
            attribute: 0,
            text: "PAN 4111111111111111".into(),
        }
        .to_apdu()
        .unwrap();
        let Message::PrintLine { text, .. } = Message::from_apdu(&apdu).unwrap() else {
            panic!()
        };
        assert_eq!(text, "PAN 411111******1111");
    }

    #[test]
    fn totals_round_trip() {
        let totals = EndOfDayTotals {
            count: 3,
            total_kopecks: 45_600,
            receipt_from: Some(1),
            receipt_to: Some(3),
        };
        let info = StatusInformation {
            amount_kopecks: Some(45_600),
            individual_totals: Some(totals.to_bmp60().unwrap()),
            ..Default::default()
        };
        assert_eq!(EndOfDayTotals::from_status(&info).unwrap(), totals);
    }
}
