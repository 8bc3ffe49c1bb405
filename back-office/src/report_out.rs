//! Renders a reconciliation [`Report`] as CSV (one table per section) or one XLSX workbook (one
//! sheet per section). Money is shown in roubles with two decimals.

use rust_xlsxwriter::{Format, Workbook};

use crate::reconcile::Report;

/// A report section's name as used in file names and URLs.
pub const SECTIONS: &[&str] = &[
    "days",
    "encashments",
    "card",
    "fd_gaps",
    "unprinted",
    "uncredited",
];

/// A table cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// Kopecks, shown as roubles.
    Money(i64),
}

pub fn rubles(k: i64) -> String {
    let sign = if k < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (k / 100).abs(), (k % 100).abs())
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Money(k) => rubles(*k),
        }
    }
}

fn t(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// Headers and rows of one section; `None` for an unknown section name.
pub fn section(report: &Report, name: &str) -> Option<(Vec<&'static str>, Vec<Vec<Cell>>)> {
    Some(match name {
        "days" => (
            vec![
                "terminal_id",
                "day",
                "cash_payments",
                "cash_rub",
                "card_payments",
                "card_rub",
                "bills",
                "bills_rub",
                "bills_by_denomination",
                "cash_variance_rub",
                "card_ops_rub",
                "settled_rub",
                "card_variance_rub",
                "receipts",
                "receipts_rub",
                "unprinted_receipts",
                "uncredited_payments",
                "uncredited_rub",
            ],
            report
                .days
                .iter()
                .map(|d| {
                    let by_denom = d
                        .bills
                        .iter()
                        .map(|(k, n)| format!("{}x{}", k / 100, n))
                        .collect::<Vec<_>>()
                        .join(" ");
                    vec![
                        t(&d.terminal_id),
                        t(&d.day),
                        Cell::Int(d.cash_payments),
                        Cell::Money(d.cash_kopecks),
                        Cell::Int(d.card_payments),
                        Cell::Money(d.card_kopecks),
                        Cell::Int(d.bills.values().sum()),
                        Cell::Money(d.bills_kopecks),
                        Cell::Text(by_denom),
                        Cell::Money(d.cash_variance_kopecks),
                        Cell::Money(d.card_ops_kopecks),
                        Cell::Money(d.settled_kopecks),
                        Cell::Money(d.card_variance_kopecks),
                        Cell::Int(d.receipts),
                        Cell::Money(d.receipts_kopecks),
                        Cell::Int(d.unprinted_receipts),
                        Cell::Int(d.uncredited_payments),
                        Cell::Money(d.uncredited_kopecks),
                    ]
                })
                .collect(),
        ),
        "encashments" => (
            vec![
                "terminal_id",
                "encashment_id",
                "counted_utc",
                "from_seq",
                "to_seq",
                "denomination_rub",
                "expected_count",
                "counted_count",
                "variance_count",
                "variance_rub",
            ],
            report
                .encashments
                .iter()
                .map(|e| {
                    vec![
                        t(&e.terminal_id),
                        t(&e.encashment_id),
                        t(&e.counted_utc),
                        Cell::Int(e.from_seq),
                        Cell::Int(e.to_seq),
                        Cell::Money(e.denomination_kopecks),
                        Cell::Int(e.expected_count),
                        Cell::Int(e.counted_count),
                        Cell::Int(e.variance_count),
                        Cell::Money(e.variance_kopecks),
                    ]
                })
                .collect(),
        ),
        "card" => (
            vec![
                "problem",
                "terminal_id",
                "payment_id",
                "day",
                "card_terminal_id",
                "receipt_no",
                "expected_rub",
                "settled_rub",
            ],
            report
                .card_mismatches
                .iter()
                .map(|c| {
                    vec![
                        t(&c.problem),
                        t(c.terminal_id.as_deref().unwrap_or("")),
                        t(c.payment_id.as_deref().unwrap_or("")),
                        t(&c.day),
                        t(&c.card_terminal_id),
                        Cell::Int(c.receipt_no),
                        Cell::Money(c.expected_kopecks),
                        Cell::Money(c.settled_kopecks),
                    ]
                })
                .collect(),
        ),
        "fd_gaps" => (
            vec![
                "terminal_id",
                "fn_number",
                "missing_from",
                "missing_to",
                "day",
            ],
            report
                .fd_gaps
                .iter()
                .map(|g| {
                    vec![
                        t(&g.terminal_id),
                        t(&g.fn_number),
                        Cell::Int(g.missing_from),
                        Cell::Int(g.missing_to),
                        t(&g.day),
                    ]
                })
                .collect(),
        ),
        "unprinted" => (
            vec![
                "terminal_id",
                "receipt_id",
                "day",
                "fd_number",
                "total_rub",
                "problem",
            ],
            report
                .unprinted
                .iter()
                .map(|u| {
                    vec![
                        t(&u.terminal_id),
                        t(&u.receipt_id),
                        t(&u.day),
                        Cell::Int(u.fd_number),
                        Cell::Money(u.total_kopecks),
                        t(&u.problem),
                    ]
                })
                .collect(),
        ),
        "uncredited" => (
            vec![
                "terminal_id",
                "payment_id",
                "day",
                "account",
                "method",
                "total_rub",
            ],
            report
                .uncredited
                .iter()
                .map(|u| {
                    vec![
                        t(&u.terminal_id),
                        t(&u.payment_id),
                        t(&u.day),
                        t(&u.account),
                        t(&u.method),
                        Cell::Money(u.total_kopecks),
                    ]
                })
                .collect(),
        ),
        _ => return None,
    })
}

/// One section as CSV bytes.
pub fn csv_section(report: &Report, name: &str) -> Option<Vec<u8>> {
    let (headers, rows) = section(report, name)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(&headers);
    for r in rows {
        let _ = w.write_record(r.iter().map(Cell::text));
    }
    w.into_inner().ok()
}

/// The whole report as an XLSX workbook.
pub fn xlsx(report: &Report) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    for name in SECTIONS {
        let Some((headers, rows)) = section(report, name) else {
            continue;
        };
        let ws = wb.add_worksheet();
        ws.set_name(*name)?;
        for (c, h) in headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)?;
        }
        for (r, row) in rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(s) => ws.write_string(r, c, s)?,
                    Cell::Int(i) => ws.write_number(r, c, *i as f64)?,
                    Cell::Money(k) => {
                        ws.write_number_with_format(r, c, *k as f64 / 100.0, &money)?
                    }
                };
            }
        }
        ws.set_freeze_panes(1, 0)?;
    }
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_roubles() {
        assert_eq!(rubles(150_000), "1500.00");
        assert_eq!(rubles(-5), "-0.05");
        assert_eq!(rubles(-105), "-1.05");
    }
}
