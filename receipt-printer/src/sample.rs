//! A sample payment used by tests, benchmarks, the `sample` command and documentation: the
//! fiscal part comes from `fiscal_register::sample`, the printed header and footer from here.

pub use fiscal_register::sample::{document, seller, time};

/// Header and footer lines the kiosk prints around a fiscal receipt.
pub fn header() -> Vec<String> {
    vec!["Спасибо за оплату!".into()]
}

pub fn footer() -> Vec<String> {
    vec![
        "Чек можно получить по QR-коду на сайте ФНС".into(),
        "Горячая линия: 8-800-000-00-00".into(),
    ]
}
