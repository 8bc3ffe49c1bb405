//! Stuck notes: bills whose STACK was sent and that have no outcome (a jam, a power cut, a silent
//! validator). Owns the `stuck_notes` projection (from `BillStuck` and `StuckNoteResolved`) and
//! what finance and the terminal page read of it. A note found in the cassette or reported
//! stacked late enters `bills` at its resolution's sequence number and business day, with the
//! denomination its `BillStuck` named — there is no `BillStacked` for it — so stacked cash and
//! the encashment count balance against the cash payment it was credited as. A note handed back
//! credits nothing. It decides no money outcome: the terminal did.

use backend_sync::event::StuckNoteOutcome;
use backend_sync::JournalRecord;
use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// The stored name of an outcome.
pub fn outcome_name(o: StuckNoteOutcome) -> &'static str {
    match o {
        StuckNoteOutcome::FoundInCassette => "found_in_cassette",
        StuckNoteOutcome::HandedBack => "handed_back",
        StuckNoteOutcome::ReportedStacked => "reported_stacked",
    }
}

/// An outcome as finance and technicians read it.
pub fn outcome_ru(stored: &str) -> &'static str {
    match stored {
        "found_in_cassette" => "найдена в кассете, зачислена",
        "handed_back" => "возвращена клиенту",
        "reported_stacked" => "купюроприёмник сообщил об укладке, зачислена",
        _ => "не решено",
    }
}

/// What a `BillStuck` record says.
pub struct Stuck<'a> {
    pub payment_id: Option<&'a str>,
    pub account: &'a str,
    pub denomination_kopecks: i64,
    pub reference: &'a str,
    pub reason: &'a str,
}

/// Projects a `BillStuck` (idempotent).
pub fn stuck(
    sql: &mut dyn Sql,
    terminal: &str,
    rec: &JournalRecord,
    day: &str,
    note: &Stuck<'_>,
) -> Result<(), StoreError> {
    sql.exec(
        "INSERT INTO stuck_notes (terminal_id, reference, seq, time_utc, day, payment_id, account, denomination_kopecks, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        params![
            terminal, note.reference, rec.seq, &rec.time_utc, day, note.payment_id,
            note.account, note.denomination_kopecks, note.reason
        ],
    )?;
    Ok(())
}

/// Projects a `StuckNoteResolved`: the first resolution of a note counts, and a credited one
/// enters `bills` as stacked cash of the resolution's day.
pub fn resolved(
    sql: &mut dyn Sql,
    terminal: &str,
    rec: &JournalRecord,
    day: &str,
    reference: &str,
    outcome: StuckNoteOutcome,
    payment_id: Option<&str>,
) -> Result<(), StoreError> {
    let changed = sql.exec(
        "UPDATE stuck_notes SET resolved_seq = $3, resolved_utc = $4, resolved_day = $5, outcome = $6, resolution_payment_id = $7
         WHERE terminal_id = $1 AND reference = $2 AND resolved_seq IS NULL",
        params![terminal, reference, rec.seq, &rec.time_utc, day, outcome_name(outcome), payment_id],
    )?;
    if changed == 0 {
        tracing::warn!(
            terminal,
            reference,
            seq = rec.seq,
            "stuck-note resolution for no open stuck note: nothing projected"
        );
        return Ok(());
    }
    if outcome != StuckNoteOutcome::HandedBack {
        sql.exec(
            "INSERT INTO bills (terminal_id, seq, time_utc, day, denomination_kopecks, payment_id)
             SELECT terminal_id, $3, $4, $5, denomination_kopecks, $6 FROM stuck_notes
             WHERE terminal_id = $1 AND reference = $2 ON CONFLICT DO NOTHING",
            params![terminal, reference, rec.seq, &rec.time_utc, day, payment_id],
        )?;
    }
    Ok(())
}

