//! Renders a reconciliation [`Report`] as CSV (one table per section) or one XLSX workbook (one
//! sheet per section, with column widths, real date cells and a totals row). Money is shown in
//! roubles with two decimals. CSV comes in two [`Dialect`]s: standard (RFC 4180, `,` and a
//! decimal point, for programs) and the one a Russian Excel opens by double-click (`;`, a decimal
//! comma, UTF-8 BOM); [`in_dialect`] turns any standard CSV of this crate into the latter.

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook, Worksheet, XlsxError};

use crate::reconcile::Report;

/// A report section's name as used in file names and URLs.
pub const SECTIONS: &[&str] = &[
    "days",
    "encashments",
    "card",
    "fd_gaps",
    "shifts",
    "unprinted",
    "uncredited",
    "stuck_notes",
];

/// A CSV dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// RFC 4180: `,` between fields, `.` in amounts, no BOM.
    #[default]
    Standard,
    /// Russian Excel: `;` between fields, `,` in amounts, UTF-8 BOM so Cyrillic reads right.
    ExcelRu,
}

impl Dialect {
    /// `standard` or `excel-ru` (as in `?dialect=` and `--dialect`).
    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "standard" => Some(Dialect::Standard),
            "excel-ru" => Some(Dialect::ExcelRu),
            _ => None,
        }
    }
}

/// Rewrites a standard CSV (header row first) in `dialect`: amounts — the columns whose header
/// ends in `_rub` — get a decimal comma in the Russian-Excel dialect.
pub fn in_dialect(standard: &[u8], dialect: Dialect) -> Vec<u8> {
    if dialect == Dialect::Standard {
        return standard.to_vec();
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(standard);
    let mut out = "\u{feff}".as_bytes().to_vec();
    let mut w = csv::WriterBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_writer(&mut out);
    let mut money: Vec<bool> = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        // Our own CSV always parses; a broken line is skipped rather than half written.
        let Ok(rec) = rec else { continue };
        if i == 0 {
            money = rec.iter().map(|h| h.ends_with("_rub")).collect();
            let _ = w.write_record(&rec);
            continue;
        }
        let _ = w.write_record(rec.iter().enumerate().map(|(c, f)| {
            if money.get(c).copied().unwrap_or(false) {
                f.replace('.', ",")
            } else {
                f.to_string()
            }
        }));
    }
    let _ = w.flush();
    drop(w);
    out
}

/// A table cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    /// A number that identifies (sequence, receipt or document number): never totalled.
    Int(i64),
    /// A count of things: totalled.
    Count(i64),
    /// Kopecks, shown as roubles: totalled.
    Money(i64),
    /// A business day, `YYYY-MM-DD`: a date cell in XLSX.
    Date(String),
    /// An RFC 3339 UTC time: a date-time cell in XLSX.
    Time(String),
}

pub fn rubles(k: i64) -> String {
    let sign = if k < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (k / 100).abs(), (k % 100).abs())
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(t) | Cell::Date(t) | Cell::Time(t) => t.clone(),
            Cell::Int(i) | Cell::Count(i) => i.to_string(),
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
                        Cell::Date(d.day.clone()),
                        Cell::Count(d.cash_payments),
                        Cell::Money(d.cash_kopecks),
                        Cell::Count(d.card_payments),
                        Cell::Money(d.card_kopecks),
                        Cell::Count(d.bills.values().sum()),
                        Cell::Money(d.bills_kopecks),
                        Cell::Text(by_denom),
                        Cell::Money(d.cash_variance_kopecks),
                        Cell::Money(d.card_ops_kopecks),
                        Cell::Money(d.settled_kopecks),
                        Cell::Money(d.card_variance_kopecks),
                        Cell::Count(d.receipts),
                        Cell::Money(d.receipts_kopecks),
                        Cell::Count(d.unprinted_receipts),
                        Cell::Count(d.uncredited_payments),
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
                        Cell::Time(e.counted_utc.clone()),
                        Cell::Int(e.from_seq),
                        Cell::Int(e.to_seq),
                        Cell::Money(e.denomination_kopecks),
                        Cell::Count(e.expected_count),
                        Cell::Count(e.counted_count),
                        Cell::Count(e.variance_count),
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
                        Cell::Date(c.day.clone()),
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
                        Cell::Date(g.day.clone()),
                    ]
                })
                .collect(),
        ),
        "shifts" => (
            vec![
                "terminal_id",
                "fn_number",
                "shift_number",
                "day",
                "matches",
                "z_receipts",
                "journal_receipts",
                "z_total_rub",
                "journal_total_rub",
                "z_cash_rub",
                "journal_cash_rub",
                "z_card_rub",
                "journal_card_rub",
            ],
            report
                .shifts
                .iter()
                .map(|c| {
                    vec![
                        t(&c.terminal_id),
                        t(&c.fn_number),
                        Cell::Int(c.shift_number),
                        Cell::Date(c.day.clone()),
                        t(if c.matches { "да" } else { "НЕТ" }),
                        Cell::Count(c.z_receipts),
                        Cell::Count(c.journal_receipts),
                        Cell::Money(c.z_total_kopecks),
                        Cell::Money(c.journal_total_kopecks),
                        Cell::Money(c.z_cash_kopecks),
                        Cell::Money(c.journal_cash_kopecks),
                        Cell::Money(c.z_card_kopecks),
                        Cell::Money(c.journal_card_kopecks),
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
                        Cell::Date(u.day.clone()),
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
                        Cell::Date(u.day.clone()),
                        t(&u.account),
                        t(&u.method),
                        Cell::Money(u.total_kopecks),
                    ]
                })
                .collect(),
        ),
        "stuck_notes" => stuck_notes_section(report),
        _ => return None,
    })
}

