//! The commands this driver sends and the answers it reads: typed requests encoded to frame
//! payloads, and typed replies parsed from the bytes after the command echo. Pure; no state.
//!
//! Layouts from "Протокол ККТ Штрих-М, версия 2.0" (commands 10h, 41h, 88h, B0h, E0h) and
//! "Протокол ФР (Команды работы с ФН)" (FF01h … FF4Dh), Shtrih-M, `javapos_shtrih/Doc/SHTRIH/`;
//! checked against the reply layouts in pyshtrih's `handlers/commands.py`. Every request starts
//! with the 4-byte operator (or system administrator) password.

use chrono::{NaiveDate, NaiveDateTime};

use super::errors::{ErrorCode, ShtrihError};
use super::frame::{Command, Reader, Writer};
use crate::document::SettlementType;
use crate::interface::{DocumentKind, FoundDocument};

pub const SHORT_STATUS: Command = Command(0x10);
pub const Z_REPORT: Command = Command(0x41);
pub const CANCEL_CHECK: Command = Command(0x88);
pub const CONTINUE_PRINT: Command = Command(0xB0);
pub const OPEN_SHIFT: Command = Command(0xE0);
/// FCh, answered without a password: device type and name.
pub const DEVICE_TYPE: Command = Command(0xFC);
pub const FN_STATUS: Command = Command(0xFF01);
pub const CANCEL_FN_DOCUMENT: Command = Command(0xFF08);
pub const FIND_DOCUMENT: Command = Command(0xFF0A);
pub const OPEN_SHIFT_FN: Command = Command(0xFF0B);
pub const DOCUMENT_TLV: Command = Command(0xFF0C);
pub const EXCHANGE_STATUS: Command = Command(0xFF39);
pub const UNSENT_COUNT: Command = Command(0xFF3F);
pub const SHIFT_PARAMETERS: Command = Command(0xFF40);
pub const BEGIN_OPEN_SHIFT: Command = Command(0xFF41);
pub const BEGIN_CLOSE_SHIFT: Command = Command(0xFF42);
pub const CLOSE_SHIFT_FN: Command = Command(0xFF43);
pub const CLOSE_CHECK: Command = Command(0xFF45);
pub const OPERATION: Command = Command(0xFF46);
pub const OPERATION_TLV: Command = Command(0xFF4D);

/// 5-byte "computed by the KKT" marker of FF46's sum and tax fields.
pub const COMPUTED: u64 = 0xFF_FFFF_FFFF;

/// One FF46 "Операция V2" line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// 1 приход, 2 возврат прихода, 3 расход, 4 возврат расхода (tag 1054).
    pub kind: u8,
    /// Quantity in millionths (6 bytes).
    pub quantity_micro: u64,
    /// Price in kopecks (5 bytes).
    pub price: u64,
    /// Line total in kopecks, or [`COMPUTED`].
    pub amount: u64,
    /// VAT of the line in kopecks, or [`COMPUTED`].
    pub vat_amount: u64,
    /// VAT rate as FF46's bit field (see `vat_bits`).
    pub vat_rate: u8,
    pub department: u8,
    /// Tag 1214.
    pub method: u8,
    /// Tag 1212.
    pub subject: u8,
    /// Tag 1030, at most 128 bytes in Windows-1251.
    pub name: String,
}

/// The FF45 "Закрытие чека расширенное вариант V2" payments and tax system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseCheck {
    /// Payment type 1, cash (tag 1031), kopecks.
    pub cash: u64,
    /// Payment type 2, electronic (tag 1081), kopecks.
    pub electronic: u64,
    /// Tag 1055 as its bit field.
    pub tax_system: u8,
    /// Printed at the end of the receipt, at most 64 bytes.
    pub text: String,
}

