//! Security and integrity incidents: refused signatures, replays, broken chains, unreadable events,
//! a kiosk journaling another kiosk's card terminal. Each is stored and logged so that a technician
//! or auditor can see what was refused and why.
//!
//! Refusals of requests nobody authenticated (forged, unknown terminal, stale, replayed) are not
//! stored one row each — anyone who reaches the port could fill the disk. They are aggregated in
//! [`Aggregator`]: one row per source, kind and window with a count, a bounded number of distinct
//! sources per window (the rest counted under `*`), and past the first few in a window only every
//! [`FLUSH_EVERY`]th refusal touches the database.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: i64,
    /// The latest occurrence.
    pub time_utc: String,
    pub terminal_id: Option<String>,
    /// `bad_signature`, `replay`, `stale_request`, `chain_broken`, `unknown_terminal`,
    /// `unreadable_event`, `missing_auth`, `foreign_card_terminal`.
    pub code: String,
    pub detail: String,
    /// How many times it happened (aggregated refusals), 1 for a single incident.
    pub count: i64,
    /// The source address of aggregated refusals.
    pub source: Option<String>,
}

/// Stores an incident (inside the caller's transaction, if any).
pub fn record_in(
    sql: &mut dyn Sql,
    terminal: Option<&str>,
    code: &str,
    detail: &str,
    now: &str,
) -> Result<(), StoreError> {
    tracing::warn!(terminal = terminal.unwrap_or("-"), code, detail, "incident");
    let detail: String = detail.chars().take(500).collect();
    sql.exec(
        "INSERT INTO incidents (time_utc, terminal_id, code, detail) VALUES ($1, $2, $3, $4)",
        params![now, terminal.map(str::to_string), code, detail],
    )?;
    Ok(())
}

/// The length of an aggregation window.
pub const WINDOW_SECS: i64 = 600;
/// Distinct (source, kind, terminal) keys kept per window; more are counted under source `*`.
pub const MAX_KEYS_PER_WINDOW: usize = 1024;
/// Refusals of one key stored at once in a window; after that every this many are stored.
pub const FLUSH_EVERY: i64 = 50;

/// What an unauthenticated refusal was, for [`Aggregator::note`].
#[derive(Debug, Clone)]
pub struct Refusal {
    pub source: String,
    /// Only a registered terminal's id (a claimed id is attacker-chosen).
    pub terminal: Option<String>,
    pub code: &'static str,
    pub detail: String,
}

/// A write the aggregator asks for: add `count` to the row of `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flush {
    pub key: String,
    pub window_start: i64,
    pub source: String,
    pub count: i64,
}

#[derive(Default)]
struct Window {
    start: i64,
    counts: HashMap<String, i64>,
}

/// Counts unauthenticated refusals in memory and says when to write.
#[derive(Default)]
pub struct Aggregator {
    window: Mutex<Window>,
}

impl Aggregator {
    /// Counts one refusal at unix time `now`; returns the write to do, if any.
    pub fn note(&self, r: &Refusal, now: i64) -> Option<Flush> {
        let start = now - now.rem_euclid(WINDOW_SECS);
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if w.start != start {
            *w = Window {
                start,
                counts: HashMap::new(),
            };
        }
        let key_of = |source: &str| {
            format!(
                "{start}|{source}|{}|{}",
                r.code,
                r.terminal.as_deref().unwrap_or("")
            )
        };
        let mut source = r.source.clone();
        let mut key = key_of(&source);
        if !w.counts.contains_key(&key) && w.counts.len() >= MAX_KEYS_PER_WINDOW {
            source = "*".into();
            key = key_of(&source);
        }
        let n = w.counts.entry(key.clone()).or_insert(0);
        *n += 1;
        let n = *n;
        let count = if n <= 5 {
            1
        } else if (n - 5) % FLUSH_EVERY == 0 {
            FLUSH_EVERY
        } else {
            return None;
        };
        Some(Flush {
            key,
            window_start: start,
            source,
            count,
        })
    }
}

/// Writes an aggregated refusal.
pub fn record_aggregated(
    sql: &mut dyn Sql,
    r: &Refusal,
    f: &Flush,
    now: &str,
) -> Result<(), StoreError> {
    let detail: String = r.detail.chars().take(300).collect();
    let first = chrono::DateTime::from_timestamp(f.window_start, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| now.to_string());
    sql.exec(
        "INSERT INTO incident_counts (agg_key, first_utc, last_utc, source, terminal_id, code, count, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (agg_key) DO UPDATE SET count = incident_counts.count + excluded.count, last_utc = excluded.last_utc",
        params![&f.key, first, now, &f.source, r.terminal.clone(), r.code, f.count, detail],
    )?;
    Ok(())
}

/// The latest incidents of both kinds, newest first.
pub fn latest(sql: &mut dyn Sql, limit: i64) -> Result<Vec<Incident>, StoreError> {
    let mut out: Vec<Incident> = sql
        .query(
            "SELECT id, time_utc, terminal_id, code, detail FROM incidents ORDER BY id DESC LIMIT $1",
            params![limit],
        )?
        .into_iter()
        .map(|r| Incident {
            id: r.int(0),
            time_utc: r.text(1),
            terminal_id: r.opt_text(2),
            code: r.text(3),
            detail: r.text(4),
            count: 1,
            source: None,
        })
        .collect();
    out.extend(
        sql.query(
            "SELECT id, last_utc, terminal_id, code, detail, count, source FROM incident_counts ORDER BY last_utc DESC LIMIT $1",
            params![limit],
        )?
        .into_iter()
        .map(|r| Incident {
            id: r.int(0),
            time_utc: r.text(1),
            terminal_id: r.opt_text(2),
            code: r.text(3),
            detail: r.text(4),
            count: r.int(5),
            source: r.opt_text(6),
        }),
    );
    out.sort_by(|a, b| b.time_utc.cmp(&a.time_utc));
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(source: &str) -> Refusal {
        Refusal {
            source: source.into(),
            terminal: None,
            code: "unknown_terminal",
            detail: "x".into(),
        }
    }

    #[test]
    fn a_flood_from_one_source_is_written_rarely_and_counted_fully() {
        let a = Aggregator::default();
        let mut written = 0;
        let mut counted = 0;
        for _ in 0..1005 {
            if let Some(f) = a.note(&refusal("10.0.0.1"), 1_000_000) {
                written += 1;
                counted += f.count;
            }
        }
        assert_eq!(written, 5 + 20);
        assert_eq!(counted, 1005);
        // A new window starts counting afresh.
        assert_eq!(
            a.note(&refusal("10.0.0.1"), 1_000_000 + WINDOW_SECS)
                .unwrap()
                .count,
            1
        );
    }

    #[test]
    fn distinct_sources_beyond_the_bound_share_one_key() {
        let a = Aggregator::default();
        let mut keys = std::collections::HashSet::new();
        for i in 0..(MAX_KEYS_PER_WINDOW + 500) {
            if let Some(f) = a.note(&refusal(&format!("10.1.{}.{}", i / 256, i % 256)), 60) {
                keys.insert(f.key);
            }
        }
        assert_eq!(keys.len(), MAX_KEYS_PER_WINDOW + 1);
        assert!(keys.iter().any(|k| k.contains("|*|")));
    }
}
