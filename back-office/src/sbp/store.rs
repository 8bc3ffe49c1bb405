//! The `sbp_qrs` table: the bank-side state of every СБП QR (not a journal projection; a rebuild
//! leaves it alone), and the one rule of how a state may change ([`transition`]): `Paid` only
//! from the bank's confirmation, and `Paid` never turns into anything but `Refunded`.

use backend_sync::sbp::SbpState;

use super::bank::BankState;
use crate::db::{Row, Sql, StoreError};
use crate::params;

/// One QR as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrRow {
    pub payment_id: String,
    pub terminal_id: String,
    pub account: String,
    pub amount_kopecks: i64,
    pub bank: String,
    pub bank_payment_id: String,
    pub payload: String,
    pub expires_utc: String,
    pub state: SbpState,
    pub bank_status: String,
    pub detail: String,
    pub revoke_requested: bool,
    pub created_utc: String,
    pub updated_utc: String,
    pub day: String,
    pub paid_utc: Option<String>,
    pub checked_utc: Option<String>,
    pub polls: i64,
    pub refunded_kopecks: i64,
    pub refund_reason: Option<String>,
    pub refunded_by: Option<String>,
}

const COLUMNS: &str = "payment_id, terminal_id, account, amount_kopecks, bank, bank_payment_id, payload, expires_utc, state, bank_status, detail, revoke_requested, created_utc, updated_utc, day, paid_utc, checked_utc, polls, refunded_kopecks, refund_reason, refunded_by";

pub fn parse_state(s: &str) -> SbpState {
    match s {
        "paid" => SbpState::Paid,
        "declined" => SbpState::Declined,
        "expired" => SbpState::Expired,
        "revoked" => SbpState::Revoked,
        "refunded" => SbpState::Refunded,
        _ => SbpState::Pending,
    }
}

fn row(r: &Row) -> QrRow {
    QrRow {
        payment_id: r.text(0),
        terminal_id: r.text(1),
        account: r.text(2),
        amount_kopecks: r.int(3),
        bank: r.text(4),
        bank_payment_id: r.text(5),
        payload: r.text(6),
        expires_utc: r.text(7),
        state: parse_state(&r.text(8)),
        bank_status: r.text(9),
        detail: r.text(10),
        revoke_requested: r.int(11) != 0,
        created_utc: r.text(12),
        updated_utc: r.text(13),
        day: r.text(14),
        paid_utc: r.opt_text(15),
        checked_utc: r.opt_text(16),
        polls: r.int(17),
        refunded_kopecks: r.int(18),
        refund_reason: r.opt_text(19),
        refunded_by: r.opt_text(20),
    }
}

pub fn get(sql: &mut dyn Sql, payment_id: &str) -> Result<Option<QrRow>, StoreError> {
    Ok(sql
        .query_one(
            &format!("SELECT {COLUMNS} FROM sbp_qrs WHERE payment_id = $1"),
            params![payment_id],
        )?
        .map(|r| row(&r)))
}

pub fn by_bank_id(sql: &mut dyn Sql, bank_payment_id: &str) -> Result<Option<QrRow>, StoreError> {
    Ok(sql
        .query_one(
            &format!("SELECT {COLUMNS} FROM sbp_qrs WHERE bank_payment_id = $1"),
            params![bank_payment_id],
        )?
        .map(|r| row(&r)))
}

/// Stores a new QR; false when the payment has one already.
pub fn insert(sql: &mut dyn Sql, q: &QrRow, next_poll_utc: &str) -> Result<bool, StoreError> {
    let n = sql.exec(
        "INSERT INTO sbp_qrs (payment_id, terminal_id, account, amount_kopecks, bank, bank_payment_id, payload, expires_utc, state, bank_status, detail, revoke_requested, created_utc, updated_utc, day, next_poll_utc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12, $12, $13, $14) ON CONFLICT DO NOTHING",
        params![&q.payment_id, &q.terminal_id, &q.account, q.amount_kopecks, &q.bank, &q.bank_payment_id, &q.payload, &q.expires_utc, q.state.as_str(), &q.bank_status, &q.detail, &q.created_utc, &q.day, next_poll_utc],
    )?;
    Ok(n == 1)
}

