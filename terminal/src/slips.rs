//! Paper the service desk prints, laid out for the receipt printer.

use std::collections::BTreeMap;

use receipt_printer::{format_rub, BodyLine, Receipt, ReceiptKind};

use crate::service::EncashmentSlip;

/// The encashment receipt: expected and counted per denomination, totals and the difference.
pub fn encashment(slip: &EncashmentSlip) -> Receipt {
    let EncashmentSlip {
        encashment_id,
        terminal_id,
        expected,
        counted,
        time,
    } = slip;
    let mut receipt = Receipt::new(ReceiptKind::Encashment, *time);
    let total = |m: &BTreeMap<i64, u32>| -> i64 { m.iter().map(|(d, n)| d * i64::from(*n)).sum() };
    receipt
        .body
        .push(BodyLine::Pair("Терминал".into(), terminal_id.clone()));
    receipt
        .body
        .push(BodyLine::Pair("Инкассация №".into(), encashment_id.clone()));
    receipt.body.push(BodyLine::Separator);
    let mut denominations: Vec<i64> = expected.keys().chain(counted.keys()).copied().collect();
    denominations.sort_unstable();
    denominations.dedup();
    for d in denominations {
        let e = expected.get(&d).copied().unwrap_or_default();
        let c = counted.get(&d).copied().unwrap_or_default();
        receipt.body.push(BodyLine::Pair(
            format!("{} × шт.", format_rub(d)),
            format!("ожид. {e} / факт {c}"),
        ));
    }
    receipt.body.push(BodyLine::Separator);
    let (e, c) = (total(expected), total(counted));
    receipt
        .body
        .push(BodyLine::Pair("Ожидалось".into(), format_rub(e)));
    receipt
        .body
        .push(BodyLine::Pair("Пересчитано".into(), format_rub(c)));
    receipt
        .body
        .push(BodyLine::Pair("Расхождение".into(), format_rub(c - e)));
    receipt.body.push(BodyLine::Separator);
    receipt
        .body
        .push(BodyLine::Text("Подпись техника ______________".into()));
    receipt
}
