//! Terminal registration, keys, time zones and heartbeats.

use backend_sync::record::GENESIS_HASH;
use backend_sync::wire::Heartbeat;
use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// Why a registration failed.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("terminal id must be 1–32 characters of A–Z, a–z, 0–9, '-' or '_': {0:?}")]
    BadId(String),
    #[error("terminal {0:?} is already registered (use --rotate-key to issue a new key)")]
    Exists(String),
    #[error("terminal {0:?} is not registered")]
    NotRegistered(String),
    #[error("{0:?} is not an IANA time zone (e.g. Europe/Moscow, Asia/Yekaterinburg)")]
    BadTimeZone(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Registers a terminal and returns its new hex key. With `rotate`, an existing terminal gets a
/// new key (the old one stops working at once) and keeps its journal.
pub fn add(sql: &mut dyn Sql, id: &str, rotate: bool, now: &str) -> Result<String, TerminalError> {
    if !valid_id(id) {
        return Err(TerminalError::BadId(id.to_string()));
    }
    let key = backend_sync::auth::generate_key_hex();
    let inserted = sql.exec(
        "INSERT INTO terminals (id, key_hex, created_utc, held_hash) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        params![id, &key, now, GENESIS_HASH],
    )?;
    if inserted == 0 {
        if !rotate {
            return Err(TerminalError::Exists(id.to_string()));
        }
        sql.exec(
            "UPDATE terminals SET key_hex = $2 WHERE id = $1",
            params![id, &key],
        )?;
    }
    Ok(key)
}

/// A terminal's time zone (IANA name), the default when none was set or it no longer parses.
pub fn time_zone(sql: &mut dyn Sql, id: &str) -> Result<chrono_tz::Tz, StoreError> {
    Ok(sql
        .query_one(
            "SELECT time_zone FROM terminal_settings WHERE terminal_id = $1",
            params![id],
        )?
        .and_then(|r| r.text(0).parse().ok())
        .unwrap_or(crate::project::DEFAULT_TIME_ZONE))
}

/// Sets a terminal's time zone; its business days move with it after the caller's
/// [`crate::project::rebuild`].
pub fn set_time_zone(
    sql: &mut dyn Sql,
    id: &str,
    tz: &str,
) -> Result<chrono_tz::Tz, TerminalError> {
    let parsed: chrono_tz::Tz = tz
        .parse()
        .map_err(|_| TerminalError::BadTimeZone(tz.to_string()))?;
    if key_of(sql, id)?.is_none() {
        return Err(TerminalError::NotRegistered(id.to_string()));
    }
    sql.exec(
        "INSERT INTO terminal_settings (terminal_id, time_zone) VALUES ($1, $2)
         ON CONFLICT (terminal_id) DO UPDATE SET time_zone = excluded.time_zone",
        params![id, parsed.name()],
    )?;
    Ok(parsed)
}

/// The key of an enabled terminal.
pub fn key_of(sql: &mut dyn Sql, id: &str) -> Result<Option<String>, StoreError> {
    Ok(sql
        .query_one(
            "SELECT key_hex FROM terminals WHERE id = $1 AND enabled = 1",
            params![id],
        )?
        .map(|r| r.text(0)))
}

/// Remembers a nonce; false if it was seen before (a replay). Old nonces are pruned.
pub fn use_nonce(sql: &mut dyn Sql, id: &str, nonce: &str, ts: i64) -> Result<bool, StoreError> {
    let fresh = sql.exec(
        "INSERT INTO nonces (terminal_id, nonce, ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        params![id, nonce, ts],
    )? == 1;
    if fresh && rand::random::<u8>() == 0 {
        let horizon = ts - 4 * backend_sync::auth::REPLAY_WINDOW_SECS;
        sql.exec(
            "DELETE FROM nonces WHERE terminal_id = $1 AND ts < $2",
            params![id, horizon],
        )?;
    }
    Ok(fresh)
}

/// Stores the latest heartbeat.
pub fn heartbeat(sql: &mut dyn Sql, beat: &Heartbeat, now: &str) -> Result<(), StoreError> {
    let json = serde_json::to_string(beat).unwrap_or_default();
    sql.exec(
        "UPDATE terminals SET last_heartbeat_utc = $2, heartbeat_json = $3 WHERE id = $1",
        params![&beat.terminal_id, now, json],
    )?;
    Ok(())
}

/// A registered terminal, as listed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TerminalRow {
    pub id: String,
    pub held_seq: i64,
    pub last_sync_utc: Option<String>,
    pub last_heartbeat_utc: Option<String>,
    pub heartbeat: Option<Heartbeat>,
    /// Where the terminal stands: its business days and the times shown for it.
    #[serde(serialize_with = "tz_name")]
    pub time_zone: chrono_tz::Tz,
}

fn tz_name<S: serde::Serializer>(tz: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

pub fn list(sql: &mut dyn Sql) -> Result<Vec<TerminalRow>, StoreError> {
    Ok(sql
        .query(
            "SELECT t.id, t.held_seq, t.last_sync_utc, t.last_heartbeat_utc, t.heartbeat_json, s.time_zone
             FROM terminals t LEFT JOIN terminal_settings s ON s.terminal_id = t.id ORDER BY t.id",
            &[],
        )?
        .into_iter()
        .map(|r| TerminalRow {
            id: r.text(0),
            held_seq: r.int(1),
            last_sync_utc: r.opt_text(2),
            last_heartbeat_utc: r.opt_text(3),
            heartbeat: r.opt_text(4).and_then(|j| serde_json::from_str(&j).ok()),
            time_zone: r
                .opt_text(5)
                .and_then(|z| z.parse().ok())
                .unwrap_or(crate::project::DEFAULT_TIME_ZONE),
        })
        .collect())
}
