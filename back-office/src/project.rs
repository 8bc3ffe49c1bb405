//! Projects journal events into the tables finance and the fleet page read. Everything here is
//! derived from `journal` and can be rebuilt from it at any time ([`rebuild`]).

use backend_sync::event::{JournalEvent, OutageLevel, PaymentMethod, ReceiptContact};
use backend_sync::JournalRecord;
use chrono::{DateTime, FixedOffset};

use crate::db::{transaction, Sql, StoreError};
use crate::messages;
use crate::params;

/// Business days are counted in Moscow time (UTC+3, no DST), where the retailer's offices are,
/// unless a terminal has its own time zone ([`crate::terminals::time_zone`]).
pub const BUSINESS_UTC_OFFSET_SECS: i32 = 3 * 3600;

/// The time zone of a terminal nobody set one for.
pub const DEFAULT_TIME_ZONE: chrono_tz::Tz = chrono_tz::Europe::Moscow;

/// The business day (`YYYY-MM-DD`) of an RFC 3339 UTC time in `tz`; the UTC date text if
/// unparsable.
pub fn business_day_in(time_utc: &str, tz: chrono_tz::Tz) -> String {
    match DateTime::parse_from_rfc3339(time_utc) {
        Ok(t) => t.with_timezone(&tz).format("%Y-%m-%d").to_string(),
        Err(_) => time_utc.chars().take(10).collect(),
    }
}

/// An RFC 3339 UTC time as a person at the terminal reads it: `2026-11-20 09:00 MSK`.
pub fn local_time(time_utc: &str, tz: chrono_tz::Tz) -> String {
    match DateTime::parse_from_rfc3339(time_utc) {
        Ok(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        Err(_) => time_utc.to_string(),
    }
}

/// The business day (`YYYY-MM-DD`) of an RFC 3339 UTC time; the UTC date text if unparsable.
pub fn business_day(time_utc: &str) -> String {
    let offset = FixedOffset::east_opt(BUSINESS_UTC_OFFSET_SECS).unwrap_or_else(|| {
        FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!("zero offset is valid"))
    });
    match DateTime::parse_from_rfc3339(time_utc) {
        Ok(t) => t.with_timezone(&offset).format("%Y-%m-%d").to_string(),
        Err(_) => time_utc.chars().take(10).collect(),
    }
}

/// `day` (`YYYY-MM-DD`) moved by `days`; unchanged if unparsable.
pub fn shift_day(day: &str, days: i64) -> String {
    match chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        Ok(d) => (d + chrono::Duration::days(days))
            .format("%Y-%m-%d")
            .to_string(),
        Err(_) => day.to_string(),
    }
}

pub fn method_name(m: PaymentMethod) -> &'static str {
    match m {
        PaymentMethod::Cash => "cash",
        PaymentMethod::Card => "card",
        PaymentMethod::Sbp => "sbp",
    }
}

fn level_name(l: OutageLevel) -> &'static str {
    match l {
        OutageLevel::Started => "started",
        OutageLevel::Escalated => "escalated",
        OutageLevel::Breach => "breach",
        OutageLevel::Recovered => "recovered",
    }
}

/// What the projection of one terminal's batch learns as it goes, so it need not ask the
/// database again within the batch (a terminal's records are projected one batch at a time,
/// under its row lock, so nothing else changes these meanwhile).
#[derive(Debug, Default)]
pub struct BatchMemo {
    /// Per fiscal module: its highest document number, when known to be the highest.
    fiscal_max: std::collections::HashMap<String, i64>,
    /// Per card terminal id: the kiosk that owns it.
    card_owner: std::collections::HashMap<String, String>,
    /// Per card terminal id: whether the settlement has any line of it.
    card_settled: std::collections::HashMap<String, bool>,
    /// Receipts fiscalised in this batch and then only printed (no `ReceiptUnprinted`): their
    /// row is inserted as printed, without an UPDATE per receipt.
    printed_at_insert: std::collections::HashSet<String>,
}