fn opt(s: &Option<String>) -> Cell {
    Cell::Text(s.clone().unwrap_or_default())
}

fn stuck_notes_section(report: &Report) -> (Vec<&'static str>, Vec<Vec<Cell>>) {
    (
        vec![
            "terminal_id",
            "reference",
            "stuck_utc",
            "day",
            "account",
            "denomination_rub",
            "reason",
            "payment_id",
            "age_minutes",
            "state",
            "resolved_utc",
            "resolution_payment_id",
        ],
        report
            .stuck_notes
            .iter()
            .map(|n| {
                vec![
                    t(&n.terminal_id),
                    t(&n.reference),
                    Cell::Time(n.stuck_utc.clone()),
                    Cell::Date(n.day.clone()),
                    t(&n.account),
                    Cell::Money(n.denomination_kopecks),
                    t(&n.reason),
                    opt(&n.payment_id),
                    Cell::Int(n.age_minutes),
                    t(n.outcome.as_deref().unwrap_or("open")),
                    n.resolved_utc.clone().map_or_else(|| t(""), Cell::Time),
                    opt(&n.resolution_payment_id),
                ]
            })
            .collect(),
    )
}

/// One section as CSV bytes in `dialect`.
pub fn csv_section(report: &Report, name: &str, dialect: Dialect) -> Option<Vec<u8>> {
    let (headers, rows) = section(report, name)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(&headers);
    for r in rows {
        let _ = w.write_record(r.iter().map(Cell::text));
    }
    w.into_inner().ok().map(|b| in_dialect(&b, dialect))
}

/// The sheet name of a section in the workbook.
fn sheet_title(name: &str) -> &'static str {
    match name {
        "days" => "По дням",
        "encashments" => "Инкассации",
        "card" => "Карты",
        "fd_gaps" => "Пропуски ФД",
        "shifts" => "Смены ККТ",
        "unprinted" => "Не напечатаны",
        "stuck_notes" => "Застрявшие купюры",
        _ => "Не зачислены",
    }
}

fn excel_date(day: &str) -> Option<ExcelDateTime> {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    use chrono::Datelike;
    ExcelDateTime::from_ymd(
        u16::try_from(d.year()).ok()?,
        d.month() as u8,
        d.day() as u8,
    )
    .ok()
}

fn excel_time(t: &str) -> Option<ExcelDateTime> {
    let t = chrono::DateTime::parse_from_rfc3339(t).ok()?.naive_utc();
    use chrono::Timelike;
    excel_date(&t.date().to_string())?
        .and_hms(t.hour() as u16, t.minute() as u8, f64::from(t.second()))
        .ok()
}

/// The formats of a sheet.
struct Formats {
    bold: Format,
    money: Format,
    date: Format,
    time: Format,
    total_money: Format,
}

fn write_cell(
    ws: &mut Worksheet,
    r: u32,
    c: u16,
    cell: &Cell,
    f: &Formats,
) -> Result<(), XlsxError> {
    match cell {
        Cell::Text(s) => ws.write_string(r, c, s)?,
        Cell::Int(i) | Cell::Count(i) => ws.write_number(r, c, *i as f64)?,
        Cell::Money(k) => ws.write_number_with_format(r, c, *k as f64 / 100.0, &f.money)?,
        Cell::Date(d) => match excel_date(d) {
            Some(x) => ws.write_datetime_with_format(r, c, &x, &f.date)?,
            None => ws.write_string(r, c, d)?,
        },
        Cell::Time(t) => match excel_time(t) {
            Some(x) => ws.write_datetime_with_format(r, c, &x, &f.time)?,
            None => ws.write_string(r, c, t)?,
        },
    };
    Ok(())
}

