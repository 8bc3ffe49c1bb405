//! Bill acceptors for the kiosk: CashCode CCNET (primary) and JCM ID003.
//!
//! - [`frame`], [`ccnet`], [`id003`]: sans-IO codecs (framing with CRC-16/KERMIT, commands,
//!   poll states, identification, bill tables);
//! - [`host`]: the sans-IO validator session both protocols share ([`WireProtocol`] is the one
//!   trait that differs per protocol);
//! - [`driver`]: the tokio task owning the port ([`spawn_driver`] → [`BillAcceptor`]);
//! - [`emulator`]: a validator speaking the real bytes on a pty, with scripted faults.

pub mod ccnet;
pub mod crc;
pub mod driver;
pub mod emulator;
pub mod frame;
pub mod host;
pub mod id003;
pub mod model;
pub mod port;
pub mod protocol;
pub mod testkit;

pub use driver::{spawn_driver, BillAcceptor, DriverConfig, DriverError};
pub use emulator::{Emulator, EmulatorConfig, EmulatorError, EmulatorHandle, Timing};
pub use host::{
    BillCommand, BillEvent, BillLocation, HostCommand, HostConfig, HostCore, ReportToken,
};
pub use model::{
    BillTable, BillType, DeviceStatus, FailureCode, FailureKind, Identification, RejectKind,
    RejectReason,
};
pub use protocol::{Protocol, WireProtocol};
