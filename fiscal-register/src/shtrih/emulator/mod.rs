//! A wire-level Shtrih-M KKT emulator: a sans-IO core (device link, FN model, commands,
//! faults) and a pty runner that real drivers, pyshtrih and technicians talk to. What it
//! prints comes out as [`Printed`] documents; `receipt-printer` turns them into ESC/POS.

mod core;
mod device_link;
mod model;
mod pty;

pub use self::core::{Fault, KktConfig, KktCore};
pub use model::{Printed, OFD_LIMIT_DAYS};
pub use pty::{KktEmulator, ReceiptSink};
