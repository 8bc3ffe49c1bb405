//! Import of the acquirer's settlement file (CSV) for card reconciliation.
//!
//! Format (UTF-8, comma-separated, header row required, column order free, extra columns ignored):
//!
//! | column | meaning |
//! |---|---|
//! | `date` | settlement day `YYYY-MM-DD` |
//! | `card_terminal_id` | the card terminal's id (ZVT BMP 29, as in the kiosk's `CardApproved`) |
//! | `receipt_no` | the card terminal's receipt number (ZVT BMP 87) |
//! | `operation` | `sale` or `reversal` (`refund` is read as `reversal`) |
//! | `amount` | roubles with two decimals, `.` or `,` as separator, e.g. `1500.00` |
//! | `rrn`, `masked_pan`, `auth_code` | optional, kept for the report |
//!
//! Importing the same line twice changes nothing (key: terminal, receipt, day, operation).

use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// One settlement line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementLine {
    pub day: String,
    pub card_terminal_id: String,
    pub receipt_no: u32,
    pub operation: String,
    pub amount_kopecks: i64,
    pub rrn: Option<String>,
    pub masked_pan: Option<String>,
    pub auth_code: Option<String>,
}

/// Why a settlement file was refused (nothing is imported from a bad file).
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    #[error("settlement file: missing column {0:?}")]
    MissingColumn(&'static str),
    #[error("settlement file line {line}: {reason}")]
    BadLine { line: u64, reason: String },
    #[error("settlement file: {0}")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a decimal rouble amount into kopecks without floating point.
pub fn parse_rubles(text: &str) -> Option<i64> {
    let t = text.trim().replace(',', ".");
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, t),
    };
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t.as_str(), ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 12 {
        return None;
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac = format!("{frac:0<2}");
    let k = whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?;
    Some(if neg { -k } else { k })
}

fn valid_day(d: &str) -> bool {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok()
}

/// Parses a whole file; any bad line refuses the file with its line number.
pub fn parse(data: &[u8]) -> Result<Vec<SettlementLine>, SettlementError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(data);
    let headers = rdr.headers()?.clone();
    let col = |name: &'static str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let need = |name: &'static str| col(name).ok_or(SettlementError::MissingColumn(name));
    let (c_day, c_term, c_rec, c_op, c_amt) = (
        need("date")?,
        need("card_terminal_id")?,
        need("receipt_no")?,
        need("operation")?,
        need("amount")?,
    );
    let (c_rrn, c_pan, c_auth) = (col("rrn"), col("masked_pan"), col("auth_code"));
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec?;
        let get = |c: usize| rec.get(c).unwrap_or("").to_string();
        let opt = |c: Option<usize>| c.map(get).filter(|s| !s.is_empty());
        let bad = |reason: String| SettlementError::BadLine { line, reason };
        let day = get(c_day);
        if !valid_day(&day) {
            return Err(bad(format!("date {day:?} is not YYYY-MM-DD")));
        }
        let card_terminal_id = get(c_term);
        if card_terminal_id.is_empty() {
            return Err(bad("empty card_terminal_id".into()));
        }
        let receipt_no = get(c_rec)
            .parse::<u32>()
            .map_err(|_| bad(format!("receipt_no {:?} is not a number", get(c_rec))))?;
        let operation = match get(c_op).to_ascii_lowercase().as_str() {
            "sale" => "sale".to_string(),
            "reversal" | "refund" => "reversal".to_string(),
            other => return Err(bad(format!("operation {other:?} is not sale or reversal"))),
        };
        let amount_kopecks = parse_rubles(&get(c_amt))
            .filter(|k| *k >= 0)
            .ok_or_else(|| bad(format!("amount {:?} is not roubles.kopecks", get(c_amt))))?;
        out.push(SettlementLine {
            day,
            card_terminal_id,
            receipt_no,
            operation,
            amount_kopecks,
            rrn: opt(c_rrn),
            masked_pan: opt(c_pan),
            auth_code: opt(c_auth),
        });
    }
    Ok(out)
}

/// Stores lines; returns how many were new.
pub fn import(sql: &mut dyn Sql, lines: &[SettlementLine], now: &str) -> Result<u64, StoreError> {
    crate::db::transaction(sql, |sql| {
        let mut n = 0;
        for l in lines {
            let prev = crate::project::shift_day(&l.day, -1);
            let new = sql.exec(
                "INSERT INTO settlement (card_terminal_id, receipt_no, day, operation, amount_kopecks, rrn, masked_pan, auth_code, imported_utc, day_prev)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                params![&l.card_terminal_id, l.receipt_no, &l.day, &l.operation, l.amount_kopecks,
                    l.rrn.clone(), l.masked_pan.clone(), l.auth_code.clone(), now, &prev],
            )?;
            if new > 0 {
                rematch(
                    sql,
                    Some((&l.card_terminal_id, i64::from(l.receipt_no), &prev, &l.day)),
                )?;
            }
            n += new;
        }
        Ok(n)
    })
}

