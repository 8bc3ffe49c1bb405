//! The sale data of a fiscal receipt (FFD 1.2) and its tag encoding; owns no I/O.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::interface::{FiscalError, FiscalResult};
use crate::tlv::{Tlv, TlvWriter};

/// Tag 1054, settlement type. Kiosks only take income; the others are what a fiscal storage
/// may report for documents made by other software on the same KKT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettlementType {
    /// Приход.
    Income = 1,
    /// Возврат прихода.
    IncomeReturn = 2,
    /// Расход.
    Expense = 3,
    /// Возврат расхода.
    ExpenseReturn = 4,
}

impl SettlementType {
    /// The type for a tag 1054 value.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(SettlementType::Income),
            2 => Some(SettlementType::IncomeReturn),
            3 => Some(SettlementType::Expense),
            4 => Some(SettlementType::ExpenseReturn),
            _ => None,
        }
    }
}

/// Tag 1055, the seller's tax system (a bit in the FFD bit field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaxSystem {
    /// ОСН.
    General = 1,
    /// УСН доход.
    SimplifiedIncome = 2,
    /// УСН доход минус расход.
    SimplifiedIncomeMinusExpense = 4,
    /// ЕСХН.
    Agricultural = 16,
    /// ПСН.
    Patent = 32,
}

impl TaxSystem {
    pub fn short_name(self) -> &'static str {
        match self {
            TaxSystem::General => "ОСН",
            TaxSystem::SimplifiedIncome => "УСН доход",
            TaxSystem::SimplifiedIncomeMinusExpense => "УСН доход-расход",
            TaxSystem::Agricultural => "ЕСХН",
            TaxSystem::Patent => "ПСН",
        }
    }
}

/// Tag 1199, VAT rate of an item (FFD 1.2 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VatRate {
    Vat20 = 1,
    Vat10 = 2,
    Vat20_120 = 3,
    Vat10_110 = 4,
    Vat0 = 5,
    NoVat = 6,
    Vat5 = 7,
    Vat7 = 8,
    Vat5_105 = 9,
    Vat7_107 = 10,
    Vat22 = 11,
    Vat22_122 = 12,
}

impl VatRate {
    /// Percent included in a price, or None when the item carries no VAT.
    fn percent(self) -> Option<i64> {
        match self {
            VatRate::Vat20 | VatRate::Vat20_120 => Some(20),
            VatRate::Vat10 | VatRate::Vat10_110 => Some(10),
            VatRate::Vat5 | VatRate::Vat5_105 => Some(5),
            VatRate::Vat7 | VatRate::Vat7_107 => Some(7),
            VatRate::Vat22 | VatRate::Vat22_122 => Some(22),
            VatRate::Vat0 => Some(0),
            VatRate::NoVat => None,
        }
    }

    /// How the rate is named on the receipt.
    pub fn label(self) -> &'static str {
        match self {
            VatRate::Vat20 => "НДС 20%",
            VatRate::Vat10 => "НДС 10%",
            VatRate::Vat20_120 => "НДС 20/120",
            VatRate::Vat10_110 => "НДС 10/110",
            VatRate::Vat0 => "НДС 0%",
            VatRate::NoVat => "БЕЗ НДС",
            VatRate::Vat5 => "НДС 5%",
            VatRate::Vat7 => "НДС 7%",
            VatRate::Vat5_105 => "НДС 5/105",
            VatRate::Vat7_107 => "НДС 7/107",
            VatRate::Vat22 => "НДС 22%",
            VatRate::Vat22_122 => "НДС 22/122",
        }
    }

    /// VAT contained in a gross amount, rounded half up to the kopeck.
    pub fn vat_of(self, gross_kopecks: i64) -> Option<i64> {
        let p = self.percent()?;
        Some((gross_kopecks * p * 2 + (100 + p)) / ((100 + p) * 2))
    }
}

/// Tag 1212, subject of the settlement. Utility payments are services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    Service = 4,
    /// Агентское вознаграждение... kept for completeness of the kiosk's needs.
    Payment = 10,
}

/// Tag 1214, method of settlement. A kiosk takes full payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentMethod {
    FullPayment = 4,
}

/// Tags 1057/1222, agent attribute (FFD bit field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentType {
    BankPaymentAgent = 1,
    BankPaymentSubagent = 2,
    PaymentAgent = 4,
    PaymentSubagent = 8,
    Attorney = 16,
    CommissionAgent = 32,
    Agent = 64,
}

