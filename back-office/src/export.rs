//! Export of payments and meter readings for the billing system, and billing's "credited" marks.
//!
//! `payments.csv`: one line per service allocation —
//! `terminal_id,payment_id,time_utc,day,account,method,total_rub,service_id,debt_rub,advance_rub,credited_utc`.
//! `readings.csv`: `terminal_id,registration_no,time_utc,day,account,meter_id,zone,value,previous,credited_utc`.
//! Billing answers with a CSV `kind,terminal_id,id` (`kind` = `payment` with the payment id, or
//! `reading` with the registration number); [`mark_credited`] stores the marks.

use backend_sync::event::ServiceAmount;

use crate::db::{Sql, StoreError};
use crate::params;
use crate::report_out::rubles;

/// Why a credited-marks file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("credited file line {line}: {reason}")]
    BadLine { line: u64, reason: String },
    #[error("credited file: {0}")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Payments of days `from..=to` as CSV.
pub fn payments_csv(sql: &mut dyn Sql, from: &str, to: &str) -> Result<Vec<u8>, StoreError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "terminal_id",
        "payment_id",
        "time_utc",
        "day",
        "account",
        "method",
        "total_rub",
        "service_id",
        "debt_rub",
        "advance_rub",
        "credited_utc",
    ]);
    for r in sql.query(
        "SELECT terminal_id, payment_id, time_utc, day, account, method, total_kopecks, allocations, credited_utc
         FROM payments WHERE day >= $1 AND day <= $2 ORDER BY day, terminal_id, seq",
        params![from, to],
    )? {
        let allocs: Vec<ServiceAmount> = serde_json::from_str(&r.text(7)).unwrap_or_default();
        let base = [r.text(0), r.text(1), r.text(2), r.text(3), r.text(4), r.text(5), rubles(r.int(6))];
        let credited = r.text(8);
        if allocs.is_empty() {
            let _ = w.write_record(base.iter().cloned().chain([String::new(), String::new(), String::new(), credited.clone()]));
        }
        for a in allocs {
            let _ = w.write_record(base.iter().cloned().chain([
                a.service_id,
                rubles(a.debt_kopecks),
                rubles(a.advance_kopecks),
                credited.clone(),
            ]));
        }
    }
    Ok(w.into_inner().unwrap_or_default())
}

/// Readings of days `from..=to` as CSV.
pub fn readings_csv(sql: &mut dyn Sql, from: &str, to: &str) -> Result<Vec<u8>, StoreError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "terminal_id",
        "registration_no",
        "time_utc",
        "day",
        "account",
        "meter_id",
        "zone",
        "value",
        "previous",
        "credited_utc",
    ]);
    for r in sql.query(
        "SELECT terminal_id, registration_no, time_utc, day, account, meter_id, zone, value, previous, credited_utc
         FROM readings WHERE day >= $1 AND day <= $2 ORDER BY day, terminal_id, seq",
        params![from, to],
    )? {
        let _ = w.write_record((0..10).map(|i| r.text(i)));
    }
    Ok(w.into_inner().unwrap_or_default())
}

/// Stores billing's credited marks; returns (payments marked, readings marked). Unknown ids are
/// refused with their line so billing and the back office never silently disagree.
pub fn mark_credited(sql: &mut dyn Sql, data: &[u8], now: &str) -> Result<(u64, u64), ExportError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(data);
    let mut marks = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let line = i as u64 + 2;
        let (kind, term, id) = (
            rec.get(0).unwrap_or(""),
            rec.get(1).unwrap_or(""),
            rec.get(2).unwrap_or(""),
        );
        if kind != "payment" && kind != "reading" {
            return Err(ExportError::BadLine {
                line,
                reason: format!("kind {kind:?} is not payment or reading"),
            });
        }
        marks.push((line, kind.to_string(), term.to_string(), id.to_string()));
    }
    crate::db::transaction(sql, |sql| {
        let (mut p, mut r) = (0, 0);
        for (line, kind, term, id) in &marks {
            let n = if kind == "payment" {
                sql.exec(
                    "UPDATE payments SET credited_utc = COALESCE(credited_utc, $3) WHERE terminal_id = $1 AND payment_id = $2",
                    params![term, id, now],
                )?
            } else {
                sql.exec(
                    "UPDATE readings SET credited_utc = COALESCE(credited_utc, $3) WHERE terminal_id = $1 AND registration_no = $2",
                    params![term, id, now],
                )?
            };
            if n == 0 {
                return Err(ExportError::BadLine {
                    line: *line,
                    reason: format!("no {kind} {id:?} from terminal {term:?}"),
                });
            }
            if kind == "payment" {
                p += n
            } else {
                r += n
            }
        }
        Ok((p, r))
    })
}