/// One stuck note as finance sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StuckNote {
    pub terminal_id: String,
    pub reference: String,
    /// When the note got stuck (RFC 3339 UTC) and its business day.
    pub stuck_utc: String,
    pub day: String,
    pub account: String,
    pub denomination_kopecks: i64,
    pub reason: String,
    /// The payment it was inserted during.
    pub payment_id: Option<String>,
    /// Minutes from getting stuck to its resolution, or to `now` while open.
    pub age_minutes: i64,
    pub resolved_utc: Option<String>,
    /// `found_in_cassette`, `handed_back`, `reported_stacked`; `None` while open.
    pub outcome: Option<String>,
    /// The cash payment it was credited as.
    pub resolution_payment_id: Option<String>,
}

const COLUMNS: &str = "terminal_id, reference, time_utc, day, account, denomination_kopecks, reason, payment_id, resolved_utc, outcome, resolution_payment_id";

fn minutes_between(from: &str, to: &str) -> i64 {
    match (
        chrono::DateTime::parse_from_rfc3339(from),
        chrono::DateTime::parse_from_rfc3339(to),
    ) {
        (Ok(f), Ok(t)) => (t - f).num_minutes().max(0),
        _ => 0,
    }
}

fn rows(
    sql: &mut dyn Sql,
    query: &str,
    p: &[crate::db::Val],
    now: &str,
) -> Result<Vec<StuckNote>, StoreError> {
    Ok(sql
        .query(query, p)?
        .into_iter()
        .map(|r| {
            let resolved_utc = r.opt_text(8);
            let until = resolved_utc.clone().unwrap_or_else(|| now.to_string());
            StuckNote {
                terminal_id: r.text(0),
                reference: r.text(1),
                age_minutes: minutes_between(&r.text(2), &until),
                stuck_utc: r.text(2),
                day: r.text(3),
                account: r.text(4),
                denomination_kopecks: r.int(5),
                reason: r.text(6),
                payment_id: r.opt_text(7),
                resolved_utc,
                outcome: r.opt_text(9),
                resolution_payment_id: r.opt_text(10),
            }
        })
        .collect())
}

/// The notes finance must see for business days `from..=to`: every note stuck up to `to` that
/// was still open at the end of the range or was resolved within it (open ones first, oldest
/// first).
pub fn for_report(
    sql: &mut dyn Sql,
    from: &str,
    to: &str,
    now: &str,
) -> Result<Vec<StuckNote>, StoreError> {
    rows(
        sql,
        &format!(
            "SELECT {COLUMNS} FROM stuck_notes WHERE day <= $2 AND (resolved_day IS NULL OR resolved_day >= $1)
             ORDER BY CASE WHEN resolved_seq IS NULL THEN 0 ELSE 1 END, time_utc, terminal_id, reference"
        ),
        params![from, to],
        now,
    )
}

/// Every open note of the fleet (or of `terminal`), oldest first.
pub fn open(
    sql: &mut dyn Sql,
    terminal: Option<&str>,
    now: &str,
) -> Result<Vec<StuckNote>, StoreError> {
    match terminal {
        Some(t) => rows(
            sql,
            &format!("SELECT {COLUMNS} FROM stuck_notes WHERE resolved_seq IS NULL AND terminal_id = $1 ORDER BY time_utc, reference"),
            params![t],
            now,
        ),
        None => rows(
            sql,
            &format!("SELECT {COLUMNS} FROM stuck_notes WHERE resolved_seq IS NULL ORDER BY terminal_id, time_utc, reference"),
            &[],
            now,
        ),
    }
}

/// The latest resolved notes of the fleet, newest first.
pub fn recently_resolved(
    sql: &mut dyn Sql,
    limit: i64,
    now: &str,
) -> Result<Vec<StuckNote>, StoreError> {
    rows(
        sql,
        &format!("SELECT {COLUMNS} FROM stuck_notes WHERE resolved_seq IS NOT NULL ORDER BY resolved_utc DESC, reference LIMIT $1"),
        params![limit],
        now,
    )
}