/// A request to the KKT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// 10h: mode, submode, flags.
    ShortStatus,
    /// B0h: continue printing after the paper was replaced.
    ContinuePrint,
    /// 88h: cancel the open receipt.
    CancelCheck,
    /// E0h: open the shift (after FF41).
    OpenShift,
    /// 41h: daily report with clearing (printed Z-report; closes the shift).
    ZReport,
    /// FF01h: fiscal storage status.
    FnStatus,
    /// FF08h: cancel the document open in the FN.
    CancelFnDocument,
    /// FF0Ah: find a fiscal document by its number.
    FindDocument(u32),
    /// FF0Bh: open the shift in the FN (after FF41).
    OpenShiftFn,
    /// FF0Ch: TLV tags of the whole receipt.
    DocumentTlv(Vec<u8>),
    /// FF39h: OFD exchange status.
    ExchangeStatus,
    /// FF3Fh: number of documents the OFD has not confirmed.
    UnsentCount,
    /// FF40h: current shift parameters.
    ShiftParameters,
    /// FF41h: begin opening a shift.
    BeginOpenShift,
    /// FF42h: begin closing a shift.
    BeginCloseShift,
    /// FF43h: close the shift in the FN.
    CloseShiftFn,
    /// FF45h: close the receipt.
    CloseCheck(CloseCheck),
    /// FF46h: add a line.
    Operation(Operation),
    /// FF4Dh: TLV tags of the last line.
    OperationTlv(Vec<u8>),
}

impl Request {
    pub fn command(&self) -> Command {
        match self {
            Request::ShortStatus => SHORT_STATUS,
            Request::ContinuePrint => CONTINUE_PRINT,
            Request::CancelCheck => CANCEL_CHECK,
            Request::OpenShift => OPEN_SHIFT,
            Request::ZReport => Z_REPORT,
            Request::FnStatus => FN_STATUS,
            Request::CancelFnDocument => CANCEL_FN_DOCUMENT,
            Request::FindDocument(_) => FIND_DOCUMENT,
            Request::OpenShiftFn => OPEN_SHIFT_FN,
            Request::DocumentTlv(_) => DOCUMENT_TLV,
            Request::ExchangeStatus => EXCHANGE_STATUS,
            Request::UnsentCount => UNSENT_COUNT,
            Request::ShiftParameters => SHIFT_PARAMETERS,
            Request::BeginOpenShift => BEGIN_OPEN_SHIFT,
            Request::BeginCloseShift => BEGIN_CLOSE_SHIFT,
            Request::CloseShiftFn => CLOSE_SHIFT_FN,
            Request::CloseCheck(_) => CLOSE_CHECK,
            Request::Operation(_) => OPERATION,
            Request::OperationTlv(_) => OPERATION_TLV,
        }
    }

    /// True for commands that only read, which may be sent again when an answer is lost.
    pub fn read_only(&self) -> bool {
        matches!(
            self,
            Request::ShortStatus
                | Request::FnStatus
                | Request::FindDocument(_)
                | Request::ExchangeStatus
                | Request::UnsentCount
                | Request::ShiftParameters
        )
    }

    /// The frame payload: command, password, parameters.
    pub fn encode(&self, password: u32) -> Vec<u8> {
        let w = Writer::new(self.command()).u32(password);
        match self {
            Request::FindDocument(fd) => w.u32(*fd).finish(),
            Request::DocumentTlv(tlv) | Request::OperationTlv(tlv) => w.bytes(tlv).finish(),
            Request::CloseCheck(c) => encode_close_check(w, c),
            Request::Operation(op) => encode_operation(w, op),
            _ => w.finish(),
        }
    }
}

fn encode_operation(w: Writer, op: &Operation) -> Vec<u8> {
    w.u8(op.kind)
        .uint(op.quantity_micro, 6)
        .uint(op.price, 5)
        .uint(op.amount, 5)
        .uint(op.vat_amount, 5)
        .u8(op.vat_rate)
        .u8(op.department)
        .u8(op.method)
        .u8(op.subject)
        .bytes(&win1251(&op.name, 128))
        .finish()
}

fn encode_close_check(w: Writer, c: &CloseCheck) -> Vec<u8> {
    let mut w = w.uint(c.cash, 5).uint(c.electronic, 5);
    for _ in 3..=16 {
        w = w.uint(0, 5);
    }
    // Rounding (1 byte), then the six receipt-level tax sums: zero, the KKT sums the lines'.
    w = w.u8(0);
    for _ in 0..6 {
        w = w.uint(0, 5);
    }
    w.u8(c.tax_system).bytes(&win1251(&c.text, 64)).finish()
}

/// Text as the KKT takes it: Windows-1251, cut to `max` bytes.
pub fn win1251(text: &str, max: usize) -> Vec<u8> {
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(text);
    bytes.iter().take(max).copied().collect()
}

/// Text from the KKT's Windows-1251 bytes.
pub fn from_win1251(bytes: &[u8]) -> String {
    let (text, _, _) = encoding_rs::WINDOWS_1251.decode(bytes);
    text.into_owned()
}