impl BatchMemo {
    /// The memo of a batch of `records` (only the receipt records' payloads are read).
    pub fn for_batch<'a>(records: impl IntoIterator<Item = &'a JournalRecord>) -> Self {
        use std::collections::{HashMap, HashSet};
        // Per receipt fiscalised in the batch: whether everything after it was a print.
        let mut only_printed: HashMap<String, bool> = HashMap::new();
        let mut printed: HashSet<String> = HashSet::new();
        for r in records {
            if !r.kind.starts_with("Receipt") {
                continue;
            }
            match JournalEvent::from_payload(&r.payload) {
                Ok(JournalEvent::ReceiptFiscalised { receipt_id, .. }) => {
                    only_printed.insert(receipt_id, true);
                }
                Ok(
                    JournalEvent::ReceiptPrinted { receipt_id }
                    | JournalEvent::ReceiptReprinted { receipt_id },
                ) if only_printed.contains_key(&receipt_id) => {
                    printed.insert(receipt_id);
                }
                Ok(JournalEvent::ReceiptUnprinted { receipt_id, .. }) => {
                    if let Some(ok) = only_printed.get_mut(&receipt_id) {
                        *ok = false;
                    }
                }
                _ => {}
            }
        }
        printed.retain(|id| only_printed.get(id).copied().unwrap_or(false));
        BatchMemo {
            printed_at_insert: printed,
            ..BatchMemo::default()
        }
    }
}

