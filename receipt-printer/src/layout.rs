//! Lays a receipt out as lines that fit a printer's width. The ESC/POS encoder, the plain-text
//! rendering and the emulator's decoded text all go through these lines, so they agree.

use crate::model::{BodyLine, Receipt, ReceiptKind};
use crate::money::format_rub;
use crate::text::{pair, printable, wrap};
use fiscal_register::{FiscalDocument, FiscalResult, ZReport, FNS_SITE};

/// Horizontal alignment of a line (`ESC a n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

/// One printed line with its style. `text` never exceeds the profile's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub align: Align,
    pub bold: bool,
    pub double_height: bool,
}

/// What a receipt is made of, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Line(Line),
    /// A QR code (model 2) carrying this text.
    Qr(String),
    /// The end of the receipt: feed and cut.
    Cut,
}

/// Collects lines, wrapping each to the width.
struct Builder {
    cols: usize,
    blocks: Vec<Block>,
}

impl Builder {
    fn styled(&mut self, text: &str, align: Align, bold: bool, double_height: bool) {
        for text in wrap(&printable(text), self.cols) {
            self.blocks.push(Block::Line(Line {
                text,
                align,
                bold,
                double_height,
            }));
        }
    }
    fn text(&mut self, text: &str) {
        self.styled(text, Align::Left, false, false);
    }
    fn center(&mut self, text: &str) {
        self.styled(text, Align::Center, false, false);
    }
    fn pair_styled(&mut self, label: &str, value: &str, bold: bool) {
        for text in pair(&printable(label), &printable(value), self.cols) {
            self.blocks.push(Block::Line(Line {
                text,
                align: Align::Left,
                bold,
                double_height: false,
            }));
        }
    }
    fn pair(&mut self, label: &str, value: &str) {
        self.pair_styled(label, value, false);
    }
    fn separator(&mut self) {
        let text = "-".repeat(self.cols);
        self.blocks.push(Block::Line(Line {
            text,
            align: Align::Left,
            bold: false,
            double_height: false,
        }));
    }
}

/// Lays out a receipt for a printer with `cols` characters per line.
pub fn layout(receipt: &Receipt, cols: usize) -> Vec<Block> {
    let mut b = Builder {
        cols: cols.max(8),
        blocks: Vec::new(),
    };
    for line in &receipt.header {
        b.center(line);
    }
    b.styled(receipt.kind.title(), Align::Center, true, true);
    match (&receipt.document, &receipt.fiscal) {
        (Some(doc), Some(fiscal)) => fiscal_part(&mut b, doc, fiscal),
        _ => b.center(&receipt.time.format("%d.%m.%Y %H:%M").to_string()),
    }
    for line in &receipt.body {
        match line {
            BodyLine::Text(t) => b.text(t),
            BodyLine::Pair(l, v) => b.pair(l, v),
            BodyLine::Separator => b.separator(),
        }
    }
    if let Some(qr) = receipt.qr_payload() {
        b.blocks.push(Block::Qr(qr));
    }
    if !receipt.card_slip.is_empty() {
        b.separator();
        for line in &receipt.card_slip {
            b.text(line);
        }
    }
    if !receipt.footer.is_empty() {
        b.separator();
        for line in &receipt.footer {
            b.center(line);
        }
    }
    b.blocks.push(Block::Cut);
    b.blocks
}

fn fiscal_part(b: &mut Builder, doc: &FiscalDocument, fiscal: &FiscalResult) {
    b.center("ПРИХОД");
    b.text(&doc.seller.name);
    b.text(&format!("ИНН {}", doc.seller.inn));
    b.text(&doc.seller.address);
    b.text(&format!("Место расчетов: {}", doc.seller.place));
    b.pair(
        &format!("Смена № {}", fiscal.shift),
        &format!("Чек № {}", fiscal.receipt_in_shift),
    );
    b.pair(
        "Дата, время",
        &fiscal.time.format("%d.%m.%Y %H:%M").to_string(),
    );
    b.separator();
    for (n, item) in doc.items.iter().enumerate() {
        b.text(&format!("{}. {}", n + 1, item.name));
        let qty = if item.quantity_milli % 1000 == 0 {
            (item.quantity_milli / 1000).to_string()
        } else {
            format!("{:.3}", item.quantity_milli as f64 / 1000.0).replace('.', ",")
        };
        b.pair(
            &format!("  {qty} x {}", format_rub(item.price)),
            &format!("= {}", format_rub(item.amount())),
        );
        b.pair("  Признак предмета расчета", "УСЛУГА");
        b.pair("  Способ расчета", "ПОЛНЫЙ РАСЧЕТ");
        match item.vat.vat_of(item.amount()) {
            Some(vat) => b.pair(&format!("  {}", item.vat.label()), &format_rub(vat)),
            None => b.pair(&format!("  {}", item.vat.label()), ""),
        }
        if let Some(agent) = &item.agent {
            b.pair("  Признак агента", agent_label(agent.agent_type));
            b.text(&format!("  Поставщик: {}", agent.supplier.name));
            b.text(&format!("  ИНН поставщика: {}", agent.supplier.inn));
            if let Some(phone) = &agent.supplier.phone {
                b.text(&format!("  Тел. поставщика: {phone}"));
            }
        }
    }
    b.separator();
    b.pair_styled("ИТОГ", &format_rub(doc.total()), true);
    if doc.payments.cash > 0 {
        b.pair("НАЛИЧНЫМИ", &format_rub(doc.payments.cash));
    }
    if doc.payments.electronic > 0 {
        b.pair("БЕЗНАЛИЧНЫМИ", &format_rub(doc.payments.electronic));
    }
    b.pair("СНО", doc.seller.tax_system.short_name());
    if let Some(contact) = &doc.buyer_contact {
        b.pair("Покупатель", contact);
    }
    b.pair("Автомат №", &doc.seller.machine_number);
    b.pair("РН ККТ", &doc.seller.kkt_reg_number);
    b.pair("ФН №", &fiscal.fn_number);
    b.pair("ФД №", &fiscal.fd_number.to_string());
    b.pair("ФП", &fiscal.fiscal_sign_text());
    b.pair("Сайт ФНС", FNS_SITE);
}

