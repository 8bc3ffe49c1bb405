//! Which kiosk owns which card terminal (ZVT BMP 29). A card terminal id belongs to the first kiosk
//! that journals it, or to the kiosk an admin registers it to; settlement lines match only the
//! owner's card operations ([`crate::settlement::rematch`]), so a kiosk that journals another
//! kiosk's terminal id and receipt numbers does not look settled — it raises an incident instead.

use serde::Serialize;

use crate::db::{Sql, StoreError};
use crate::params;

/// A registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardTerminal {
    pub card_terminal_id: String,
    pub terminal_id: String,
    pub registered_utc: String,
    /// `first_seen` or `admin`.
    pub how: String,
}

/// Registers `card_terminal_id` to `terminal` unless it is registered already; returns the owner.
pub fn claim(
    sql: &mut dyn Sql,
    card_terminal_id: &str,
    terminal: &str,
    now: &str,
) -> Result<String, StoreError> {
    sql.exec_deferred(
        "INSERT INTO card_terminals (card_terminal_id, terminal_id, registered_utc, how) VALUES ($1, $2, $3, 'first_seen') ON CONFLICT DO NOTHING",
        params![card_terminal_id, terminal, now],
    )?;
    Ok(sql
        .query_one(
            "SELECT terminal_id FROM card_terminals WHERE card_terminal_id = $1",
            params![card_terminal_id],
        )?
        .map(|r| r.text(0))
        .unwrap_or_else(|| terminal.to_string()))
}

/// Why an admin registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum CardTerminalError {
    #[error("card terminal id must be 1–32 printable ASCII characters: {0:?}")]
    BadId(String),
    #[error("no kiosk {0:?} is registered")]
    NoSuchKiosk(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An admin registers (or moves) a card terminal to a kiosk; every match of that card terminal is
/// recomputed. Returns the previous owner.
pub fn register(
    sql: &mut dyn Sql,
    card_terminal_id: &str,
    terminal: &str,
    now: &str,
) -> Result<Option<String>, CardTerminalError> {
    if card_terminal_id.is_empty()
        || card_terminal_id.len() > 32
        || !card_terminal_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(CardTerminalError::BadId(card_terminal_id.to_string()));
    }
    crate::db::transaction(sql, |sql| {
        if crate::terminals::key_of(sql, terminal)?.is_none() {
            return Err(CardTerminalError::NoSuchKiosk(terminal.to_string()));
        }
        let previous = sql
            .query_one(
                "SELECT terminal_id FROM card_terminals WHERE card_terminal_id = $1",
                params![card_terminal_id],
            )?
            .map(|r| r.text(0));
        sql.exec(
            "INSERT INTO card_terminals (card_terminal_id, terminal_id, registered_utc, how) VALUES ($1, $2, $3, 'admin')
             ON CONFLICT (card_terminal_id) DO UPDATE SET terminal_id = excluded.terminal_id, registered_utc = excluded.registered_utc, how = 'admin'",
            params![card_terminal_id, terminal, now],
        )?;
        crate::settlement::rematch_card_terminal(sql, card_terminal_id)?;
        Ok(previous)
    })
}

pub fn list(sql: &mut dyn Sql) -> Result<Vec<CardTerminal>, StoreError> {
    Ok(sql
        .query(
            "SELECT card_terminal_id, terminal_id, registered_utc, how FROM card_terminals ORDER BY card_terminal_id",
            &[],
        )?
        .into_iter()
        .map(|r| CardTerminal {
            card_terminal_id: r.text(0),
            terminal_id: r.text(1),
            registered_utc: r.text(2),
            how: r.text(3),
        })
        .collect())
}

/// Records that `terminal` journaled a card terminal owned by `owner` (once per pair and id, so a
/// rebuild does not repeat it).
pub fn flag_foreign(
    sql: &mut dyn Sql,
    terminal: &str,
    card_terminal_id: &str,
    owner: &str,
    payment_id: &str,
    now: &str,
) -> Result<(), StoreError> {
    let detail = format!(
        "payment {payment_id}: card terminal {card_terminal_id:?} is registered to kiosk {owner}; its settlement does not count for {terminal}"
    );
    let seen = sql
        .query_one(
            "SELECT 1 FROM incidents WHERE terminal_id = $1 AND code = 'foreign_card_terminal' AND detail = $2",
            params![terminal, &detail],
        )?
        .is_some();
    if !seen {
        crate::incidents::record_in(sql, Some(terminal), "foreign_card_terminal", &detail, now)?;
    }
    Ok(())
}