/// Net settled amount of each card operation, counted only for the kiosk that owns the card
/// terminal ([`crate::card_terminals`]); another kiosk's operation stays unsettled.
const SET_NET: &str = "UPDATE card_ops SET settled_net = CASE WHEN EXISTS (
        SELECT 1 FROM card_terminals ct WHERE ct.card_terminal_id = card_ops.card_terminal_id AND ct.terminal_id = card_ops.terminal_id)
    THEN (
        SELECT CAST(SUM(CASE WHEN s.operation = 'sale' THEN s.amount_kopecks ELSE -s.amount_kopecks END) AS BIGINT)
        FROM settlement s WHERE s.card_terminal_id = card_ops.card_terminal_id AND s.receipt_no = card_ops.receipt_no
          AND s.day >= card_ops.day AND s.day <= card_ops.settle_until)
    ELSE NULL END";
/// Whether an owner's card operation explains each settlement line.
const SET_MATCHED: &str = "UPDATE settlement SET matched = CASE WHEN EXISTS (
        SELECT 1 FROM card_ops c JOIN card_terminals ct ON ct.card_terminal_id = c.card_terminal_id AND ct.terminal_id = c.terminal_id
        WHERE c.card_terminal_id = settlement.card_terminal_id AND c.receipt_no = settlement.receipt_no
          AND c.day >= settlement.day_prev AND c.day <= settlement.day) THEN 1 ELSE 0 END";

/// Recomputes every match of one card terminal (after its owner changed).
pub fn rematch_card_terminal(sql: &mut dyn Sql, card_terminal_id: &str) -> Result<(), StoreError> {
    sql.exec(
        &format!("{SET_NET} WHERE card_terminal_id = $1"),
        params![card_terminal_id],
    )?;
    sql.exec(
        &format!("{SET_MATCHED} WHERE card_terminal_id = $1"),
        params![card_terminal_id],
    )?;
    Ok(())
}

/// Matches card operations and settlement lines by (card terminal, receipt number), a line
/// settling an operation of its own day or the day before. Stores on each operation the net
/// settled amount (sales minus reversals) and on each line whether an operation explains it, so
/// reconciliation only reads. `key` = (card terminal, receipt, first and last operation day)
/// limits the work to one receipt; `None` rematches everything.
pub fn rematch(sql: &mut dyn Sql, key: Option<(&str, i64, &str, &str)>) -> Result<(), StoreError> {
    let (set_net, set_matched) = (SET_NET, SET_MATCHED);
    match key {
        Some((term, receipt, first_day, last_day)) => {
            sql.exec_deferred(
                &format!("{set_net} WHERE card_terminal_id = $1 AND receipt_no = $2 AND day >= $3 AND day <= $4"),
                params![term, receipt, first_day, last_day],
            )?;
            sql.exec_deferred(
                &format!("{set_matched} WHERE card_terminal_id = $1 AND receipt_no = $2"),
                params![term, receipt],
            )?;
        }
        None => {
            sql.exec(set_net, &[])?;
            sql.exec(set_matched, &[])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rubles_parse_exactly() {
        assert_eq!(parse_rubles("1500.00"), Some(150_000));
        assert_eq!(parse_rubles("0,5"), Some(50));
        assert_eq!(parse_rubles("12"), Some(1200));
        assert_eq!(parse_rubles("-3.01"), Some(-301));
        assert_eq!(parse_rubles("1.001"), None);
        assert_eq!(parse_rubles("1e3"), None);
        assert_eq!(parse_rubles(""), None);
    }

    #[test]
    fn a_file_parses_and_a_bad_line_is_named() {
        let ok = "date,card_terminal_id,receipt_no,operation,amount,rrn\n2026-11-27,T100,17,sale,1500.00,123\n2026-11-27,T100,18,refund,\"1,50\",\n";
        let lines = parse(ok.as_bytes()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].operation, "reversal");
        assert_eq!(lines[1].amount_kopecks, 150);
        assert_eq!(lines[1].rrn, None);
        let bad = "date,card_terminal_id,receipt_no,operation,amount\n2026-11-27,T100,x,sale,1\n";
        match parse(bad.as_bytes()) {
            Err(SettlementError::BadLine { line: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(b"date,amount\n"),
            Err(SettlementError::MissingColumn("card_terminal_id"))
        ));
    }
}
