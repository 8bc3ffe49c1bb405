//! A sample payment used by tests, benchmarks, the emulators and documentation (fictitious
//! data in valid shapes).

use chrono::{NaiveDate, NaiveDateTime};

use crate::document::{
    AgentData, AgentType, FiscalDocument, Item, Payments, Seller, SettlementType, Supplier,
    TaxSystem, VatRate,
};

/// The seller of the sample receipts.
pub fn seller() -> Seller {
    Seller {
        inn: "7701234567".into(),
        name: "АО \"Энергосбыт\"".into(),
        address: "г. Москва, ул. Ленина, д. 1".into(),
        place: "Терминал самообслуживания, ЦОК \"Центральный\"".into(),
        tax_system: TaxSystem::General,
        machine_number: "00012345".into(),
        kkt_reg_number: "0000000001012345".into(),
    }
}

/// A payment for electricity plus a service collected for another supplier, in cash and card.
pub fn document() -> FiscalDocument {
    let mut water = Item::service(
        "Холодное водоснабжение, л/с 1234567890, ноябрь 2026",
        45_050,
        VatRate::Vat22_122,
    );
    water.agent = Some(AgentData {
        agent_type: AgentType::PaymentAgent,
        supplier: Supplier {
            name: "МУП \"Водоканал\"".into(),
            inn: "7709876543".into(),
            phone: Some("+74951234567".into()),
        },
    });
    FiscalDocument {
        settlement: SettlementType::Income,
        seller: seller(),
        items: vec![
            Item::service(
                "Электроснабжение по договору энергоснабжения жилого дома №12",
                150_000,
                VatRate::Vat22_122,
            ),
            water,
        ],
        payments: Payments {
            cash: 100_000,
            electronic: 95_050,
        },
        buyer_contact: None,
    }
}

/// The typical kiosk sale: one service, paid in cash.
pub fn cash_sale(kopecks: i64) -> FiscalDocument {
    FiscalDocument {
        settlement: SettlementType::Income,
        seller: seller(),
        items: vec![Item::service(
            "Электроэнергия, л/с 1234567890",
            kopecks,
            VatRate::Vat22_122,
        )],
        payments: Payments {
            cash: kopecks,
            electronic: 0,
        },
        buyer_contact: None,
    }
}

/// The time the sample receipt is registered at.
pub fn time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 27)
        .and_then(|d| d.and_hms_opt(14, 5, 33))
        .unwrap_or_default()
}
