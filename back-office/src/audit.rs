//! The audit log of what people did: logins, failed logins, logouts, role changes, users, tokens,
//! terminal keys and finance imports. Append-only; shown to admins. Never holds a secret.

use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub time_utc: String,
    /// Who acted: a user name, `cli` for the command line, `-` for an unknown person.
    pub actor: String,
    /// `login`, `login_failed`, `logout`, `user_added`, `role_changed`, `user_disabled`,
    /// `token_added`, `token_revoked`, `terminal_added`, `key_rotated`, `card_terminal_registered`,
    /// `settlement_imported`, `credited_imported`.
    pub action: String,
    pub target: String,
    pub source: String,
    pub detail: String,
}

/// Who did what, for [`record`].
pub struct Act<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub source: &'a str,
    pub detail: &'a str,
}

/// Appends an entry (inside the caller's transaction, if any).
pub fn record(sql: &mut dyn Sql, act: &Act<'_>, now: &str) -> Result<(), StoreError> {
    tracing::info!(
        actor = act.actor,
        action = act.action,
        target = act.target,
        source = act.source,
        "audit"
    );
    let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    sql.exec(
        "INSERT INTO audit (time_utc, actor, action, target, source, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        params![now, clip(act.actor, 64), act.action, clip(act.target, 128), clip(act.source, 64), clip(act.detail, 300)],
    )?;
    Ok(())
}

/// The newest entries first.
pub fn latest(sql: &mut dyn Sql, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
    Ok(sql
        .query(
            "SELECT id, time_utc, actor, action, target, source, detail FROM audit ORDER BY id DESC LIMIT $1",
            params![limit],
        )?
        .into_iter()
        .map(|r| AuditEntry {
            id: r.int(0),
            time_utc: r.text(1),
            actor: r.text(2),
            action: r.text(3),
            target: r.text(4),
            source: r.text(5),
            detail: r.text(6),
        })
        .collect())
}