/// The KKT's mode (low nibble of the mode byte of 10h) with its status (high nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 2: shift open, 24 hours not over.
    ShiftOpen,
    /// 3: shift open, 24 hours over.
    ShiftExpired,
    /// 4: shift closed.
    ShiftClosed,
    /// 8: a receipt is open; the settlement type (0 sale …) in the status.
    ReceiptOpen(u8),
    /// Any other mode (0 printer mode, 1 data output, 5 locked, 6 waiting for date…).
    Other(u8),
}

impl Mode {
    pub fn from_byte(b: u8) -> Mode {
        match b & 0x0F {
            2 => Mode::ShiftOpen,
            3 => Mode::ShiftExpired,
            4 => Mode::ShiftClosed,
            8 => Mode::ReceiptOpen(b >> 4),
            _ => Mode::Other(b),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            Mode::ShiftOpen => 2,
            Mode::ShiftExpired => 3,
            Mode::ShiftClosed => 4,
            Mode::ReceiptOpen(status) => 8 | (status << 4),
            Mode::Other(b) => b,
        }
    }
}

/// The KKT's print submode (10h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submode {
    /// 0: paper present.
    PaperPresent,
    /// 1: out of paper while idle.
    PassiveOutOfPaper,
    /// 2: out of paper while printing; waiting for paper.
    ActiveOutOfPaper,
    /// 3: paper back after 2; waiting for B0h "continue print".
    WaitingContinuePrint,
    /// 4: printing a long report.
    PrintingReport,
    /// 5: printing an operation.
    PrintingOperation,
    Other(u8),
}

impl Submode {
    pub fn from_byte(b: u8) -> Submode {
        match b {
            0 => Submode::PaperPresent,
            1 => Submode::PassiveOutOfPaper,
            2 => Submode::ActiveOutOfPaper,
            3 => Submode::WaitingContinuePrint,
            4 => Submode::PrintingReport,
            5 => Submode::PrintingOperation,
            other => Submode::Other(other),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            Submode::PaperPresent => 0,
            Submode::PassiveOutOfPaper => 1,
            Submode::ActiveOutOfPaper => 2,
            Submode::WaitingContinuePrint => 3,
            Submode::PrintingReport => 4,
            Submode::PrintingOperation => 5,
            Submode::Other(b) => b,
        }
    }
}

/// Bit 1 of the KKT flags: the receipt paper roll is present.
pub const FLAG_RECEIPT_ROLL: u16 = 1 << 1;
/// Bit 7: the optical sensor sees receipt paper.
pub const FLAG_RECEIPT_OPTICAL: u16 = 1 << 7;
/// Bit 10: the case cover is open.
pub const FLAG_COVER_OPEN: u16 = 1 << 10;

/// Answer to 10h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortStatus {
    pub operator: u8,
    pub flags: u16,
    pub mode: Mode,
    pub submode: Submode,
    /// Operations in the open receipt.
    pub operations: u16,
}

impl ShortStatus {
    pub fn paper_present(&self) -> bool {
        self.flags & FLAG_RECEIPT_OPTICAL != 0
    }

    pub fn cover_open(&self) -> bool {
        self.flags & FLAG_COVER_OPEN != 0
    }
}

/// FF01h warning bits.
pub mod warnings {
    /// Crypto coprocessor to be replaced within 3 days.
    pub const URGENT_REPLACEMENT: u8 = 1 << 0;
    /// Crypto coprocessor resource ends within 30 days.
    pub const RESOURCE_ENDING: u8 = 1 << 1;
    /// FN archive 90% full.
    pub const MEMORY_NEAR_FULL: u8 = 1 << 2;
    /// OFD answer overdue.
    pub const OFD_TIMEOUT: u8 = 1 << 3;
}

/// Answer to FF01h.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnState {
    /// Life phase bits: 0 set up, 1 fiscal mode, 2 fiscal mode closed, 3 archive sent.
    pub phase: u8,
    /// The document open in the FN (0 none, 4 receipt, …).
    pub open_document: u8,
    pub document_data_received: bool,
    pub shift_open: bool,
    /// See [`warnings`].
    pub warnings: u8,
    pub time: NaiveDateTime,
    pub fn_number: String,
    pub last_fd: u32,
}

