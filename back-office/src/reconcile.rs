//! Reconciliation for finance, per terminal per business day and per encashment period:
//! payments by method, cash by denomination, counted versus expected at encashment, card totals
//! versus the acquirer's settlement, fiscal-document numbers without gaps, unprinted receipts and
//! payments billing has not credited, stuck notes until a technician resolves them (a credited
//! one counts as stacked cash of its resolution's day, see [`crate::stuck_notes`]). Every figure comes from the verified journal projections.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// Most uncredited payments listed one by one (the per-day rows always count all of them).
pub const UNCREDITED_DETAIL_LIMIT: i64 = 10_000;

/// One terminal on one business day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DayRow {
    pub terminal_id: String,
    pub day: String,
    pub cash_payments: i64,
    pub cash_kopecks: i64,
    pub card_payments: i64,
    pub card_kopecks: i64,
    /// Bills stacked, by denomination in kopecks → count.
    pub bills: BTreeMap<i64, i64>,
    pub bills_kopecks: i64,
    /// Stacked bills minus cash payments: non-zero means cash taken without a completed payment.
    pub cash_variance_kopecks: i64,
    /// Completed card operations (the card reader's side).
    pub card_ops_kopecks: i64,
    /// What the acquirer settled for those operations (matched lines, net of reversals).
    pub settled_kopecks: i64,
    pub card_variance_kopecks: i64,
    pub receipts: i64,
    pub receipts_kopecks: i64,
    pub unprinted_receipts: i64,
    pub uncredited_payments: i64,
    pub uncredited_kopecks: i64,
}

/// One denomination of one encashment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EncashmentRow {
    pub terminal_id: String,
    pub encashment_id: String,
    /// Exclusive journal bounds of the period: bills stacked after `from_seq` up to `to_seq`.
    pub from_seq: i64,
    pub to_seq: i64,
    pub counted_utc: String,
    pub denomination_kopecks: i64,
    pub expected_count: i64,
    pub counted_count: i64,
    pub variance_count: i64,
    pub variance_kopecks: i64,
}

/// A card operation and the settlement disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardMismatch {
    /// `not_settled`, `amount_differs`, `reversed_but_settled`, `settled_but_not_completed`,
    /// `settled_without_payment`.
    pub problem: String,
    pub terminal_id: Option<String>,
    pub payment_id: Option<String>,
    pub day: String,
    pub card_terminal_id: String,
    pub receipt_no: i64,
    pub expected_kopecks: i64,
    pub settled_kopecks: i64,
}

/// Missing fiscal-document numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FdGap {
    pub terminal_id: String,
    pub fn_number: String,
    /// First and last missing FD number.
    pub missing_from: i64,
    pub missing_to: i64,
    /// Day of the document after the gap.
    pub day: String,
}

/// A closed fiscal shift: the KKT's Z-report against the receipts the journal holds for it,
/// as a retail till monitor checks them. `matches` is false when any figure differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShiftCheck {
    pub terminal_id: String,
    pub fn_number: String,
    pub shift_number: i64,
    /// Business day of the Z-report.
    pub day: String,
    pub z_receipts: i64,
    pub z_total_kopecks: i64,
    pub z_cash_kopecks: i64,
    pub z_card_kopecks: i64,
    pub journal_receipts: i64,
    pub journal_total_kopecks: i64,
    pub journal_cash_kopecks: i64,
    pub journal_card_kopecks: i64,
    pub matches: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnprintedReceipt {
    pub terminal_id: String,
    pub receipt_id: String,
    pub day: String,
    pub fd_number: i64,
    pub total_kopecks: i64,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UncreditedPayment {
    pub terminal_id: String,
    pub payment_id: String,
    pub day: String,
    pub account: String,
    pub method: String,
    pub total_kopecks: i64,
}

/// The whole report for an inclusive range of business days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub days: Vec<DayRow>,
    pub encashments: Vec<EncashmentRow>,
    pub card_mismatches: Vec<CardMismatch>,
    pub fd_gaps: Vec<FdGap>,
    /// Every fiscal shift closed in the range, mismatches first.
    pub shifts: Vec<ShiftCheck>,
    pub unprinted: Vec<UnprintedReceipt>,
    pub uncredited: Vec<UncreditedPayment>,
    /// True when `uncredited` was cut at [`UNCREDITED_DETAIL_LIMIT`].
    pub uncredited_truncated: bool,
    /// Stuck notes open at the end of the range or resolved within it (open ones first).
    pub stuck_notes: Vec<crate::stuck_notes::StuckNote>,
}

