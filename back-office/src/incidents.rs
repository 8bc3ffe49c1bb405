//! Security and integrity incidents: refused signatures, replays, broken chains, unreadable events.
//! Each is stored and logged so that a technician or auditor can see what was refused and why.

use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub time_utc: String,
    pub terminal_id: Option<String>,
    /// `bad_signature`, `replay`, `stale_request`, `chain_broken`, `unknown_terminal`, `unreadable_event`.
    pub code: String,
    pub detail: String,
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

/// The latest incidents, newest first.
pub fn latest(sql: &mut dyn Sql, limit: i64) -> Result<Vec<Incident>, StoreError> {
    Ok(sql
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
        })
        .collect())
}
