//! `backend-sync` owns what the terminal and the back office must agree on: the hash-chained
//! journal record ([`record`]), the typed journal events ([`event`]), the versioned wire types
//! ([`wire`], and the СБП QR endpoints' [`sbp`]) and request signing ([`auth`]). It does no I/O: the terminal's outbox, HTTP client
//! and syncer are in `sync-client`, so the back office compiles only this contract.

pub mod auth;
pub mod event;
pub mod record;
pub mod sbp;
pub mod wire;

pub use event::JournalEvent;
pub use record::{chain_hash, verify_chain, ChainError, JournalRecord, GENESIS_HASH};
pub use wire::{AccountInfo, ContentBundle, Heartbeat, IngestBatch, IngestReply};
