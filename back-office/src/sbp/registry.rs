//! The bank's daily registry of СБП operations against the journal. The registry (CSV, header
//! required, any column order: `date,time_utc,operation,payment_id,order_id,amount`, optional
//! `description`; the bank emulator's format) is stored in `sbp_registry`; each payment of the
//! chosen days is then named: `paid_and_credited` (ok), `refunded`, `paid_not_credited`,
//! `credited_not_paid` or `amount_mismatch`, the journal side being the `payments` projection
//! with method `sbp` (the kiosk's `PaymentCompleted` after its `SbpPaid`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// One line of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLine {
    pub day: String,
    pub time_utc: String,
    /// `payment` or `refund`.
    pub operation: String,
    pub bank_payment_id: String,
    pub order_id: String,
    pub amount_kopecks: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the registry has no header with column {0:?}")]
    MissingColumn(&'static str),
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("the registry is not CSV: {0}")]
    Csv(String),
    #[error("the registry has no lines")]
    Empty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parses a registry; a bad line refuses the whole file and names the line.
pub fn parse(data: &[u8]) -> Result<Vec<RegistryLine>, RegistryError> {
    let text = std::str::from_utf8(data).map_err(|_| RegistryError::Csv("not UTF-8".into()))?;
    let text = text.trim_start_matches('\u{feff}');
    let mut rd = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = rd
        .headers()
        .map_err(|e| RegistryError::Csv(e.to_string()))?
        .clone();
    let col = |name: &'static str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or(RegistryError::MissingColumn(name))
    };
    let (c_date, c_time, c_op, c_pid, c_oid, c_amount) = (
        col("date")?,
        col("time_utc")?,
        col("operation")?,
        col("payment_id")?,
        col("order_id")?,
        col("amount")?,
    );
    let mut out = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let line = i + 2;
        let bad = |problem: String| RegistryError::Line { line, problem };
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let get = |c: usize| rec.get(c).unwrap_or("").trim().to_string();
        let day = get(c_date);
        if chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").is_err() {
            return Err(bad(format!("date {day:?} is not YYYY-MM-DD")));
        }
        let time_utc = get(c_time);
        if chrono::DateTime::parse_from_rfc3339(&time_utc).is_err() {
            return Err(bad(format!("time_utc {time_utc:?} is not RFC 3339")));
        }
        let operation = get(c_op);
        if operation != "payment" && operation != "refund" {
            return Err(bad(format!(
                "operation {operation:?}: use payment or refund"
            )));
        }
        let bank_payment_id = get(c_pid);
        let order_id = get(c_oid);
        if bank_payment_id.is_empty() || bank_payment_id.len() > 64 {
            return Err(bad("payment_id is empty or too long".into()));
        }
        if !backend_sync::sbp::is_payment_id(&order_id) {
            return Err(bad(format!("order_id {order_id:?} is not a payment id")));
        }
        let amount = get(c_amount);
        let amount_kopecks = crate::settlement::parse_rubles(&amount)
            .filter(|k| *k > 0)
            .ok_or_else(|| {
                bad(format!(
                    "amount {amount:?} is not a positive sum in roubles"
                ))
            })?;
        out.push(RegistryLine {
            day,
            time_utc,
            operation,
            bank_payment_id,
            order_id,
            amount_kopecks,
        });
    }
    if out.is_empty() {
        return Err(RegistryError::Empty);
    }
    Ok(out)
}

/// Stores the lines (a line seen before is kept once); returns how many were new.
pub fn import(sql: &mut dyn Sql, lines: &[RegistryLine], now: &str) -> Result<u64, StoreError> {
    crate::db::transaction(sql, |sql| {
        let mut new = 0;
        for l in lines {
            new += sql.exec(
                "INSERT INTO sbp_registry (bank_payment_id, operation, time_utc, day, order_id, amount_kopecks, imported_utc)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                params![&l.bank_payment_id, &l.operation, &l.time_utc, &l.day, &l.order_id, l.amount_kopecks, now],
            )?;
        }
        Ok(new)
    })
}

/// One payment of the reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryMatch {
    /// `paid_and_credited`, `refunded`, `paid_not_credited`, `credited_not_paid`,
    /// `amount_mismatch`.
    pub problem: String,
    pub order_id: String,
    pub bank_payment_id: Option<String>,
    pub terminal_id: Option<String>,
    pub day: String,
    pub bank_kopecks: i64,
    pub refunded_kopecks: i64,
    pub journal_kopecks: Option<i64>,
}

impl RegistryMatch {
    pub fn is_ok(&self) -> bool {
        self.problem == "paid_and_credited"
    }
}

