//! Ingest of journal batches: idempotent by (terminal id, seq), chain-verified, gap-reporting.
//!
//! A batch must be a self-consistent chain. Records the server already holds must match it hash
//! for hash (a different record under a held sequence number is tampering, refused). The first new
//! record must link to the held tip. A batch that starts beyond the tip is not stored: the reply
//! names the gap and the terminal resends from `held_up_to + 1`. So the stored journal is always
//! gap-free and verified, and every projection is applied (and every alert rule looks at a
//! record) exactly once.

use backend_sync::record::{ChainError, GENESIS_HASH};
use backend_sync::wire::{IngestReply, SeqRange, WIRE_VERSION};
use backend_sync::{JournalEvent, JournalRecord};

use crate::db::{transaction, Sql, StoreError};
use crate::params;
use crate::project;

/// Why a batch was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown terminal {0:?}")]
    UnknownTerminal(String),
    #[error("batch is not a valid chain: {0}")]
    BadBatch(ChainError),
    #[error("record {seq} differs from the record held under that number (held hash {held}, sent {sent})")]
    Conflict {
        seq: u64,
        held: String,
        sent: String,
    },
    #[error(
        "record {seq} does not link to the held record {prev} (prev_hash {sent}, held hash {held})"
    )]
    BrokenLink {
        seq: u64,
        prev: u64,
        held: String,
        sent: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IngestError {
    /// True for refusals that mean the chain was tampered with or forked.
    pub fn is_chain_error(&self) -> bool {
        matches!(
            self,
            IngestError::BadBatch(_)
                | IngestError::Conflict { .. }
                | IngestError::BrokenLink { .. }
        )
    }
}

/// Checks that records form a chain among themselves (consecutive, linked, hashes right).
pub fn check_batch(records: &[JournalRecord]) -> Result<(), ChainError> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let start = (first.seq.saturating_sub(1), first.prev_hash.as_str());
    backend_sync::verify_chain(start, records).map(|_| ())
}

