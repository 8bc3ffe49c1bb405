//! The Shtrih-M KKT protocol, bottom up: `frame` (bytes), `link` (the ENQ/ACK/NAK handshake),
//! `commands` (typed requests and replies), `session` (the sans-IO host), `register` (the
//! [`crate::FiscalModule`] face with exactly-once fiscalisation over any [`Exchange`]),
//! `driver` (the async serial driver), and `emulator` (a wire-level KKT with its own FN).

pub mod commands;
pub mod driver;
pub mod emulator;
mod errors;
pub mod frame;
pub mod link;
mod port;
mod register;
pub mod session;
pub mod testkit;

pub use commands::{Reply, Request};
pub use driver::{DriverConfig, ShtrihDriver};
pub use errors::{ErrorCode, ShtrihError};
pub use link::LinkConfig;
pub use register::{sale_requests, Exchange, ShtrihRegister};
pub use session::{HostSession, RequestId, SessionEvent};