/// What finance reads for each problem.
pub fn problem_ru(p: &str) -> &'static str {
    match p {
        "paid_and_credited" => "оплачен и зачислен",
        "refunded" => "возвращён покупателю",
        "paid_not_credited" => "оплачен в банке, не зачислен терминалом",
        "credited_not_paid" => "зачислен терминалом, банк оплату не подтвердил",
        "amount_mismatch" => "суммы банка и терминала расходятся",
        _ => "?",
    }
}

/// Names every СБП payment of the registry days `from..=to` and every journal СБП payment of
/// those business days.
pub fn reconcile(
    sql: &mut dyn Sql,
    from: &str,
    to: &str,
) -> Result<Vec<RegistryMatch>, StoreError> {
    struct Bank {
        id: String,
        day: String,
        paid: i64,
        refunded: i64,
    }
    let mut bank: BTreeMap<String, Bank> = BTreeMap::new();
    for r in sql.query(
        "SELECT order_id, bank_payment_id, day, amount_kopecks FROM sbp_registry WHERE operation = 'payment' AND day >= $1 AND day <= $2",
        params![from, to],
    )? {
        let e = bank.entry(r.text(0)).or_insert(Bank {
            id: r.text(1),
            day: r.text(2),
            paid: 0,
            refunded: 0,
        });
        e.paid += r.int(3);
    }
    for (order, b) in bank.iter_mut() {
        b.refunded = sql
            .query_one(
                "SELECT CAST(COALESCE(SUM(amount_kopecks), 0) AS BIGINT) FROM sbp_registry WHERE operation = 'refund' AND order_id = $1",
                params![order],
            )?
            .map_or(0, |r| r.int(0));
    }
    let mut out = Vec::new();
    for (order, b) in &bank {
        let j = sql.query_one(
            "SELECT terminal_id, CAST(SUM(total_kopecks) AS BIGINT) FROM payments WHERE method = 'sbp' AND payment_id = $1 GROUP BY terminal_id",
            params![order],
        )?;
        let (terminal, journal) = match &j {
            Some(r) => (Some(r.text(0)), Some(r.int(1))),
            None => (None, None),
        };
        let problem = match journal {
            None if b.refunded >= b.paid => "refunded",
            None => "paid_not_credited",
            Some(k) if k != b.paid => "amount_mismatch",
            Some(_) if b.refunded > 0 => "refunded",
            Some(_) => "paid_and_credited",
        };
        out.push(RegistryMatch {
            problem: problem.into(),
            order_id: order.clone(),
            bank_payment_id: Some(b.id.clone()),
            terminal_id: terminal,
            day: b.day.clone(),
            bank_kopecks: b.paid,
            refunded_kopecks: b.refunded,
            journal_kopecks: journal,
        });
    }
    for r in sql.query(
        "SELECT payment_id, terminal_id, day, total_kopecks FROM payments WHERE method = 'sbp' AND day >= $1 AND day <= $2 ORDER BY day, terminal_id, payment_id",
        params![from, to],
    )? {
        let order = r.text(0);
        if bank.contains_key(&order) {
            continue;
        }
        // Paid on a registry day outside the range (around midnight): named under that day.
        let elsewhere = sql
            .query_one(
                "SELECT 1 FROM sbp_registry WHERE operation = 'payment' AND order_id = $1",
                params![&order],
            )?
            .is_some();
        if elsewhere {
            continue;
        }
        out.push(RegistryMatch {
            problem: "credited_not_paid".into(),
            order_id: order,
            bank_payment_id: None,
            terminal_id: Some(r.text(1)),
            day: r.text(2),
            bank_kopecks: 0,
            refunded_kopecks: 0,
            journal_kopecks: Some(r.int(3)),
        });
    }
    Ok(out)
}

/// The first and last day of `lines`.
pub fn days_of(lines: &[RegistryLine]) -> Option<(String, String)> {
    let min = lines.iter().map(|l| l.day.clone()).min()?;
    let max = lines.iter().map(|l| l.day.clone()).max()?;
    Some((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_refuses_the_file_and_names_the_line() {
        let ok = "date,time_utc,operation,payment_id,order_id,amount\n2026-12-04,2026-12-04T10:00:00Z,payment,1,P-1,150.00\n";
        assert_eq!(parse(ok.as_bytes()).unwrap()[0].amount_kopecks, 15000);
        let bad = format!("{ok}2026-12-04,2026-12-04T10:00:00Z,chargeback,2,P-2,1.00\n");
        let e = parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(e.starts_with("line 3:"), "{e}");
        assert!(matches!(
            parse(b"date,operation\n"),
            Err(RegistryError::MissingColumn(_))
        ));
    }
}