/// Applies one record's event; its business day is the day in the terminal's time zone `tz`.
/// `now` is the server's time, used for queued messages. `memo` is the batch's, for one
/// terminal.
pub fn apply(
    sql: &mut dyn Sql,
    terminal: &str,
    tz: chrono_tz::Tz,
    rec: &JournalRecord,
    event: &JournalEvent,
    now: &str,
    memo: &mut BatchMemo,
) -> Result<(), StoreError> {
    let day = business_day_in(&rec.time_utc, tz);
    let seq = rec.seq;
    let t = rec.time_utc.as_str();
    match event {
        JournalEvent::PaymentCompleted {
            payment_id,
            account,
            method,
            total_kopecks,
            allocations,
        } => {
            let alloc = serde_json::to_string(allocations).unwrap_or_else(|_| "[]".into());
            sql.exec_deferred(
                "INSERT INTO payments (terminal_id, payment_id, seq, time_utc, day, account, method, total_kopecks, allocations)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                params![terminal, payment_id, seq, t, &day, account, method_name(*method), *total_kopecks, alloc],
            )?;
        }
        JournalEvent::BillStacked {
            payment_id,
            denomination_kopecks,
        } => {
            sql.exec_deferred(
                "INSERT INTO bills (terminal_id, seq, time_utc, day, denomination_kopecks, payment_id)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                params![terminal, seq, t, &day, *denomination_kopecks, payment_id.clone()],
            )?;
        }
        JournalEvent::BillStuck {
            payment_id,
            account,
            denomination_kopecks,
            reference,
            reason,
        } => crate::stuck_notes::stuck(
            sql,
            terminal,
            rec,
            &day,
            &crate::stuck_notes::Stuck {
                payment_id: payment_id.as_deref(),
                account,
                denomination_kopecks: *denomination_kopecks,
                reference,
                reason,
            },
        )?,
        JournalEvent::StuckNoteResolved {
            reference,
            outcome,
            payment_id,
        } => crate::stuck_notes::resolved(
            sql,
            terminal,
            rec,
            &day,
            reference,
            *outcome,
            payment_id.as_deref(),
        )?,
        JournalEvent::CardApproved {
            payment_id,
            approval,
        } => {
            sql.exec_deferred(
                "INSERT INTO card_ops (terminal_id, payment_id, seq, time_utc, day, card_terminal_id, receipt_no, rrn, masked_pan, auth_code, amount_kopecks, state, settle_until)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'approved', $12) ON CONFLICT DO NOTHING",
                params![
                    terminal, payment_id, seq, t, &day, &approval.card_terminal_id, approval.receipt_no,
                    approval.rrn.clone(), &approval.masked_pan, &approval.auth_code, approval.amount_kopecks,
                    shift_day(&day, 1)
                ],
            )?;
            let owner = match memo.card_owner.get(&approval.card_terminal_id) {
                Some(o) => o.clone(),
                None => {
                    let o = crate::card_terminals::claim(
                        sql,
                        &approval.card_terminal_id,
                        terminal,
                        now,
                    )?;
                    memo.card_owner
                        .insert(approval.card_terminal_id.clone(), o.clone());
                    o
                }
            };
            if owner != terminal {
                crate::card_terminals::flag_foreign(
                    sql,
                    terminal,
                    &approval.card_terminal_id,
                    &owner,
                    payment_id,
                    now,
                )?;
            }
            // The settlement may have been imported before the journal arrived (if it has any
            // line of this card terminal at all).
            let settled = match memo.card_settled.get(&approval.card_terminal_id) {
                Some(&b) => b,
                None => {
                    let b = sql
                        .query_one(
                            "SELECT 1 FROM settlement WHERE card_terminal_id = $1 LIMIT 1",
                            params![&approval.card_terminal_id],
                        )?
                        .is_some();
                    memo.card_settled
                        .insert(approval.card_terminal_id.clone(), b);
                    b
                }
            };
            if settled {
                crate::settlement::rematch(
                    sql,
                    Some((
                        &approval.card_terminal_id,
                        i64::from(approval.receipt_no),
                        &day,
                        &shift_day(&day, 1),
                    )),
                )?;
            }
        }
        JournalEvent::CardCompleted { payment_id, .. } => {
            sql.exec_deferred(
                "UPDATE card_ops SET state = 'completed' WHERE terminal_id = $1 AND payment_id = $2 AND state = 'approved'",
                params![terminal, payment_id],
            )?;
        }
        JournalEvent::CardReversed { payment_id, .. } => {
            sql.exec_deferred(
                "UPDATE card_ops SET state = 'reversed' WHERE terminal_id = $1 AND payment_id = $2",
                params![terminal, payment_id],
            )?;
        }
        JournalEvent::ReceiptFiscalised {
            receipt_id,
            payment_id,
            total_kopecks,
            fiscal,
            printed_by_register,
        } => {
            sql.exec_deferred(
                "INSERT INTO receipts (terminal_id, receipt_id, seq, time_utc, day, payment_id, total_kopecks, fn_number, fd_number, fiscal_sign, qr, printed, shift_number)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
                params![
                    terminal, receipt_id, seq, t, &day, payment_id.clone(), *total_kopecks, &fiscal.fn_number,
                    fiscal.fd_number, &fiscal.fiscal_sign, &fiscal.qr,
                    i64::from(*printed_by_register || memo.printed_at_insert.contains(receipt_id)),
                    i64::from(fiscal.shift_number)
                ],
            )?;
            fiscal_doc(
                sql,
                terminal,
                &fiscal.fn_number,
                fiscal.fd_number,
                &day,
                "receipt",
                memo,
            )?;
        }
        JournalEvent::ReceiptPrinted { receipt_id }
        | JournalEvent::ReceiptReprinted { receipt_id }
            if memo.printed_at_insert.contains(receipt_id) => {}
        JournalEvent::ReceiptPrinted { receipt_id }
        | JournalEvent::ReceiptReprinted { receipt_id } => {
            sql.exec_deferred(
                "UPDATE receipts SET printed = 1, print_problem = NULL WHERE terminal_id = $1 AND receipt_id = $2",
                params![terminal, receipt_id],
            )?;
        }
        JournalEvent::ReceiptUnprinted { receipt_id, reason } => {
            sql.exec_deferred(
                "UPDATE receipts SET printed = -1, print_problem = $3 WHERE terminal_id = $1 AND receipt_id = $2",
                params![terminal, receipt_id, reason],
            )?;
        }
        JournalEvent::EReceiptRequested {
            receipt_id,
            contact,
        } => {
            let (channel, address) = match contact {
                ReceiptContact::Sms(a) => ("sms", a),
                ReceiptContact::Email(a) => ("email", a),
            };
            messages::queue_receipt(sql, terminal, receipt_id, channel, address, now)?;
        }
        JournalEvent::ShiftOpened {
            fn_number: Some(fn_number),
            fd_number: Some(fd),
            ..
        } => fiscal_doc(sql, terminal, fn_number, *fd, &day, "shift_open", memo)?,
        JournalEvent::ShiftClosed {
            shift_number,
            receipts,
            total_kopecks,
            cash_kopecks,
            card_kopecks,
            fn_number,
            fd_number,
        } => {
            // The Z-report's totals, reconciled against the shift's receipts (`reconcile`).
            sql.exec_deferred(
                "INSERT INTO shifts (terminal_id, fn_number, shift_number, seq, time_utc, day, fd_number, z_receipts, z_total_kopecks, z_cash_kopecks, z_card_kopecks)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                params![
                    terminal, fn_number.as_deref().unwrap_or(""), i64::from(*shift_number), seq, t, &day,
                    fd_number.map(i64::from), i64::from(*receipts), *total_kopecks, *cash_kopecks, *card_kopecks
                ],
            )?;
            if let (Some(fn_number), Some(fd)) = (fn_number, fd_number) {
                fiscal_doc(sql, terminal, fn_number, *fd, &day, "shift_close", memo)?;
            }
        }
        JournalEvent::MeterReadingAccepted {
            registration_no,
            account,
            meter_id,
            zone,
            value,
            previous,
        } => {
            sql.exec(
                "INSERT INTO readings (terminal_id, seq, time_utc, day, registration_no, account, meter_id, zone, value, previous)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                params![terminal, seq, t, &day, registration_no, account, meter_id, zone, *value, *previous],
            )?;
        }
        JournalEvent::EncashmentCounted {
            encashment_id,
            counted,
            counted_total_kopecks,
            expected_total_kopecks,
        } => {
            let counted = serde_json::to_string(counted).unwrap_or_else(|_| "{}".into());
            sql.exec(
                "INSERT INTO encashments (terminal_id, seq, time_utc, day, encashment_id, counted, counted_total_kopecks, terminal_expected_total_kopecks)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                params![terminal, seq, t, &day, encashment_id, counted, *counted_total_kopecks, *expected_total_kopecks],
            )?;
        }
        JournalEvent::OutageAlert {
            level,
            outage_id,
            working_minutes,
            detail,
        } => {
            let breach = i64::from(*level == OutageLevel::Breach);
            sql.exec(
                "INSERT INTO outages (terminal_id, outage_id, started_utc, last_utc, day, level, working_minutes, breach, detail)
                 VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (terminal_id, outage_id) DO UPDATE SET last_utc = excluded.last_utc,
                   level = excluded.level,
                   working_minutes = CASE WHEN excluded.working_minutes > outages.working_minutes THEN excluded.working_minutes ELSE outages.working_minutes END,
                   breach = CASE WHEN excluded.breach > outages.breach THEN excluded.breach ELSE outages.breach END",
                params![terminal, outage_id, t, &day, level_name(*level), *working_minutes, breach, detail],
            )?;
        }
        // Technicians' logins and operations: who did what at which kiosk, for the fleet page.
        JournalEvent::ServiceLogin {
            method,
            succeeded,
            locked_out,
        } => {
            let operation = if *succeeded {
                "login"
            } else if *locked_out {
                "login_locked_out"
            } else {
                "login_refused"
            };
            sql.exec(
                "INSERT INTO service_log (terminal_id, seq, time_utc, operation, detail) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                params![terminal, seq, t, operation, method],
            )?;
        }
        JournalEvent::ServiceOperation { operation, detail } => {
            sql.exec(
                "INSERT INTO service_log (terminal_id, seq, time_utc, operation, detail) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                params![terminal, seq, t, operation, detail],
            )?;
        }
        JournalEvent::DeviceStateChanged {
            device,
            state,
            detail,
        } => {
            sql.exec(
                "INSERT INTO device_states (terminal_id, device, state, detail, time_utc) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (terminal_id, device) DO UPDATE SET state = excluded.state, detail = excluded.detail, time_utc = excluded.time_utc",
                params![terminal, device, state, detail, t],
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// Records a fiscal document and keeps `fd_gaps` (missing FD numbers per fiscal module) current,
/// so reconciliation reads gaps instead of scanning every document. A gap's `day` is the day of
/// the document after it.
pub fn fiscal_doc(
    sql: &mut dyn Sql,
    terminal: &str,
    fn_number: &str,
    fd: u32,
    day: &str,
    doc: &str,
    memo: &mut BatchMemo,
) -> Result<(), StoreError> {
    let fd = i64::from(fd);
    let insert = |sql: &mut dyn Sql| {
        sql.exec_deferred(
            "INSERT INTO fiscal_docs (terminal_id, fn_number, fd_number, day, doc) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            params![terminal, fn_number, fd, day, doc],
        )
    };
    let add_gap = |sql: &mut dyn Sql, from: i64, to: i64, day: &str| -> Result<(), StoreError> {
        if from <= to {
            sql.exec_deferred(
                "INSERT INTO fd_gaps (terminal_id, fn_number, missing_from, missing_to, day) VALUES ($1, $2, $3, $4, $5)",
                params![terminal, fn_number, from, to, day],
            )?;
        }
        Ok(())
    };
    // The usual case: the next number after the module's highest (a jump opens a gap).
    if let Some(&max) = memo.fiscal_max.get(fn_number) {
        if fd > max {
            insert(sql)?;
            add_gap(sql, max + 1, fd - 1, day)?;
            memo.fiscal_max.insert(fn_number.to_string(), fd);
            return Ok(());
        }
    }
    // One round trip: whether the number is known, a known gap it falls in, the module's
    // number below it and the one above it. (A terminal's records are ingested one batch at a
    // time, under its row lock, so nothing else adds its documents meanwhile.)
    let around = sql.query_one(
        "SELECT
           (SELECT 1 FROM fiscal_docs WHERE terminal_id = $1 AND fn_number = $2 AND fd_number = $3),
           (SELECT missing_from FROM fd_gaps WHERE terminal_id = $1 AND fn_number = $2 AND missing_from <= $3 AND missing_to >= $3 LIMIT 1),
           (SELECT missing_to FROM fd_gaps WHERE terminal_id = $1 AND fn_number = $2 AND missing_from <= $3 AND missing_to >= $3 LIMIT 1),
           (SELECT day FROM fd_gaps WHERE terminal_id = $1 AND fn_number = $2 AND missing_from <= $3 AND missing_to >= $3 LIMIT 1),
           (SELECT MAX(fd_number) FROM fiscal_docs WHERE terminal_id = $1 AND fn_number = $2 AND fd_number < $3),
           (SELECT MIN(fd_number) FROM fiscal_docs WHERE terminal_id = $1 AND fn_number = $2 AND fd_number > $3),
           (SELECT day FROM fiscal_docs WHERE terminal_id = $1 AND fn_number = $2 AND fd_number > $3 ORDER BY fd_number LIMIT 1)",
        params![terminal, fn_number, fd],
    )?;
    let Some(around) = around else {
        return Ok(());
    };
    if around.opt_int(0).is_some() {
        return Ok(());
    }
    insert(sql)?;
    let around = crate::db::Row(around.0[1..].to_vec());
    // The number fills (part of) a known gap: split it.
    if let Some(from) = around.opt_int(0) {
        let to = around.int(1);
        sql.exec(
            "DELETE FROM fd_gaps WHERE terminal_id = $1 AND fn_number = $2 AND missing_from = $3",
            params![terminal, fn_number, from],
        )?;
        add_gap(sql, from, fd - 1, day)?;
        add_gap(sql, fd + 1, to, &around.text(2))?;
        return Ok(());
    }
    // Otherwise it extends the module's numbers up or down; a jump opens a gap.
    if let Some(below) = around.opt_int(3) {
        add_gap(sql, below + 1, fd - 1, day)?;
    }
    match around.opt_int(4) {
        Some(above) => add_gap(sql, fd + 1, above - 1, &around.text(5))?,
        None => {
            memo.fiscal_max.insert(fn_number.to_string(), fd);
        }
    }
    Ok(())
}

/// Clears every projection and replays the whole journal into it. Billing's credited marks are
/// kept: they are not journal facts.
pub fn rebuild(sql: &mut dyn Sql, now: &str) -> Result<u64, StoreError> {
    transaction(sql, |sql| {
        let credited = sql.query(
            "SELECT terminal_id, payment_id, credited_utc FROM payments WHERE credited_utc IS NOT NULL",
            &[],
        )?;
        for table in crate::schema::PROJECTIONS {
            sql.exec(&format!("DELETE FROM {table}"), &[])?;
        }
        let terminals = sql.query("SELECT id FROM terminals ORDER BY id", &[])?;
        let mut n = 0;
        for t in terminals {
            let terminal = t.text(0);
            let tz = crate::terminals::time_zone(sql, &terminal)?;
            let mut memo = BatchMemo::default();
            let mut after = 0i64;
            loop {
                let rows = sql.query(
                    "SELECT seq, time_utc, kind, payload, prev_hash, hash FROM journal
                     WHERE terminal_id = $1 AND seq > $2 ORDER BY seq LIMIT 5000",
                    params![&terminal, after],
                )?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    let rec = JournalRecord {
                        seq: r.int(0).max(0) as u64,
                        time_utc: r.text(1),
                        kind: r.text(2),
                        payload: r.text(3),
                        prev_hash: r.text(4),
                        hash: r.text(5),
                    };
                    after = r.int(0);
                    if let Ok(ev) = JournalEvent::from_payload(&rec.payload) {
                        apply(sql, &terminal, tz, &rec, &ev, now, &mut memo)?;
                    }
                    n += 1;
                }
            }
        }
        for c in credited {
            sql.exec(
                "UPDATE payments SET credited_utc = $3 WHERE terminal_id = $1 AND payment_id = $2",
                params![c.text(0), c.text(1), c.text(2)],
            )?;
        }
        Ok(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_is_inserted_as_printed_only_when_the_batch_shows_nothing_but_prints_after_it() {
        let mut w = crate::testkit::JournalWriter::new("PF", chrono::Utc::now());
        let fiscalised = |id: &str| JournalEvent::ReceiptFiscalised {
            receipt_id: id.into(),
            payment_id: None,
            total_kopecks: 100,
            fiscal: backend_sync::event::FiscalAttributes {
                fn_number: "9282000100000001".into(),
                fd_number: 1,
                fiscal_sign: "0000000001".into(),
                shift_number: 1,
                time: "2026-12-02T10:00".into(),
                qr: String::new(),
            },
            printed_by_register: false,
        };
        let printed = |id: &str| JournalEvent::ReceiptPrinted {
            receipt_id: id.into(),
        };
        let records: Vec<JournalRecord> = [
            fiscalised("A"),
            printed("A"),
            fiscalised("B"),
            JournalEvent::ReceiptUnprinted {
                receipt_id: "B".into(),
                reason: "paper out".into(),
            },
            JournalEvent::ReceiptReprinted {
                receipt_id: "B".into(),
            },
            printed("C"),
            fiscalised("D"),
        ]
        .iter()
        .map(|e| w.push(e, 10))
        .collect();
        let memo = BatchMemo::for_batch(&records);
        // A: printed right away. B: unprinted on the way (its UPDATEs keep the order). C: its
        // receipt came in an earlier batch. D: not printed yet.
        assert_eq!(
            memo.printed_at_insert,
            std::collections::HashSet::from(["A".to_string()])
        );
    }

    #[test]
    fn business_day_is_moscow_time() {
        assert_eq!(business_day("2026-11-27T20:59:59.000Z"), "2026-11-27");
        assert_eq!(business_day("2026-11-27T21:00:00.000Z"), "2026-11-28");
        assert_eq!(business_day("garbage"), "garbage");
        let yekaterinburg: chrono_tz::Tz = "Asia/Yekaterinburg".parse().unwrap();
        assert_eq!(
            business_day_in("2026-11-27T18:59:59.000Z", yekaterinburg),
            "2026-11-27"
        );
        assert_eq!(
            business_day_in("2026-11-27T19:00:00.000Z", yekaterinburg),
            "2026-11-28"
        );
        assert_eq!(
            business_day_in("2026-11-27T21:00:00.000Z", DEFAULT_TIME_ZONE),
            business_day("2026-11-27T21:00:00.000Z")
        );
        assert_eq!(
            local_time("2026-11-27T19:05:00.000Z", yekaterinburg),
            "2026-11-28 00:05 +05"
        );
    }
}