fn agent_label(agent: fiscal_register::AgentType) -> &'static str {
    use fiscal_register::AgentType::*;
    match agent {
        BankPaymentAgent => "БАНК. ПЛ. АГЕНТ",
        BankPaymentSubagent => "БАНК. ПЛ. СУБАГЕНТ",
        PaymentAgent => "ПЛ. АГЕНТ",
        PaymentSubagent => "ПЛ. СУБАГЕНТ",
        Attorney => "ПОВЕРЕННЫЙ",
        CommissionAgent => "КОМИССИОНЕР",
        Agent => "АГЕНТ",
    }
}

/// Formats one line as it appears on paper: alignment applied with spaces, no trailing spaces.
pub fn format_line(text: &str, align: Align, cols: usize) -> String {
    let len = text.chars().count();
    let pad = cols.saturating_sub(len);
    let left = match align {
        Align::Left => 0,
        Align::Center => pad / 2,
        Align::Right => pad,
    };
    format!("{}{}", " ".repeat(left), text)
        .trim_end()
        .to_string()
}

/// Formats a QR code's line in plain text.
pub fn qr_line(payload: &str) -> String {
    format!("[QR: {payload}]")
}

/// The receipt as plain text, one printed line per text line (for `terminal demo` and for
/// comparing with what the emulator decoded).
pub fn plain_text(receipt: &Receipt, cols: usize) -> String {
    blocks_text(&layout(receipt, cols), cols)
}

/// Plain text of laid-out blocks; the cut ends the text.
pub fn blocks_text(blocks: &[Block], cols: usize) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Line(l) => out.push_str(&format_line(&l.text, l.align, cols)),
            Block::Qr(q) => out.push_str(&format_line(&qr_line(q), Align::Center, cols)),
            Block::Cut => break,
        }
        out.push('\n');
    }
    out
}

/// The Z report as a printable receipt.
pub fn shift_report(report: &ZReport, header: Vec<String>) -> Receipt {
    let mut receipt = Receipt::new(ReceiptKind::ShiftReport, report.closed_at);
    receipt.header = header;
    receipt.body = vec![
        BodyLine::Pair("Смена №".into(), report.shift.to_string()),
        BodyLine::Pair(
            "Открыта".into(),
            report.opened_at.format("%d.%m.%Y %H:%M").to_string(),
        ),
        BodyLine::Pair(
            "Закрыта".into(),
            report.closed_at.format("%d.%m.%Y %H:%M").to_string(),
        ),
        BodyLine::Pair("Чеков за смену".into(), report.receipts.to_string()),
        BodyLine::Pair("Приход".into(), format_rub(report.income)),
        BodyLine::Pair("  наличными".into(), format_rub(report.cash)),
        BodyLine::Pair("  безналичными".into(), format_rub(report.electronic)),
        BodyLine::Pair("ФД №".into(), report.fd_number.to_string()),
        BodyLine::Pair("ФП".into(), format!("{:010}", report.fiscal_sign)),
    ];
    receipt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use fiscal_register::{FiscalResult, Item, VatRate};
    use proptest::prelude::*;

    fn fiscal() -> FiscalResult {
        FiscalResult {
            fn_number: "9999078900012345".into(),
            fd_number: 42,
            fiscal_sign: 7,
            shift: 3,
            receipt_in_shift: 9,
            time: sample::time(),
            printed_by_module: false,
        }
    }

    proptest! {
        #[test]
        fn no_line_exceeds_the_width(
            names in proptest::collection::vec("[а-яА-ЯёЁa-z0-9 №«»₽.,-]{1,128}", 1..5),
            price in 1i64..100_000_000,
            cols in 24usize..64,
            contact in proptest::option::of("[a-z]{1,70}@[a-z]{1,20}\\.ru"),
        ) {
            let mut doc = sample::document();
            doc.items = names.iter().map(|n| Item::service(n.clone(), price, VatRate::Vat20)).collect();
            doc.payments.cash = doc.total();
            doc.payments.electronic = 0;
            doc.buyer_contact = contact;
            let mut receipt = Receipt::fiscal_payment(doc, fiscal());
            receipt.card_slip = names.clone();
            for block in layout(&receipt, cols) {
                if let Block::Line(line) = block {
                    prop_assert!(line.text.chars().count() <= cols, "{:?}", line.text);
                }
            }
        }
    }

    #[test]
    fn fiscal_receipt_shows_the_attributes_the_law_asks_for() {
        let receipt = Receipt::fiscal_payment(sample::document(), fiscal());
        let text = plain_text(&receipt, 48);
        for needle in [
            "КАССОВЫЙ ЧЕК",
            "ПРИХОД",
            "ИНН 7701234567",
            "Место расчетов",
            "Автомат №",
            "РН ККТ",
            "ФН №",
            "ФД №",
            "ФП",
            "0000000007",
            "www.nalog.gov.ru",
            "ИТОГ",
            "1 950,50 руб.",
            "НАЛИЧНЫМИ",
            "БЕЗНАЛИЧНЫМИ",
            "СНО",
            "ИНН поставщика: 7709876543",
            "[QR: t=20261127T140533&s=1950.50",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
    }
}
