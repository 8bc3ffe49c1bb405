//! `backend-sync` owns what the terminal and the back office must agree on: the hash-chained
//! journal record ([`record`]), the typed journal events ([`event`]), and (to come) the batch
//! wire types, the outbox kept in the terminal's SQLite journal and the signed HTTP client.

pub mod event;
pub mod record;

pub use event::JournalEvent;
pub use record::{chain_hash, verify_chain, ChainError, JournalRecord, GENESIS_HASH};