/// Tag 1224, the supplier the retailer collects for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supplier {
    /// Tag 1225.
    pub name: String,
    /// Tag 1226 (10 or 12 digits).
    pub inn: String,
    /// Tag 1171, optional.
    pub phone: Option<String>,
}

/// Agent data of an item when the retailer collects for another supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentData {
    pub agent_type: AgentType,
    pub supplier: Supplier,
}

/// Seller data from config (tags 1018, 1048, 1009, 1187, 1055, 1036, 1037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seller {
    pub inn: String,
    pub name: String,
    pub address: String,
    pub place: String,
    pub tax_system: TaxSystem,
    /// Machine (automat) number, tag 1036.
    pub machine_number: String,
    /// KKT registration number, tag 1037.
    pub kkt_reg_number: String,
}

/// One line of the sale, tag 1059.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Tag 1030, at most 128 characters.
    pub name: String,
    /// Tag 1079, kopecks.
    pub price: i64,
    /// Tag 1023, in thousandths (1000 = 1 piece).
    pub quantity_milli: i64,
    pub vat: VatRate,
    pub subject: Subject,
    pub method: PaymentMethod,
    pub agent: Option<AgentData>,
}

impl Item {
    /// A service paid in full, quantity 1 (what the kiosk sells).
    pub fn service(name: impl Into<String>, price: i64, vat: VatRate) -> Self {
        Item {
            name: name.into(),
            price,
            quantity_milli: 1000,
            vat,
            subject: Subject::Service,
            method: PaymentMethod::FullPayment,
            agent: None,
        }
    }

    /// Tag 1043, the item's total (price × quantity), kopecks rounded half up.
    pub fn amount(&self) -> i64 {
        (self.price * self.quantity_milli + 500) / 1000
    }
}

/// How the buyer paid (tags 1031 cash, 1081 electronic), kopecks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Payments {
    pub cash: i64,
    pub electronic: i64,
}

impl Payments {
    pub fn total(&self) -> i64 {
        self.cash + self.electronic
    }
}

/// The sale data a fiscal module registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiscalDocument {
    pub settlement: SettlementType,
    pub seller: Seller,
    pub items: Vec<Item>,
    pub payments: Payments,
    /// Tag 1008, buyer's phone or e-mail for an e-receipt.
    pub buyer_contact: Option<String>,
}

/// Tag 1060: the tax service's site printed on every receipt.
pub const FNS_SITE: &str = "www.nalog.gov.ru";

impl FiscalDocument {
    /// Tag 1020, the receipt total.
    pub fn total(&self) -> i64 {
        self.items.iter().map(Item::amount).sum()
    }

    /// Tag 1057: the receipt-level agent attribute, the union of the items'.
    pub fn agent_flags(&self) -> u8 {
        self.items
            .iter()
            .filter_map(|i| i.agent.as_ref())
            .fold(0, |acc, a| acc | a.agent_type as u8)
    }

    /// Checks what a fiscal module would refuse, with a message saying which field is wrong.
    pub fn validate(&self) -> Result<(), FiscalError> {
        let bad = |m: String| Err(FiscalError::InvalidDocument(m));
        if !is_inn(&self.seller.inn) {
            return bad(format!(
                "seller INN {:?} is not 10 or 12 digits",
                self.seller.inn
            ));
        }
        if self.seller.machine_number.is_empty() || self.seller.machine_number.chars().count() > 20
        {
            return bad("machine number (1036) must have 1..=20 characters".into());
        }
        if self.items.is_empty() {
            return bad("a receipt needs at least one item".into());
        }
        for (n, item) in self.items.iter().enumerate() {
            let len = item.name.chars().count();
            if len == 0 || len > 128 {
                return bad(format!("item {} name must have 1..=128 characters", n + 1));
            }
            if item.price <= 0 || item.quantity_milli <= 0 {
                return bad(format!(
                    "item {} price and quantity must be positive",
                    n + 1
                ));
            }
            if let Some(agent) = &item.agent {
                if !is_inn(&agent.supplier.inn) {
                    return bad(format!(
                        "item {} supplier INN is not 10 or 12 digits",
                        n + 1
                    ));
                }
            }
        }
        if self.payments.cash < 0 || self.payments.electronic < 0 {
            return bad("payments must not be negative".into());
        }
        if self.payments.total() != self.total() {
            return bad(format!(
                "payments {} do not equal the total {}",
                self.payments.total(),
                self.total()
            ));
        }
        Ok(())
    }

