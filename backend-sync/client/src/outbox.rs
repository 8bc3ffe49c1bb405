//! The outbox: journal records waiting to reach the back office, kept in the terminal's own SQLite
//! database so that a record and its outbox row are written in one transaction.
//!
//! The terminal calls [`create_schema`] once at start-up and [`enqueue`] inside the same
//! `rusqlite::Transaction` that appends the journal entry. The [`crate::syncer`] reads the rows in
//! `seq` order, ships them, and deletes what the server acknowledged. The queue lives on disk and
//! has no size limit: offline for a month means a month of rows, nothing dropped.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use backend_sync::record::JournalRecord;

/// Tables of the outbox (idempotent).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sync_outbox (
    seq       INTEGER PRIMARY KEY,
    time_utc  TEXT NOT NULL,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    acked_seq    INTEGER NOT NULL,
    last_ack_utc TEXT
);
INSERT OR IGNORE INTO sync_state (id, acked_seq, last_ack_utc) VALUES (1, 0, NULL);
";

/// Creates the outbox tables if they do not exist.
pub fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// Queues a record. Call it inside the transaction that writes the journal entry (a
/// `rusqlite::Transaction` derefs to `Connection`), so both commit or neither does. Queuing the
/// same `seq` twice is an error: the journal's sequence is gap-free and unique.
pub fn enqueue(conn: &Connection, record: &JournalRecord) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_outbox (seq, time_utc, kind, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        seq_to_sql(record.seq),
        record.time_utc,
        record.kind,
        record.payload,
        record.prev_hash,
        record.hash
    ])?;
    Ok(())
}

fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Queues records again (those already queued are kept as they are). For the rare case the back
/// office lost records the outbox already dropped (a server restored from an old backup):
/// [`crate::SyncStatus::server_missing_from`] says from which `seq` to requeue from the journal.
pub fn requeue(conn: &Connection, records: &[JournalRecord]) -> rusqlite::Result<()> {
    for r in records {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO sync_outbox (seq, time_utc, kind, payload, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            seq_to_sql(r.seq),
            r.time_utc,
            r.kind,
            r.payload,
            r.prev_hash,
            r.hash
        ])?;
    }
    Ok(())
}

/// Up to `limit` queued records above the acknowledged sequence, in order.
pub fn pending(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<JournalRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time_utc, kind, payload, prev_hash, hash FROM sync_outbox
         WHERE seq > (SELECT acked_seq FROM sync_state WHERE id = 1)
         ORDER BY seq LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit as i64], |row| {
        Ok(JournalRecord {
            seq: row.get::<_, i64>(0)?.max(0) as u64,
            time_utc: row.get(1)?,
            kind: row.get(2)?,
            payload: row.get(3)?,
            prev_hash: row.get(4)?,
            hash: row.get(5)?,
        })
    })?;
    rows.collect()
}

/// Records that the server holds everything up to `held_up_to`: those rows are deleted. A
/// `held_up_to` below the stored acknowledgement (a server restored from an older backup) moves
/// the acknowledgement back so the rows still queued are sent again.
pub fn acknowledge(conn: &Connection, held_up_to: u64, now_utc: &str) -> rusqlite::Result<()> {
    let held = seq_to_sql(held_up_to);
    conn.prepare_cached("DELETE FROM sync_outbox WHERE seq <= ?1")?
        .execute(params![held])?;
    conn.prepare_cached("UPDATE sync_state SET acked_seq = ?1, last_ack_utc = ?2 WHERE id = 1")?
        .execute(params![held, now_utc])?;
    Ok(())
}

/// Queue figures for status and heartbeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Records waiting to be acknowledged.
    pub queue_len: u64,
    /// Highest sequence number the server acknowledged.
    pub acked_seq: u64,
    /// Age in seconds of the oldest waiting record (0 when none waits).
    pub lag_seconds: u64,
    pub last_ack_utc: Option<String>,
}

/// Reads the queue length, acknowledged sequence and lag at `now`.
pub fn stats(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<OutboxStats> {
    let (acked, last_ack): (i64, Option<String>) = conn
        .prepare_cached("SELECT acked_seq, last_ack_utc FROM sync_state WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, None));
    let (count, oldest): (i64, Option<String>) = conn
        .prepare_cached(
            "SELECT COUNT(*), (SELECT time_utc FROM sync_outbox WHERE seq > ?1 ORDER BY seq LIMIT 1)
             FROM sync_outbox WHERE seq > ?1",
        )?
        .query_row(params![acked], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let lag_seconds = oldest
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| (now - t.with_timezone(&Utc)).num_seconds().max(0) as u64)
        .unwrap_or(0);
    Ok(OutboxStats {
        queue_len: count.max(0) as u64,
        acked_seq: acked.max(0) as u64,
        lag_seconds,
        last_ack_utc: last_ack,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend_sync::record::GENESIS_HASH;

    fn records(n: u64) -> Vec<JournalRecord> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let r = JournalRecord::new(
                    seq,
                    format!("2026-11-27T10:00:{:02}.000Z", seq % 60),
                    "Test".into(),
                    "{}".into(),
                    prev.clone(),
                );
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn a_rolled_back_transaction_leaves_no_outbox_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        create_schema(&conn).unwrap();
        let r = records(2);
        {
            let tx = conn.transaction().unwrap();
            enqueue(&tx, &r[0]).unwrap();
            tx.commit().unwrap();
        }
        {
            let tx = conn.transaction().unwrap();
            enqueue(&tx, &r[1]).unwrap();
            // dropped without commit: rolled back
        }
        assert_eq!(pending(&conn, 10).unwrap(), vec![r[0].clone()]);
    }

    #[test]
    fn acknowledge_drops_rows_and_lag_follows_the_oldest() {
        let conn = Connection::open_in_memory().unwrap();
        create_schema(&conn).unwrap();
        create_schema(&conn).unwrap(); // idempotent
        for r in records(5) {
            enqueue(&conn, &r).unwrap();
        }
        assert!(
            enqueue(&conn, &records(1)[0]).is_err(),
            "duplicate seq refused"
        );
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:01:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let s = stats(&conn, now).unwrap();
        assert_eq!((s.queue_len, s.acked_seq, s.lag_seconds), (5, 0, 59));
        acknowledge(&conn, 3, "2026-11-27T10:01:00.000Z").unwrap();
        let s = stats(&conn, now).unwrap();
        assert_eq!((s.queue_len, s.acked_seq, s.lag_seconds), (2, 3, 56));
        assert_eq!(pending(&conn, 1).unwrap()[0].seq, 4);
        acknowledge(&conn, 5, "x").unwrap();
        assert_eq!(stats(&conn, now).unwrap().lag_seconds, 0);
        assert!(pending(&conn, 10).unwrap().is_empty());
        // A server restored from an old backup holds only 2: requeue the rest from the journal.
        acknowledge(&conn, 2, "x").unwrap();
        requeue(&conn, &records(5)[2..]).unwrap();
        requeue(&conn, &records(5)[2..]).unwrap(); // idempotent
        let seqs: Vec<u64> = pending(&conn, 10).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
    }
}
