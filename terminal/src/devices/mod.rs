//! Device tasks: each owns one driver, turns its events into the core's inputs and the core's
//! commands into driver calls.

pub mod bill;
pub mod card;
pub mod fiscal;
pub mod lookup;
pub mod receipts;
pub mod recovery;
pub mod sbp;
pub mod scanner;
pub mod sensors;
