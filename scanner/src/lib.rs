//! Built-in 2D barcode scanners of the kiosk (Honeywell, Zebra, Newland) reading the GOST R
//! 56042-2014 payment QR code of a utility bill.
//!
//! The crate delivers the raw bytes of each scanned code and nothing more: the payload header
//! says which character set it uses (Win-1251, UTF-8, KOI8-R), so decoding belongs to the kiosk.
//!
//! - [`SerialFramer`]: sans-IO framing of a USB-CDC (virtual COM port) scanner's byte stream;
//! - [`HidDecoder`]: sans-IO decoding of a USB HID keyboard-wedge scanner's key events, Alt codes
//!   included; [`hid_events_for`] makes the key events a scanner would type;
//! - [`spawn_serial`] / [`spawn_hid`]: thin blocking adapters on their own threads that report
//!   [`ScannerEvent`]s and reopen a lost device;
//! - [`emulator::ScannerEmulator`]: a USB-CDC scanner on a pty for tests and `--simulate`.

pub mod emulator;
mod hid;
mod hid_io;
mod link;
mod serial;
mod serial_io;

pub use hid::{hid_events_for, HidDecoder, KeyLayout};
pub use hid_io::{spawn_hid, HidScannerConfig};
pub use link::ScannerEvent;
pub use serial::{SerialFramer, SerialFraming};
pub use serial_io::{spawn_serial, SerialScannerConfig};

/// One thing the scanner delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// The bytes of one code, terminator stripped.
    Code(Vec<u8>),
    /// A code longer than the limit: its bytes were dropped up to the next terminator.
    Overlong { len: usize },
    /// Key events that cannot be bytes (an Alt code above 255, an unmapped key) — the code is
    /// dropped.
    Unreadable { reason: String },
}

/// The longest code kept. A QR code carries at most 2953 bytes; the margin is for scanners that
/// add a prefix (AIM symbology identifier) or other framing of their own.
pub const MAX_CODE_BYTES: usize = 4096;