    /// The receipt as FFD 1.2 TLV (tags in document order), including the attributes the
    /// module assigns except the fiscal sign, which is computed over these bytes.
    pub fn to_tlv(&self, fn_number: &str, fd_number: u32, time: NaiveDateTime) -> Vec<u8> {
        let mut w = TlvWriter::new();
        w.put(Tlv::string(1048, &self.seller.name));
        w.put(Tlv::string(1018, &self.seller.inn));
        w.put(Tlv::string(1009, &self.seller.address));
        w.put(Tlv::string(1187, &self.seller.place));
        w.put(Tlv::string(1036, &self.seller.machine_number));
        w.put(Tlv::string(1037, &self.seller.kkt_reg_number));
        w.put(Tlv::byte(1001, 1));
        w.put(Tlv::byte(1209, 4));
        w.put(Tlv::string(1041, fn_number));
        w.put(Tlv::u32(1040, fd_number));
        w.put(Tlv::unix_time(1012, time));
        w.put(Tlv::byte(1054, self.settlement as u8));
        w.put(Tlv::byte(1055, self.seller.tax_system as u8));
        let agent = self.agent_flags();
        if agent != 0 {
            w.put(Tlv::byte(1057, agent));
        }
        for item in &self.items {
            let mut s = TlvWriter::new();
            s.put(Tlv::string(1030, &item.name));
            s.put(Tlv::vln(1079, item.price));
            s.put(Tlv::fvln(1023, item.quantity_milli, 3));
            s.put(Tlv::byte(1199, item.vat as u8));
            s.put(Tlv::byte(1212, item.subject as u8));
            s.put(Tlv::byte(1214, item.method as u8));
            s.put(Tlv::vln(1043, item.amount()));
            if let Some(agent) = &item.agent {
                s.put(Tlv::byte(1222, agent.agent_type as u8));
                let mut sup = TlvWriter::new();
                sup.put(Tlv::string(1225, &agent.supplier.name));
                if let Some(phone) = &agent.supplier.phone {
                    sup.put(Tlv::string(1171, phone));
                }
                s.put(Tlv::stlv(1224, sup.finish()));
                s.put(Tlv::string(1226, &agent.supplier.inn));
            }
            w.put(Tlv::stlv(1059, s.finish()));
        }
        w.put(Tlv::vln(1020, self.total()));
        w.put(Tlv::vln(1031, self.payments.cash));
        w.put(Tlv::vln(1081, self.payments.electronic));
        w.put(Tlv::vln(1215, 0));
        w.put(Tlv::vln(1216, 0));
        w.put(Tlv::vln(1217, 0));
        if let Some(contact) = &self.buyer_contact {
            w.put(Tlv::string(1008, contact));
        }
        w.put(Tlv::string(1060, FNS_SITE));
        w.finish()
    }
}

fn is_inn(inn: &str) -> bool {
    (inn.len() == 10 || inn.len() == 12) && inn.bytes().all(|b| b.is_ascii_digit())
}

/// The 54-FZ QR string: `t=20190418T211655&s=3943.26&fn=…&i=…&fp=…&n=1`.
pub fn qr_string(document: &FiscalDocument, fiscal: &FiscalResult) -> String {
    format!(
        "t={}&s={}&fn={}&i={}&fp={}&n={}",
        fiscal.time.format("%Y%m%dT%H%M%S"),
        qr_amount(document.total()),
        fiscal.fn_number,
        fiscal.fd_number,
        fiscal.fiscal_sign_text(),
        document.settlement as u8
    )
}

/// Kopecks as the decimal roubles the 54-FZ QR string uses: `1500.00`.
fn qr_amount(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let abs = kopecks.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_amount_is_decimal_roubles() {
        assert_eq!(qr_amount(394_326), "3943.26");
        assert_eq!(qr_amount(5), "0.05");
    }

    #[test]
    fn vat_included_is_rounded_half_up() {
        assert_eq!(VatRate::Vat20.vat_of(150_000), Some(25_000));
        assert_eq!(VatRate::Vat20.vat_of(100), Some(17)); // 16.67
        assert_eq!(VatRate::NoVat.vat_of(100), None);
        assert_eq!(VatRate::Vat0.vat_of(100), Some(0));
    }

    #[test]
    fn item_amount_uses_thousandths() {
        let mut item = Item::service("x", 1001, VatRate::NoVat);
        assert_eq!(item.amount(), 1001);
        item.quantity_milli = 1500;
        assert_eq!(item.amount(), 1502); // 1501.5 rounds up
    }
}