/// Answer to FF39h.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeStatus {
    pub status: u8,
    pub reading_message: bool,
    pub unsent: u16,
    pub first_unsent_fd: u32,
    /// When the oldest unsent document was made (None when nothing is unsent).
    pub first_unsent_at: Option<NaiveDateTime>,
}

/// Answer to FF45h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckClosed {
    pub change: u64,
    pub fd_number: u32,
    pub fiscal_sign: u32,
    pub time: NaiveDateTime,
}

/// Answer to FF0Bh and FF43h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftDocument {
    pub shift: u16,
    pub fd_number: u32,
    pub fiscal_sign: u32,
}

/// Answer to FF40h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftParameters {
    pub open: bool,
    pub shift: u16,
    /// Receipts in the shift so far.
    pub receipt: u16,
}

/// A parsed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The command succeeded and returns nothing this driver reads.
    Done,
    ShortStatus(ShortStatus),
    FnStatus(FnState),
    ShiftOpened(ShiftDocument),
    ShiftClosed(ShiftDocument),
    CheckClosed(CheckClosed),
    Document(FoundDocument),
    Exchange(ExchangeStatus),
    Unsent(u16),
    Shift(ShiftParameters),
}

/// Parses the bytes after the command echo (error code first) of the answer to `request`.
pub fn parse_reply(request: &Request, data: &[u8]) -> Result<Reply, ShtrihError> {
    let command = request.command();
    let mut r = Reader::new(command, data);
    if let Some(code) = ErrorCode::from_byte(r.u8()?) {
        return Err(ShtrihError::Refused { command, code });
    }
    let reply = match request {
        Request::ShortStatus => Reply::ShortStatus(parse_short_status(&mut r)?),
        Request::FnStatus => Reply::FnStatus(parse_fn_status(&mut r)?),
        Request::OpenShiftFn => Reply::ShiftOpened(parse_shift_document(&mut r)?),
        Request::CloseShiftFn => Reply::ShiftClosed(parse_shift_document(&mut r)?),
        Request::CloseCheck(_) => Reply::CheckClosed(CheckClosed {
            change: r.uint(5)?,
            fd_number: r.u32()?,
            fiscal_sign: r.u32()?,
            time: date_time(r.take(5)?)?,
        }),
        Request::FindDocument(fd) => Reply::Document(parse_document(*fd, &mut r)?),
        Request::ExchangeStatus => Reply::Exchange(parse_exchange(&mut r)?),
        Request::UnsentCount => Reply::Unsent(r.u16()?),
        Request::ShiftParameters => Reply::Shift(ShiftParameters {
            open: r.u8()? != 0,
            shift: r.u16()?,
            receipt: r.u16()?,
        }),
        _ => Reply::Done,
    };
    Ok(reply)
}

fn parse_short_status(r: &mut Reader<'_>) -> Result<ShortStatus, ShtrihError> {
    let operator = r.u8()?;
    let flags = r.u16()?;
    let mode = Mode::from_byte(r.u8()?);
    let submode = Submode::from_byte(r.u8()?);
    let ops_low = r.u8()?;
    // Battery and supply voltage, FP and EKLZ error codes: not used by this driver.
    r.take(4)?;
    let ops_high = r.u8()?;
    Ok(ShortStatus {
        operator,
        flags,
        mode,
        submode,
        operations: u16::from_le_bytes([ops_low, ops_high]),
    })
}

fn parse_fn_status(r: &mut Reader<'_>) -> Result<FnState, ShtrihError> {
    let phase = r.u8()?;
    let open_document = r.u8()?;
    let document_data_received = r.u8()? != 0;
    let shift_open = r.u8()? != 0;
    let warnings = r.u8()?;
    let time = date_time(r.take(5)?)?;
    let fn_number = String::from_utf8_lossy(r.take(16)?).trim().to_string();
    let last_fd = r.u32()?;
    Ok(FnState {
        phase,
        open_document,
        document_data_received,
        shift_open,
        warnings,
        time,
        fn_number,
        last_fd,
    })
}

fn parse_shift_document(r: &mut Reader<'_>) -> Result<ShiftDocument, ShtrihError> {
    Ok(ShiftDocument {
        shift: r.u16()?,
        fd_number: r.u32()?,
        fiscal_sign: r.u32()?,
    })
}

