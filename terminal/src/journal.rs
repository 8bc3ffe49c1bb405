//! The append-only, hash-chained journal: one SQLite file in WAL mode with `synchronous=FULL`, so
//! an entry that `append` returned is on disk. Every money-moving intent and outcome goes here first;
//! sync ships these rows; finance reconciles from them.

use std::io::Write;
use std::path::Path;

use backend_sync::record::{chain_hash, JournalRecord, GENESIS_HASH};
use backend_sync::JournalEvent;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("journal export: {0}")]
    Io(#[from] std::io::Error),
    #[error("journal export: {0}")]
    Csv(#[from] csv::Error),
    #[error("the stored tip (seq {stored}) does not match the last row (seq {found}): the journal was truncated or edited")]
    TipMismatch { stored: u64, found: u64 },
}

/// Why `journal verify` rejected the journal; `seq` is the first bad sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal entry {seq}: {reason}")]
pub struct VerifyError {
    pub seq: u64,
    pub reason: String,
}

/// Export formats for `terminal journal export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS journal (
    seq       INTEGER PRIMARY KEY,
    time_utc  TEXT NOT NULL,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
-- The tip is kept apart so that cutting rows off the end is noticed too.
CREATE TABLE IF NOT EXISTS journal_tip (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
";

/// Formats a time the way the journal stores it.
pub fn format_time(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Something run inside the append transaction, after the row is written (the sync outbox).
pub type AppendHook =
    Box<dyn FnMut(&rusqlite::Transaction<'_>, &JournalRecord) -> rusqlite::Result<()> + Send>;

/// Something run after the append transaction committed (waking the syncer: before the commit it
/// would look at the outbox too early and find nothing).
pub type CommitHook = Box<dyn FnMut(&[JournalRecord]) + Send>;

pub struct Journal {
    conn: Connection,
    tip_seq: u64,
    tip_hash: String,
    hooks: Vec<AppendHook>,
    commit_hooks: Vec<CommitHook>,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let conn = Connection::open(path)?;
        Self::with_connection(conn)
    }

    /// Opens a journal to audit or export it, even when its tip does not match its rows (that is
    /// exactly what `verify` must then report rather than refuse to look at).
    pub fn open_for_audit(path: &Path) -> Result<Journal, JournalError> {
        if !path.exists() {
            return Err(JournalError::Sqlite(rusqlite::Error::InvalidPath(
                path.to_path_buf(),
            )));
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let (tip_seq, tip_hash) = Self::last_row(&conn)?;
        Ok(Journal {
            conn,
            tip_seq,
            tip_hash,
            hooks: Vec::new(),
            commit_hooks: Vec::new(),
        })
    }

    fn last_row(conn: &Connection) -> Result<(u64, String), JournalError> {
        let last: Option<(u64, String)> = conn
            .query_row(
                "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(last.unwrap_or((0, GENESIS_HASH.to_string())))
    }

    /// A journal in memory, for tests and the demo.
    pub fn in_memory() -> Result<Journal, JournalError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(conn: Connection) -> Result<Journal, JournalError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let (tip_seq, tip_hash) = Self::last_row(&conn)?;
        let stored: Option<(u64, String)> = conn
            .query_row("SELECT seq, hash FROM journal_tip WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((stored_seq, _)) = stored {
            if stored_seq != tip_seq {
                return Err(JournalError::TipMismatch {
                    stored: stored_seq,
                    found: tip_seq,
                });
            }
        }
        Ok(Journal {
            conn,
            tip_seq,
            tip_hash,
            hooks: Vec::new(),
            commit_hooks: Vec::new(),
        })
    }

    /// Runs `hook` in the same transaction as every append (used by the sync outbox).
    pub fn add_append_hook(&mut self, hook: AppendHook) {
        self.hooks.push(hook);
    }

    /// Runs `hook` with the new records after every committed append.
    pub fn add_commit_hook(&mut self, hook: CommitHook) {
        self.commit_hooks.push(hook);
    }

    /// The last sequence number written (0 for an empty journal).
    pub fn last_seq(&self) -> u64 {
        self.tip_seq
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Appends one event durably and returns its record.
    pub fn append(
        &mut self,
        event: &JournalEvent,
        now: DateTime<Utc>,
    ) -> Result<JournalRecord, JournalError> {
        let mut records = self.append_all(std::slice::from_ref(event), now)?;
        Ok(records.remove(0))
    }

    /// Appends several events in one transaction (one fsync).
    pub fn append_all(
        &mut self,
        events: &[JournalEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalRecord>, JournalError> {
        let time_utc = format_time(now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut records = Vec::with_capacity(events.len());
        let (mut seq, mut prev) = (self.tip_seq, self.tip_hash.clone());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO journal (seq, time_utc, kind, payload, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for event in events {
                seq += 1;
                let kind = event.kind().to_string();
                let payload = event.canonical_payload();
                let hash = chain_hash(&prev, seq, &time_utc, &kind, &payload);
                insert.execute(params![seq, time_utc, kind, payload, prev, hash])?;
                let record = JournalRecord {
                    seq,
                    time_utc: time_utc.clone(),
                    kind,
                    payload,
                    prev_hash: prev,
                    hash,
                };
                prev = record.hash.clone();
                records.push(record);
            }
        }
        for record in &records {
            for hook in &mut self.hooks {
                hook(&tx, record)?;
            }
        }
        tx.execute(
            "INSERT INTO journal_tip (id, seq, hash) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            params![seq, prev],
        )?;
        tx.commit()?;
        self.tip_seq = seq;
        self.tip_hash = prev;
        for hook in &mut self.commit_hooks {
            hook(&records);
        }
        Ok(records)
    }

    /// Records with `from <= seq <= to`, in order.
    pub fn records(&self, from: u64, to: u64) -> Result<Vec<JournalRecord>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, time_utc, kind, payload, prev_hash, hash FROM journal WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![from, to.min(i64::MAX as u64)], read_record)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every event in order, parsed. Unparseable payloads are an error naming the sequence number.
    pub fn events(&self) -> Result<Vec<(u64, JournalEvent)>, VerifyError> {
        let records = self.records(1, u64::MAX).map_err(|e| VerifyError {
            seq: 0,
            reason: e.to_string(),
        })?;
        records
            .into_iter()
            .map(|r| {
                JournalEvent::from_payload(&r.payload)
                    .map(|e| (r.seq, e))
                    .map_err(|e| VerifyError {
                        seq: r.seq,
                        reason: format!("payload is not a journal event: {e}"),
                    })
            })
            .collect()
    }

    /// Checks the whole chain and the stored tip; returns the number of entries. The entries and
    /// the tip are read in one read transaction: a kiosk appending meanwhile (`journal verify`
    /// on a running terminal, an auditor's copy being written) must not look like a cut-off end.
    pub fn verify(&self) -> Result<u64, VerifyError> {
        let snapshot = self.conn.unchecked_transaction().map_err(|e| VerifyError {
            seq: 0,
            reason: e.to_string(),
        })?;
        let mut stmt = snapshot
            .prepare(
                "SELECT seq, time_utc, kind, payload, prev_hash, hash FROM journal ORDER BY rowid",
            )
            .map_err(|e| VerifyError {
                seq: 0,
                reason: e.to_string(),
            })?;
        let rows = stmt.query_map([], read_record).map_err(|e| VerifyError {
            seq: 0,
            reason: e.to_string(),
        })?;
        let (mut expected_seq, mut prev) = (1u64, GENESIS_HASH.to_string());
        for row in rows {
            let record = row.map_err(|e| VerifyError {
                seq: expected_seq,
                reason: e.to_string(),
            })?;
            if record.seq != expected_seq {
                let reason = if record.seq > expected_seq {
                    format!("missing: the next entry found is {}", record.seq)
                } else {
                    format!("out of order: found entry {} here", record.seq)
                };
                return Err(VerifyError {
                    seq: expected_seq,
                    reason,
                });
            }
            if record.prev_hash != prev {
                return Err(VerifyError {
                    seq: record.seq,
                    reason: "does not chain to the entry before it".into(),
                });
            }
            if record.computed_hash() != record.hash {
                return Err(VerifyError {
                    seq: record.seq,
                    reason: "contents do not match its hash (edited)".into(),
                });
            }
            if JournalEvent::from_payload(&record.payload).is_err() {
                return Err(VerifyError {
                    seq: record.seq,
                    reason: "payload is not a journal event".into(),
                });
            }
            prev = record.hash;
            expected_seq += 1;
        }
        let last = expected_seq - 1;
        let stored: Option<(u64, String)> = snapshot
            .query_row("SELECT seq, hash FROM journal_tip WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| VerifyError {
                seq: last,
                reason: e.to_string(),
            })?;
        if let Some((stored_seq, stored_hash)) = stored {
            if stored_seq != last || stored_hash != prev {
                return Err(VerifyError {
                    seq: last + 1,
                    reason: format!("the journal ends at {last} but its tip says {stored_seq}: entries were cut off"),
                });
            }
        }
        Ok(last)
    }

    /// Writes records `from..=to` as JSON lines or CSV.
    pub fn export(
        &self,
        from: u64,
        to: u64,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<u64, JournalError> {
        let records = self.records(from, to)?;
        match format {
            ExportFormat::Jsonl => {
                for record in &records {
                    serde_json::to_writer(&mut *out, record).map_err(std::io::Error::from)?;
                    out.write_all(b"\n")?;
                }
            }
            ExportFormat::Csv => {
                let mut writer = csv::Writer::from_writer(&mut *out);
                writer.write_record(["seq", "time_utc", "kind", "payload", "prev_hash", "hash"])?;
                for r in &records {
                    writer.write_record([
                        &r.seq.to_string(),
                        &r.time_utc,
                        &r.kind,
                        &r.payload,
                        &r.prev_hash,
                        &r.hash,
                    ])?;
                }
                writer.flush()?;
            }
        }
        Ok(records.len() as u64)
    }
}

fn read_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<JournalRecord> {
    Ok(JournalRecord {
        seq: row.get(0)?,
        time_utc: row.get(1)?,
        kind: row.get(2)?,
        payload: row.get(3)?,
        prev_hash: row.get(4)?,
        hash: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn bill(k: i64) -> JournalEvent {
        JournalEvent::BillStacked {
            payment_id: Some("p1".into()),
            denomination_kopecks: k,
        }
    }

    fn journal_with(n: i64) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let mut j = Journal::open(&path).unwrap();
        for i in 1..=n {
            j.append(&bill(i * 1000), now()).unwrap();
        }
        (dir, path)
    }

    /// Tampering as an attacker with the file would: drop the guards, change rows.
    fn tamper(path: &Path, sql: &str) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;")
            .unwrap();
        conn.execute_batch(sql).unwrap();
    }

    fn verify(path: &Path) -> Result<u64, VerifyError> {
        Journal::open_for_audit(path).unwrap().verify()
    }

    #[test]
    fn an_intact_journal_verifies_and_survives_reopening() {
        let (_dir, path) = journal_with(5);
        assert_eq!(verify(&path), Ok(5));
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.append(&bill(1), now()).unwrap().seq, 6);
        assert_eq!(j.verify(), Ok(6));
    }

    #[test]
    fn the_journal_refuses_updates_and_deletes() {
        let (_dir, path) = journal_with(2);
        let conn = Connection::open(&path).unwrap();
        assert!(conn
            .execute("UPDATE journal SET payload = 'x' WHERE seq = 1", [])
            .is_err());
        assert!(conn
            .execute("DELETE FROM journal WHERE seq = 1", [])
            .is_err());
    }

    #[test]
    fn verify_names_an_edited_amount() {
        let (_dir, path) = journal_with(5);
        tamper(
            &path,
            "UPDATE journal SET payload = replace(payload, '3000', '9000') WHERE seq = 3;",
        );
        assert_eq!(verify(&path).unwrap_err().seq, 3);
    }

    #[test]
    fn verify_names_a_deleted_row() {
        let (_dir, path) = journal_with(5);
        tamper(&path, "DELETE FROM journal WHERE seq = 2;");
        let err = verify(&path).unwrap_err();
        assert_eq!(err.seq, 2, "{err}");
    }

    #[test]
    fn verify_names_two_swapped_rows() {
        let (_dir, path) = journal_with(5);
        tamper(
            &path,
            "UPDATE journal SET seq = -1 WHERE seq = 3;
             UPDATE journal SET seq = 3 WHERE seq = 4;
             UPDATE journal SET seq = 4 WHERE seq = -1;",
        );
        assert_eq!(verify(&path).unwrap_err().seq, 3);
        // Swapping contents but keeping the numbers is caught the same way.
        let (_dir2, path2) = journal_with(5);
        tamper(
            &path2,
            "CREATE TEMP TABLE t AS SELECT * FROM journal WHERE seq IN (3, 4);
             UPDATE journal SET time_utc = (SELECT time_utc FROM t WHERE seq = 4), payload = (SELECT payload FROM t WHERE seq = 4),
                 prev_hash = (SELECT prev_hash FROM t WHERE seq = 4), hash = (SELECT hash FROM t WHERE seq = 4) WHERE seq = 3;
             UPDATE journal SET time_utc = (SELECT time_utc FROM t WHERE seq = 3), payload = (SELECT payload FROM t WHERE seq = 3),
                 prev_hash = (SELECT prev_hash FROM t WHERE seq = 3), hash = (SELECT hash FROM t WHERE seq = 3) WHERE seq = 4;",
        );
        assert_eq!(verify(&path2).unwrap_err().seq, 3);
    }

    #[test]
    fn verify_names_an_inserted_row() {
        let (_dir, path) = journal_with(3);
        tamper(
            &path,
            "INSERT INTO journal (seq, time_utc, kind, payload, prev_hash, hash)
             SELECT 4, time_utc, kind, payload, hash, hash FROM journal WHERE seq = 3;
             UPDATE journal_tip SET seq = 4;",
        );
        assert_eq!(verify(&path).unwrap_err().seq, 4);
    }

    #[test]
    fn verify_notices_entries_cut_off_the_end() {
        let (_dir, path) = journal_with(4);
        tamper(&path, "DELETE FROM journal WHERE seq = 4;");
        assert_eq!(verify(&path).unwrap_err().seq, 4);
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::TipMismatch {
                stored: 4,
                found: 3
            })
        ));
    }

    #[test]
    fn export_writes_jsonl_and_csv() {
        let (_dir, path) = journal_with(3);
        let j = Journal::open(&path).unwrap();
        let mut out = Vec::new();
        assert_eq!(j.export(2, 3, ExportFormat::Jsonl, &mut out).unwrap(), 2);
        let text = String::from_utf8(out).unwrap();
        let first: JournalRecord = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first.seq, 2);
        let mut out = Vec::new();
        j.export(1, 3, ExportFormat::Csv, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 4);
    }
}