/// The column's letters, `A`…`Z`, `AA`….
fn column_name(mut c: u16) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// A totals row under the data: `Итого`, and a SUM (with its value cached) under each count and
/// money column.
fn write_totals(ws: &mut Worksheet, rows: &[Vec<Cell>], f: &Formats) -> Result<(), XlsxError> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let r = rows.len() as u32 + 1;
    ws.write_string_with_format(r, 0, "Итого", &f.bold)?;
    for (c, sample) in first.iter().enumerate() {
        let (fmt, shown) = match sample {
            Cell::Count(_) => {
                let s: i64 = rows
                    .iter()
                    .map(|row| match row.get(c) {
                        Some(Cell::Count(v)) => *v,
                        _ => 0,
                    })
                    .sum();
                (&f.bold, s.to_string())
            }
            Cell::Money(_) => {
                let s: i64 = rows
                    .iter()
                    .map(|row| match row.get(c) {
                        Some(Cell::Money(v)) => *v,
                        _ => 0,
                    })
                    .sum();
                (&f.total_money, rubles(s))
            }
            _ => continue,
        };
        let col = column_name(c as u16);
        let formula = Formula::new(format!("=SUM({col}2:{col}{r})")).set_result(shown);
        ws.write_formula_with_format(r, c as u16, formula, fmt)?;
    }
    Ok(())
}

/// Column widths from the longest text in each column (header included), within bounds.
fn set_widths(ws: &mut Worksheet, headers: &[&str], rows: &[Vec<Cell>]) -> Result<(), XlsxError> {
    for (c, h) in headers.iter().enumerate() {
        let longest = rows
            .iter()
            .filter_map(|row| row.get(c))
            .map(|cell| match cell {
                Cell::Date(_) => 10,
                Cell::Time(_) => 19,
                other => other.text().chars().count(),
            })
            .chain([h.chars().count()])
            .max()
            .unwrap_or(8);
        ws.set_column_width(c as u16, (longest.clamp(8, 60) + 2) as f64)?;
    }
    Ok(())
}

/// The whole report as an XLSX workbook.
pub fn xlsx(report: &Report) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let f = Formats {
        bold: Format::new().set_bold(),
        money: Format::new().set_num_format("#,##0.00"),
        date: Format::new().set_num_format("dd.mm.yyyy"),
        time: Format::new().set_num_format("dd.mm.yyyy hh:mm:ss"),
        total_money: Format::new().set_bold().set_num_format("#,##0.00"),
    };
    for name in SECTIONS {
        let Some((headers, rows)) = section(report, name) else {
            continue;
        };
        let ws = wb.add_worksheet();
        ws.set_name(sheet_title(name))?;
        for (c, h) in headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &f.bold)?;
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                write_cell(ws, r as u32 + 1, c as u16, cell, &f)?;
            }
        }
        write_totals(ws, &rows, &f)?;
        set_widths(ws, &headers, &rows)?;
        ws.set_freeze_panes(1, 0)?;
    }
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_russian_excel_dialect_has_a_bom_semicolons_and_decimal_commas() {
        let std_csv = b"terminal_id,day,total_rub,value\nT-1,2026-11-20,1500.00,12.5\n\"a;b\",2026-11-21,-0.05,3\n";
        let out = String::from_utf8(in_dialect(std_csv, Dialect::ExcelRu)).unwrap();
        assert_eq!(
            out,
            "\u{feff}terminal_id;day;total_rub;value\nT-1;2026-11-20;1500,00;12.5\n\"a;b\";2026-11-21;-0,05;3\n"
        );
        assert_eq!(in_dialect(std_csv, Dialect::Standard), std_csv.to_vec());
        assert_eq!(Dialect::parse("excel-ru"), Some(Dialect::ExcelRu));
        assert_eq!(Dialect::parse("excel"), None);
    }

    #[test]
    fn columns_are_named_like_excel() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
    }

    #[test]
    fn money_is_exact_roubles() {
        assert_eq!(rubles(150_000), "1500.00");
        assert_eq!(rubles(-5), "-0.05");
        assert_eq!(rubles(-105), "-1.05");
    }
}