fn parse_exchange(r: &mut Reader<'_>) -> Result<ExchangeStatus, ShtrihError> {
    let status = r.u8()?;
    let reading_message = r.u8()? != 0;
    let unsent = r.u16()?;
    let first_unsent_fd = r.u32()?;
    let at = r.take(5)?;
    let first_unsent_at = if unsent == 0 {
        None
    } else {
        Some(date_time(at)?)
    };
    Ok(ExchangeStatus {
        status,
        reading_message,
        unsent,
        first_unsent_fd,
        first_unsent_at,
    })
}

/// FFD document types as FF0Ah reports them.
pub mod document_type {
    pub const REGISTRATION: u8 = 1;
    pub const SHIFT_OPEN: u8 = 2;
    pub const RECEIPT: u8 = 3;
    pub const SHIFT_CLOSE: u8 = 5;
}

fn parse_document(fd: u32, r: &mut Reader<'_>) -> Result<FoundDocument, ShtrihError> {
    let doc_type = r.u8()?;
    let acknowledged_by_ofd = r.u8()? != 0;
    let time = date_time(r.take(5)?)?;
    let fd_number = r.u32()?;
    let fiscal_sign = r.u32()?;
    if fd_number != fd {
        return Err(ShtrihError::Malformed(format!(
            "asked for FD {fd}, the FN returned FD {fd_number}"
        )));
    }
    let (kind, total) = match doc_type {
        document_type::RECEIPT => {
            let code = r.u8()?;
            let settlement = SettlementType::from_code(code).ok_or_else(|| {
                ShtrihError::Malformed(format!("settlement type {code} in FD {fd}"))
            })?;
            let total = i64::try_from(r.uint(5)?).unwrap_or(i64::MAX);
            (DocumentKind::Receipt(settlement), Some(total))
        }
        document_type::SHIFT_OPEN => (DocumentKind::ShiftOpen { shift: r.u16()? }, None),
        document_type::SHIFT_CLOSE => (DocumentKind::ShiftClose { shift: r.u16()? }, None),
        other => (DocumentKind::Other(other), None),
    };
    Ok(FoundDocument {
        fd_number,
        kind,
        total,
        time,
        fiscal_sign,
        acknowledged_by_ofd,
    })
}

/// Reads the protocol's 5-byte date and time `YY MM DD hh mm`.
pub fn date_time(b: &[u8]) -> Result<NaiveDateTime, ShtrihError> {
    let bad = || ShtrihError::Malformed(format!("date and time {}", hex::encode(b)));
    let [yy, mm, dd, hh, mi] = b else {
        return Err(bad());
    };
    NaiveDate::from_ymd_opt(2000 + i32::from(*yy), u32::from(*mm), u32::from(*dd))
        .and_then(|d| d.and_hms_opt(u32::from(*hh), u32::from(*mi), 0))
        .ok_or_else(bad)
}

/// Writes the protocol's 5-byte date and time (seconds are not carried).
pub fn date_time_bytes(t: NaiveDateTime) -> [u8; 5] {
    use chrono::{Datelike, Timelike};
    [
        (t.year() - 2000).clamp(0, 255) as u8,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_typed() {
        let err = parse_reply(&Request::FnStatus, &[0x16]).unwrap_err();
        assert_eq!(
            err,
            ShtrihError::Refused {
                command: FN_STATUS,
                code: ErrorCode::FnShiftOver24h
            }
        );
    }

    #[test]
    fn short_answers_are_malformed_not_panics() {
        assert!(matches!(
            parse_reply(&Request::ShortStatus, &[0, 1, 2]),
            Err(ShtrihError::Malformed(_))
        ));
        assert!(matches!(
            parse_reply(&Request::FindDocument(1), &[]),
            Err(ShtrihError::Malformed(_))
        ));
    }

    #[test]
    fn close_check_is_116_bytes_of_parameters() {
        let c = CloseCheck {
            cash: 1,
            electronic: 0,
            tax_system: 1,
            text: String::new(),
        };
        assert_eq!(Request::CloseCheck(c).encode(30).len(), 2 + 116);
    }

    #[test]
    fn date_time_round_trips() {
        let t = NaiveDate::from_ymd_opt(2026, 11, 27)
            .and_then(|d| d.and_hms_opt(14, 5, 0))
            .unwrap();
        assert_eq!(date_time(&date_time_bytes(t)), Ok(t));
        assert!(date_time(&[26, 13, 1, 0, 0]).is_err());
    }
}