impl Report {
    /// Findings that need a person: non-zero variances, mismatches, gaps, unprinted receipts.
    pub fn discrepancies(&self) -> usize {
        self.days
            .iter()
            .filter(|d| d.cash_variance_kopecks != 0 || d.card_variance_kopecks != 0)
            .count()
            + self
                .encashments
                .iter()
                .filter(|e| e.variance_count != 0)
                .count()
            + self.card_mismatches.len()
            + self.fd_gaps.len()
            + self.shifts.iter().filter(|s| !s.matches).count()
            + self.unprinted.len()
            + self
                .stuck_notes
                .iter()
                .filter(|n| n.outcome.is_none())
                .count()
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("bad date {0:?}: use YYYY-MM-DD")]
    BadDate(String),
    #[error("range {from}..{to} is reversed")]
    Reversed { from: String, to: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_day(d: &str) -> Result<chrono::NaiveDate, ReconcileError> {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .map_err(|_| ReconcileError::BadDate(d.to_string()))
}

/// Logs how long each part of a report took (`RUST_LOG=back_office::reconcile=debug`).
struct Lap(std::time::Instant);
impl Lap {
    fn lap(&mut self, part: &str) {
        tracing::debug!(part, ms = self.0.elapsed().as_millis() as u64, "reconcile");
        self.0 = std::time::Instant::now();
    }
}

/// Builds the report for days `from..=to` (business days, `YYYY-MM-DD`).
pub fn report(sql: &mut dyn Sql, from: &str, to: &str) -> Result<Report, ReconcileError> {
    let mut lap = Lap(std::time::Instant::now());
    let (f, t) = (check_day(from)?, check_day(to)?);
    if f > t {
        return Err(ReconcileError::Reversed {
            from: from.into(),
            to: to.into(),
        });
    }
    let mut days: BTreeMap<(String, String), DayRow> = BTreeMap::new();

    for r in sql.query(
        "SELECT terminal_id, day, method, CAST(COUNT(*) AS BIGINT), CAST(SUM(total_kopecks) AS BIGINT),
                CAST(SUM(CASE WHEN credited_utc IS NULL THEN 1 ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN credited_utc IS NULL THEN total_kopecks ELSE 0 END) AS BIGINT)
         FROM payments WHERE day >= $1 AND day <= $2 GROUP BY day, terminal_id, method",
        params![from, to],
    )? {
        let d = entry(&mut days, r.text(0), r.text(1));
        match r.text(2).as_str() {
            "cash" => {
                d.cash_payments += r.int(3);
                d.cash_kopecks += r.int(4);
            }
            _ => {
                d.card_payments += r.int(3);
                d.card_kopecks += r.int(4);
            }
        }
        d.uncredited_payments += r.int(5);
        d.uncredited_kopecks += r.int(6);
    }
    lap.lap("payments");
    for r in sql.query(
        "SELECT terminal_id, day, denomination_kopecks, CAST(COUNT(*) AS BIGINT)
         FROM bills WHERE day >= $1 AND day <= $2 GROUP BY day, terminal_id, denomination_kopecks",
        params![from, to],
    )? {
        let d = entry(&mut days, r.text(0), r.text(1));
        *d.bills.entry(r.int(2)).or_default() += r.int(3);
        d.bills_kopecks += r.int(2) * r.int(3);
    }
    lap.lap("bills");
    for r in sql.query(
        "SELECT terminal_id, day, CAST(COUNT(*) AS BIGINT), CAST(SUM(total_kopecks) AS BIGINT),
                CAST(SUM(CASE WHEN printed < 0 THEN 1 ELSE 0 END) AS BIGINT)
         FROM receipts WHERE day >= $1 AND day <= $2 GROUP BY day, terminal_id",
        params![from, to],
    )? {
        let d = entry(&mut days, r.text(0), r.text(1));
        d.receipts = r.int(2);
        d.receipts_kopecks = r.int(3);
        d.unprinted_receipts = r.int(4);
    }

    lap.lap("receipts");
    let card_mismatches = card_reconciliation(sql, from, to, &mut days)?;
    lap.lap("card");

    for d in days.values_mut() {
        d.cash_variance_kopecks = d.bills_kopecks - d.cash_kopecks;
        d.card_variance_kopecks = d.card_ops_kopecks - d.settled_kopecks;
    }

    let encashments = encashment_rows(sql, from, to)?;
    lap.lap("encashments");

    let fd_gaps = fd_gaps(sql, from, to)?;
    lap.lap("fd_gaps");
    let shifts = shift_checks(sql, from, to)?;
    lap.lap("shifts");
    let unprinted = sql
        .query(
            "SELECT terminal_id, receipt_id, day, fd_number, total_kopecks, print_problem FROM receipts
             WHERE printed < 0 AND day >= $1 AND day <= $2 ORDER BY terminal_id, day, fd_number",
            params![from, to],
        )?
        .into_iter()
        .map(|r| UnprintedReceipt {
            terminal_id: r.text(0),
            receipt_id: r.text(1),
            day: r.text(2),
            fd_number: r.int(3),
            total_kopecks: r.int(4),
            problem: r.text(5),
        })
        .collect();

    lap.lap("unprinted");
    let rows = sql.query(
        "SELECT terminal_id, payment_id, day, account, method, total_kopecks FROM payments
         WHERE credited_utc IS NULL AND day >= $1 AND day <= $2
         ORDER BY day, terminal_id, seq LIMIT $3",
        params![from, to, UNCREDITED_DETAIL_LIMIT + 1],
    )?;
    let uncredited_truncated = rows.len() as i64 > UNCREDITED_DETAIL_LIMIT;
    let uncredited = rows
        .into_iter()
        .take(UNCREDITED_DETAIL_LIMIT as usize)
        .map(|r| UncreditedPayment {
            terminal_id: r.text(0),
            payment_id: r.text(1),
            day: r.text(2),
            account: r.text(3),
            method: r.text(4),
            total_kopecks: r.int(5),
        })
        .collect();

    lap.lap("uncredited");
    let stuck_notes = crate::stuck_notes::for_report(sql, from, to, &crate::now_utc())?;
    lap.lap("stuck_notes");
    Ok(Report {
        from: from.into(),
        to: to.into(),
        days: days.into_values().collect(),
        encashments,
        card_mismatches,
        fd_gaps,
        shifts,
        unprinted,
        uncredited,
        uncredited_truncated,
        stuck_notes,
    })
}

fn entry(days: &mut BTreeMap<(String, String), DayRow>, term: String, day: String) -> &mut DayRow {
    days.entry((term.clone(), day.clone()))
        .or_insert_with(|| DayRow {
            terminal_id: term,
            day,
            ..DayRow::default()
        })
}

/// Card operations against the acquirer's settlement, as matched by [`crate::settlement::rematch`]
/// (a line settles an operation of its own day or the day before, net of reversals).
fn card_reconciliation(
    sql: &mut dyn Sql,
    from: &str,
    to: &str,
    days: &mut BTreeMap<(String, String), DayRow>,
) -> Result<Vec<CardMismatch>, StoreError> {
    for r in sql.query(
        "SELECT terminal_id, day,
                CAST(SUM(CASE WHEN state = 'completed' THEN amount_kopecks ELSE 0 END) AS BIGINT),
                CAST(SUM(CASE WHEN state <> 'approved' THEN COALESCE(settled_net, 0) ELSE 0 END) AS BIGINT)
         FROM card_ops WHERE day >= $1 AND day <= $2 GROUP BY day, terminal_id",
        params![from, to],
    )? {
        let d = entry(days, r.text(0), r.text(1));
        d.card_ops_kopecks += r.int(2);
        d.settled_kopecks += r.int(3);
    }
    let mut out: Vec<CardMismatch> = sql
        .query(
            "SELECT terminal_id, payment_id, day, card_terminal_id, receipt_no,
                    CASE WHEN state = 'completed' THEN amount_kopecks ELSE 0 END, settled_net, state
             FROM card_ops WHERE day >= $1 AND day <= $2
               AND ((state = 'completed' AND (settled_net IS NULL OR settled_net <> amount_kopecks))
                 OR (state <> 'completed' AND COALESCE(settled_net, 0) <> 0))
             ORDER BY terminal_id, day, receipt_no",
            params![from, to],
        )?
        .into_iter()
        .map(|r| CardMismatch {
            problem: match (r.text(7).as_str(), r.opt_int(6)) {
                ("completed", None) => "not_settled",
                ("completed", Some(_)) => "amount_differs",
                ("reversed", _) => "reversed_but_settled",
                _ => "settled_but_not_completed",
            }
            .into(),
            terminal_id: Some(r.text(0)),
            payment_id: Some(r.text(1)),
            day: r.text(2),
            card_terminal_id: r.text(3),
            receipt_no: r.int(4),
            expected_kopecks: r.int(5),
            settled_kopecks: r.opt_int(6).unwrap_or(0),
        })
        .collect();
    // Settled money no kiosk operation explains.
    for r in sql.query(
        "SELECT card_terminal_id, receipt_no,
                CAST(SUM(CASE WHEN operation = 'sale' THEN amount_kopecks ELSE -amount_kopecks END) AS BIGINT), MIN(day)
         FROM settlement WHERE matched = 0 AND day >= $1 AND day <= $2
         GROUP BY card_terminal_id, receipt_no ORDER BY card_terminal_id, receipt_no",
        params![from, to],
    )? {
        if r.int(2) == 0 {
            continue;
        }
        out.push(CardMismatch {
            problem: "settled_without_payment".into(),
            terminal_id: None,
            payment_id: None,
            day: r.text(3),
            card_terminal_id: r.text(0),
            receipt_no: r.int(1),
            expected_kopecks: 0,
            settled_kopecks: r.int(2),
        });
    }
    Ok(out)
}

/// Gaps in the fiscal-document numbers of every fiscal module whose following document falls in
/// the range (kept current by the projection, see `project::fiscal_doc`).
fn fd_gaps(sql: &mut dyn Sql, from: &str, to: &str) -> Result<Vec<FdGap>, StoreError> {
    Ok(sql
        .query(
            "SELECT terminal_id, fn_number, missing_from, missing_to, day FROM fd_gaps
             WHERE day >= $1 AND day <= $2 ORDER BY terminal_id, fn_number, missing_from",
            params![from, to],
        )?
        .into_iter()
        .map(|r| FdGap {
            terminal_id: r.text(0),
            fn_number: r.text(1),
            missing_from: r.int(2),
            missing_to: r.int(3),
            day: r.text(4),
        })
        .collect())
}

/// Each fiscal shift whose Z-report falls in the range against the receipts journaled for it
/// (the cash and card split from the payment each receipt is for).
pub fn shift_checks(
    sql: &mut dyn Sql,
    from: &str,
    to: &str,
) -> Result<Vec<ShiftCheck>, StoreError> {
    // One query: each shift with the receipts journaled for it and their payments' method.
    let rows = sql.query(
        "SELECT s.terminal_id, s.fn_number, s.shift_number, s.day,
                s.z_receipts, s.z_total_kopecks, s.z_cash_kopecks, s.z_card_kopecks,
                CAST(COUNT(r.receipt_id) AS BIGINT), CAST(COALESCE(SUM(r.total_kopecks), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN p.method = 'card' THEN r.total_kopecks ELSE 0 END), 0) AS BIGINT)
         FROM shifts s
         LEFT JOIN receipts r ON r.terminal_id = s.terminal_id AND r.fn_number = s.fn_number AND r.shift_number = s.shift_number
         LEFT JOIN payments p ON p.terminal_id = r.terminal_id AND p.payment_id = r.payment_id
         WHERE s.day >= $1 AND s.day <= $2
         GROUP BY s.terminal_id, s.fn_number, s.shift_number, s.day,
                  s.z_receipts, s.z_total_kopecks, s.z_cash_kopecks, s.z_card_kopecks
         ORDER BY s.terminal_id, s.fn_number, s.shift_number",
        params![from, to],
    )?;
    let mut out: Vec<ShiftCheck> = rows
        .into_iter()
        .map(|r| {
            let (z_receipts, z_total, z_cash, z_card) = (r.int(4), r.int(5), r.int(6), r.int(7));
            let (receipts, total, card) = (r.int(8), r.int(9), r.int(10));
            ShiftCheck {
                terminal_id: r.text(0),
                fn_number: r.text(1),
                shift_number: r.int(2),
                day: r.text(3),
                z_receipts,
                z_total_kopecks: z_total,
                z_cash_kopecks: z_cash,
                z_card_kopecks: z_card,
                journal_receipts: receipts,
                journal_total_kopecks: total,
                journal_cash_kopecks: total - card,
                journal_card_kopecks: card,
                matches: (z_receipts, z_total, z_cash, z_card)
                    == (receipts, total, total - card, card),
            }
        })
        .collect();
    out.sort_by_key(|c| c.matches);
    Ok(out)
}

/// Each encashment in the range against the bills stacked since the previous one.
fn encashment_rows(
    sql: &mut dyn Sql,
    from: &str,
    to: &str,
) -> Result<Vec<EncashmentRow>, StoreError> {
    let mut out = Vec::new();
    let encs = sql.query(
        "SELECT terminal_id, seq, encashment_id, counted, time_utc FROM encashments
         WHERE day >= $1 AND day <= $2 ORDER BY terminal_id, seq",
        params![from, to],
    )?;
    for e in encs {
        let (term, seq) = (e.text(0), e.int(1));
        let prev = sql
            .query_one(
                "SELECT CAST(MAX(seq) AS BIGINT) FROM encashments WHERE terminal_id = $1 AND seq < $2",
                params![&term, seq],
            )?
            .and_then(|r| r.opt_int(0))
            .unwrap_or(0);
        let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
        for b in sql.query(
            "SELECT denomination_kopecks, CAST(COUNT(*) AS BIGINT) FROM bills
             WHERE terminal_id = $1 AND seq > $2 AND seq < $3 GROUP BY denomination_kopecks",
            params![&term, prev, seq],
        )? {
            expected.insert(b.int(0), b.int(1));
        }
        let counted_raw: BTreeMap<String, u32> =
            serde_json::from_str(&e.text(3)).unwrap_or_default();
        let mut counted: BTreeMap<i64, i64> = BTreeMap::new();
        for (k, v) in counted_raw {
            if let Ok(d) = k.parse::<i64>() {
                counted.insert(d, v.into());
            }
        }
        let denoms: std::collections::BTreeSet<i64> =
            expected.keys().chain(counted.keys()).copied().collect();
        for d in denoms {
            let (x, c) = (
                expected.get(&d).copied().unwrap_or(0),
                counted.get(&d).copied().unwrap_or(0),
            );
            out.push(EncashmentRow {
                terminal_id: term.clone(),
                encashment_id: e.text(2),
                from_seq: prev,
                to_seq: seq,
                counted_utc: e.text(4),
                denomination_kopecks: d,
                expected_count: x,
                counted_count: c,
                variance_count: c - x,
                variance_kopecks: (c - x) * d,
            });
        }
    }
    Ok(out)
}
