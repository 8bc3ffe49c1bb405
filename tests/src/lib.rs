//! `tests` is the home of end-to-end tests that span crates and need none of one crate's binaries.
//!
//! The end-to-end tests written so far drive the `terminal` binary itself (`CARGO_BIN_EXE_terminal`
//! is only visible inside its own package), so they live in `terminal/tests/`: `kill_cash.rs`
//! (SIGKILL during cash insertions against the CCNET emulator), `ui_flows.rs` (customer flows
//! through the real screens, core, journal and emulators) and `cli.rs`. Cross-crate flows that do
//! not need the binary — the terminal's outbox syncing to an embedded back office, card payments
//! through the ZVT emulator — belong here as they are wired.
//!
//! `tests/dependency_rules.rs` checks the workspace's dependency rules against `cargo metadata`:
//! device crates and the screens import no kiosk crate; the pure cores (`kiosk-core`,
//! `kiosk-health`) and the sync contract do no I/O; the back office compiles only the sync
//! contract; only `terminal` (for `run --simulate`) and tests import the back office.
//! `tests/module_cycles.rs` checks that no crate's modules name each other in a cycle (the two
//! crates that still have one are listed there).