/// Stores a batch for `terminal` in one transaction and projects its new records.
pub fn ingest(
    sql: &mut dyn Sql,
    terminal: &str,
    records: &[JournalRecord],
    now: &str,
) -> Result<IngestReply, IngestError> {
    check_batch(records).map_err(IngestError::BadBatch)?;
    transaction(sql, |sql| {
        let lock = match sql.backend() {
            crate::db::Backend::Postgres => {
                "SELECT held_seq, held_hash FROM terminals WHERE id = $1 FOR UPDATE"
            }
            crate::db::Backend::Sqlite => "SELECT held_seq, held_hash FROM terminals WHERE id = $1",
        };
        let row = sql
            .query_one(lock, params![terminal])?
            .ok_or_else(|| IngestError::UnknownTerminal(terminal.to_string()))?;
        let held = row.int(0).max(0) as u64;
        let held_hash = row.text(1);
        let mut reply = IngestReply {
            version: WIRE_VERSION,
            held_up_to: held,
            accepted: 0,
            duplicates: 0,
            gaps: Vec::new(),
        };
        let Some(first) = records.first() else {
            return Ok(reply);
        };
        if first.seq > held + 1 {
            reply.gaps.push(SeqRange {
                from: held + 1,
                to: first.seq - 1,
            });
            return Ok(reply);
        }
        // Records already held must be the very same records.
        let last = records[records.len() - 1].seq;
        if first.seq <= held {
            let upto = last.min(held);
            let stored = sql.query(
                "SELECT seq, hash FROM journal WHERE terminal_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq",
                params![terminal, first.seq, upto],
            )?;
            for row in stored {
                let seq = row.int(0).max(0) as u64;
                let sent = &records[(seq - first.seq) as usize];
                if sent.hash != row.text(1) {
                    return Err(IngestError::Conflict {
                        seq,
                        held: row.text(1),
                        sent: sent.hash.clone(),
                    });
                }
                reply.duplicates += 1;
            }
        }
        let fresh: Vec<&JournalRecord> = records.iter().filter(|r| r.seq > held).collect();
        if let Some(r) = fresh.first() {
            let tip = if held == 0 {
                GENESIS_HASH
            } else {
                held_hash.as_str()
            };
            if r.prev_hash != tip {
                return Err(IngestError::BrokenLink {
                    seq: r.seq,
                    prev: held,
                    held: tip.to_string(),
                    sent: r.prev_hash.clone(),
                });
            }
        }
        let tz = crate::terminals::time_zone(sql, terminal)?;
        let confirm = crate::alerts::dispatch::confirm_seconds(sql)?;
        let mut memo = project::BatchMemo::for_batch(fresh.iter().copied());
        let mut open_threads = crate::alerts::rules::open_subjects(sql, terminal)?;
        for r in &fresh {
            sql.exec_deferred(
                "INSERT INTO journal (terminal_id, seq, time_utc, kind, payload, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                params![
                    terminal,
                    r.seq,
                    &r.time_utc,
                    &r.kind,
                    &r.payload,
                    &r.prev_hash,
                    &r.hash
                ],
            )?;
            match JournalEvent::from_payload(&r.payload) {
                Ok(ev) if ev.kind() == r.kind => {
                    project::apply(sql, terminal, tz, r, &ev, now, &mut memo)?;
                    // Fresh records only, in the same transaction: each alerts exactly once.
                    crate::alerts::rules::observe(
                        sql,
                        terminal,
                        r,
                        &ev,
                        confirm,
                        now,
                        &mut open_threads,
                    )?;
                }
                Ok(_) | Err(_) => {
                    // Kept in the journal (it is the terminal's signed truth) but flagged: a newer
                    // terminal version or a bug; finance must see it.
                    crate::incidents::record_in(
                        sql,
                        Some(terminal),
                        "unreadable_event",
                        &format!(
                            "record {} of kind {:?} could not be read as that event",
                            r.seq, r.kind
                        ),
                        now,
                    )?;
                }
            }
        }
        if let Some(r) = fresh.last() {
            sql.exec_deferred(
                "UPDATE terminals SET held_seq = $2, held_hash = $3, last_sync_utc = $4 WHERE id = $1",
                params![terminal, r.seq, &r.hash, now],
            )?;
            reply.held_up_to = r.seq;
            reply.accepted = fresh.len() as u32;
        } else {
            sql.exec(
                "UPDATE terminals SET last_sync_utc = $2 WHERE id = $1",
                params![terminal, now],
            )?;
        }
        Ok(reply)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::JournalWriter;
    use proptest::prelude::*;

    fn chain(n: usize) -> Vec<JournalRecord> {
        let mut w = JournalWriter::new("P1", chrono::Utc::now());
        let mut out = Vec::new();
        while out.len() < n {
            out.extend(w.cash_payment("1", &[5_000]));
        }
        out.truncate(n);
        out
    }

    proptest! {
        #[test]
        fn any_edit_of_any_record_is_refused(n in 1usize..12, idx in any::<usize>(), field in 0u8..6, junk in "[a-z0-9]{1,6}") {
            let mut recs = chain(n);
            prop_assert!(check_batch(&recs).is_ok());
            let r = &mut recs[idx % n];
            match field {
                0 => r.seq += 1,
                1 => r.time_utc.push_str(&junk),
                2 => r.kind.push_str(&junk),
                3 => r.payload.push_str(&junk),
                4 => r.prev_hash = format!("{}{junk}", &r.prev_hash[..10]),
                // 'x' is not hex: the edited hash always differs, even when `junk` happens to
                // equal the prefix it replaces.
                _ => r.hash = format!("x{junk}{}", &r.hash[junk.len() + 1..]),
            }
            prop_assert!(check_batch(&recs).is_err());
        }

        #[test]
        fn dropping_or_swapping_records_is_refused(n in 3usize..12, idx in any::<usize>(), swap in any::<bool>()) {
            let mut recs = chain(n);
            let i = 1 + idx % (n - 2);
            if swap { recs.swap(i, i + 1); } else { recs.remove(i); }
            prop_assert!(check_batch(&recs).is_err());
        }
    }
}
