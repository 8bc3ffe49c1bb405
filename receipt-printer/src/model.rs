//! The receipt model: what goes on paper, independent of the printer that prints it.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use fiscal_register::{FiscalDocument, FiscalResult};

/// What kind of paper the kiosk is printing; decides the title and which sections appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiptKind {
    /// 54-FZ fiscal receipt for a payment (кассовый чек, приход).
    FiscalPayment,
    /// Registration slip for meter readings.
    MeterReadingSlip,
    /// Certificate that the account has no debt.
    NoDebtCertificate,
    /// Cash collection (инкассация) receipt for the technician.
    Encashment,
    /// Shift closing (Z) report.
    ShiftReport,
    /// Printer test page.
    TestPage,
}

impl ReceiptKind {
    /// The title printed at the top (customer-facing, Russian).
    pub fn title(self) -> &'static str {
        match self {
            ReceiptKind::FiscalPayment => "КАССОВЫЙ ЧЕК",
            ReceiptKind::MeterReadingSlip => "ПОКАЗАНИЯ ПРИБОРОВ УЧЕТА",
            ReceiptKind::NoDebtCertificate => "СПРАВКА ОБ ОТСУТСТВИИ ЗАДОЛЖЕННОСТИ",
            ReceiptKind::Encashment => "ИНКАССАЦИЯ",
            ReceiptKind::ShiftReport => "ОТЧЕТ О ЗАКРЫТИИ СМЕНЫ",
            ReceiptKind::TestPage => "ТЕСТОВАЯ СТРАНИЦА",
        }
    }
}

/// A receipt ready to lay out: a fiscal payment receipt carries its fiscal document and the
/// attributes the fiscal module returned; other kinds carry body lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub kind: ReceiptKind,
    /// Free lines above the title (retailer name, office), centred.
    pub header: Vec<String>,
    /// When the receipt was made (local time of the kiosk).
    pub time: NaiveDateTime,
    /// Sale data (seller, items, payments) for fiscal receipts.
    pub document: Option<FiscalDocument>,
    /// What the fiscal module returned when it registered `document`.
    pub fiscal: Option<FiscalResult>,
    /// Body lines of non-fiscal slips (readings, certificate text, encashment counts).
    pub body: Vec<BodyLine>,
    /// Lines of the bank card slip, printed after the fiscal part.
    pub card_slip: Vec<String>,
    /// Free lines at the bottom, centred.
    pub footer: Vec<String>,
}

/// One line of a slip body: either free text or a label with a right-aligned value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyLine {
    Text(String),
    Pair(String, String),
    Separator,
}

impl Receipt {
    /// A receipt of `kind` with nothing but a time.
    pub fn new(kind: ReceiptKind, time: NaiveDateTime) -> Self {
        Receipt {
            kind,
            header: Vec::new(),
            time,
            document: None,
            fiscal: None,
            body: Vec::new(),
            card_slip: Vec::new(),
            footer: Vec::new(),
        }
    }

    /// The fiscal receipt for a registered payment; the time printed is the fiscal module's.
    pub fn fiscal_payment(document: FiscalDocument, fiscal: FiscalResult) -> Self {
        let mut receipt = Receipt::new(ReceiptKind::FiscalPayment, fiscal.time);
        receipt.document = Some(document);
        receipt.fiscal = Some(fiscal);
        receipt
    }

    /// The 54-FZ QR string of a fiscal receipt (`t=…&s=…&fn=…&i=…&fp=…&n=1`), also what the
    /// kiosk shows on screen when it cannot print.
    pub fn qr_payload(&self) -> Option<String> {
        let (document, fiscal) = (self.document.as_ref()?, self.fiscal.as_ref()?);
        Some(fiscal_register::qr_string(document, fiscal))
    }

    /// A test page that shows the profile and the whole Cyrillic alphabet.
    pub fn test_page(profile: &crate::PrinterProfile, time: NaiveDateTime) -> Self {
        let mut receipt = Receipt::new(ReceiptKind::TestPage, time);
        receipt.body = vec![
            BodyLine::Pair("Принтер".into(), profile.name.to_string()),
            BodyLine::Pair("Символов в строке".into(), profile.columns.to_string()),
            BodyLine::Pair(
                "Кодовая страница".into(),
                format!("ESC t {}", profile.code_page),
            ),
            BodyLine::Separator,
            BodyLine::Text("АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ".into()),
            BodyLine::Text("абвгдеёжзийклмнопрстуфхцчшщъыьэюя".into()),
            BodyLine::Text("0123456789 №%+-=/()., руб.".into()),
        ];
        receipt
    }
}
