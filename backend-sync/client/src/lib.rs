//! `sync-client` is the terminal's half of sync: the outbox rows written in the journal's own
//! SQLite transaction, the signed HTTP client and the task that drains the outbox. What it sends
//! (records, wire types, request signing) is the contract in `backend-sync`, which the back office
//! shares; this crate is the only one of the two that needs tokio, reqwest and rusqlite.

pub mod client;
pub mod outbox;
pub mod syncer;

pub use client::{SyncClient, SyncError};
pub use syncer::{spawn as spawn_syncer, SyncConfig, SyncHandle, SyncStatus, SyncWaker};