/// The state a QR in `current` takes when the bank reports `reported`, if it changes.
pub fn transition(current: SbpState, reported: SbpState) -> Option<SbpState> {
    use SbpState::*;
    match (current, reported) {
        (c, r) if c == r => None,
        (_, Pending) => None,
        (Pending, r) => Some(r),
        (Paid, Refunded) => Some(Refunded),
        (Paid | Refunded, _) => None,
        // The bank confirmed the money after all: it is credited, never lost.
        (Declined | Expired | Revoked, Paid | Refunded) => Some(reported),
        (Declined | Expired | Revoked, _) => None,
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Unknown,
    Unchanged(QrRow),
    Changed {
        from: SbpState,
        row: QrRow,
    },
    /// The bank confirmed another amount than the QR's: nothing stored.
    AmountMismatch {
        row: QrRow,
        bank_kopecks: i64,
    },
}

/// Records what the bank said of a QR, in one transaction.
pub fn apply(
    sql: &mut dyn Sql,
    payment_id: &str,
    s: &BankState,
    now: &str,
) -> Result<Applied, StoreError> {
    crate::db::transaction(sql, |sql| {
        let Some(cur) = get(sql, payment_id)? else {
            return Ok(Applied::Unknown);
        };
        if s.state == SbpState::Paid {
            if let Some(a) = s.amount_kopecks.filter(|a| *a != cur.amount_kopecks) {
                return Ok(Applied::AmountMismatch {
                    row: cur,
                    bank_kopecks: a,
                });
            }
        }
        let next = transition(cur.state, s.state);
        match next {
            Some(new) => {
                let paid = (new == SbpState::Paid).then_some(now);
                sql.exec(
                    "UPDATE sbp_qrs SET state = $2, bank_status = $3, detail = $4, updated_utc = $5, checked_utc = $5, paid_utc = COALESCE(paid_utc, $6) WHERE payment_id = $1",
                    params![payment_id, new.as_str(), &s.raw_status, &s.detail, now, paid],
                )?;
            }
            None => {
                sql.exec(
                    "UPDATE sbp_qrs SET checked_utc = $2 WHERE payment_id = $1",
                    params![payment_id, now],
                )?;
            }
        }
        let row = get(sql, payment_id)?.unwrap_or(cur.clone());
        Ok(match next {
            Some(_) => Applied::Changed {
                from: cur.state,
                row,
            },
            None => Applied::Unchanged(row),
        })
    })
}

pub fn set_revoke_requested(
    sql: &mut dyn Sql,
    payment_id: &str,
    now: &str,
) -> Result<(), StoreError> {
    sql.exec(
        "UPDATE sbp_qrs SET revoke_requested = 1, updated_utc = $2, next_poll_utc = $2 WHERE payment_id = $1",
        params![payment_id, now],
    )?;
    Ok(())
}

/// Pending QRs whose next poll is due.
pub fn due(sql: &mut dyn Sql, now: &str, limit: i64) -> Result<Vec<QrRow>, StoreError> {
    Ok(sql
        .query(
            &format!("SELECT {COLUMNS} FROM sbp_qrs WHERE state = 'pending' AND next_poll_utc <= $1 ORDER BY next_poll_utc LIMIT $2"),
            params![now, limit],
        )?
        .iter()
        .map(row)
        .collect())
}

pub fn schedule(
    sql: &mut dyn Sql,
    payment_id: &str,
    polls: i64,
    next_poll_utc: &str,
) -> Result<(), StoreError> {
    sql.exec(
        "UPDATE sbp_qrs SET polls = $2, next_poll_utc = $3 WHERE payment_id = $1",
        params![payment_id, polls, next_poll_utc],
    )?;
    Ok(())
}

/// A refund the bank made: the amount, why and who, and the state it left.
pub fn record_refund(
    sql: &mut dyn Sql,
    payment_id: &str,
    amount_kopecks: i64,
    reason: &str,
    by: &str,
    s: &BankState,
    now: &str,
) -> Result<(), StoreError> {
    let state = match transition(SbpState::Paid, s.state) {
        Some(new) => new,
        None => SbpState::Paid,
    };
    sql.exec(
        "UPDATE sbp_qrs SET refunded_kopecks = refunded_kopecks + $2, refund_reason = $3, refunded_by = $4, refunded_utc = $5, updated_utc = $5, state = $6, bank_status = $7 WHERE payment_id = $1 AND state IN ('paid', 'refunded')",
        params![payment_id, amount_kopecks, reason, by, now, state.as_str(), &s.raw_status],
    )?;
    Ok(())
}

/// The QRs created on business day `day`, oldest first.
pub fn of_day(sql: &mut dyn Sql, day: &str) -> Result<Vec<QrRow>, StoreError> {
    Ok(sql
        .query(
            &format!(
                "SELECT {COLUMNS} FROM sbp_qrs WHERE day = $1 ORDER BY created_utc, payment_id"
            ),
            params![day],
        )?
        .iter()
        .map(row)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use SbpState::*;

    #[test]
    fn paid_only_becomes_refunded_and_a_late_confirmation_wins() {
        assert_eq!(transition(Pending, Paid), Some(Paid));
        assert_eq!(transition(Paid, Revoked), None);
        assert_eq!(transition(Paid, Expired), None);
        assert_eq!(transition(Paid, Pending), None);
        assert_eq!(transition(Paid, Refunded), Some(Refunded));
        assert_eq!(transition(Refunded, Paid), None);
        assert_eq!(transition(Revoked, Paid), Some(Paid));
        assert_eq!(transition(Expired, Declined), None);
        assert_eq!(transition(Pending, Pending), None);
    }
}
