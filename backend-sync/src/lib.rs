//! `backend-sync` owns what the terminal and the back office must agree on: the hash-chained
//! journal record ([`record`]), the typed journal events ([`event`]), the versioned wire types
//! ([`wire`]), request signing ([`auth`]), the outbox kept in the terminal's SQLite database
//! ([`outbox`]), the signed HTTP client ([`client`]) and the background syncer ([`syncer`]).

pub mod auth;
pub mod client;
pub mod event;
pub mod outbox;
pub mod record;
pub mod syncer;
pub mod wire;

pub use client::{SyncClient, SyncError};
pub use event::JournalEvent;
pub use record::{chain_hash, verify_chain, ChainError, JournalRecord, GENESIS_HASH};
pub use syncer::{spawn as spawn_syncer, SyncConfig, SyncHandle, SyncStatus, SyncWaker};
pub use wire::{AccountInfo, ContentBundle, Heartbeat, IngestBatch, IngestReply};
