//! The printer emulator: an ESC/POS decoder, a printer state machine with faults, a PNG
//! renderer, and a pty front end that real drivers talk to.

pub mod decoder;
mod device;
mod pty;
mod receipt;
mod render;
mod saver;

pub use device::{decode_text, Fault, PrinterCore};
pub use pty::{Emulator, EmulatorHandle};
pub use receipt::{DecodedItem, DecodedLine, DecodedReceipt};
pub use render::{render_png, RenderError};
pub(crate) use saver::ReceiptSaver;
