//! A reference host for tests and benchmarks: the money rules a kiosk must follow, in a few
//! lines, plus an in-memory link between [`HostCore`] and the emulated [`DeviceCore`] under a
//! fake clock. The terminal keeps its own journal; this mirrors what it must do with events.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::emulator::{DeviceCore, Timing, ValidatorModel};
use crate::host::{BillCommand, BillEvent, BillLocation, HostCommand, HostConfig, HostCore};
use crate::protocol::Protocol;

/// The journal stand-in: credits on stacked (or a power-up with the requested bill in the
/// stacker), once; tells the customer what happened.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Denominations the session takes (kopecks); empty = all in the table.
    pub allowed: BTreeSet<i64>,
    /// Payment limit: a bill that would exceed it is returned.
    pub limit_kopecks: Option<i64>,
    pub credited: BTreeMap<i64, u32>,
    /// The journaled "stack requested" intent not yet resolved (denomination).
    pub open_intent: Option<i64>,
    /// What the customer was told, in order.
    pub told: Vec<String>,
    /// Outcomes the ledger could not resolve (must stay empty in tests).
    pub unresolved: Vec<String>,
    /// Make escrow decisions (false: leave the bill in escrow).
    pub hold_decisions: bool,
    /// Confirm stacked/returned reports (false: as if the journal write never happened).
    pub hold_confirms: bool,
    pub events: Vec<BillEvent>,
    table: BTreeSet<i64>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn credited_total(&self) -> i64 {
        self.credited.iter().map(|(d, n)| d * i64::from(*n)).sum()
    }

    fn credit(&mut self, denomination: i64, why: &str) {
        *self.credited.entry(denomination).or_default() += 1;
        self.told
            .push(format!("Зачислено {} ₽{why}", denomination / 100));
    }

    fn enable_command(&self) -> HostCommand {
        let set = if self.allowed.is_empty() {
            self.table.clone()
        } else {
            self.allowed.clone()
        };
        HostCommand::Bill(BillCommand::Enable(set))
    }

    /// React to one event; returns what to send back to the driver.
    pub fn on_event(&mut self, event: &BillEvent) -> Vec<HostCommand> {
        self.events.push(event.clone());
        let mut out = Vec::new();
        match event {
            BillEvent::Ready { bill_table, .. } => {
                self.table = bill_table
                    .bills
                    .iter()
                    .map(|b| b.denomination_kopecks)
                    .collect();
                out.push(self.enable_command());
            }
            BillEvent::Escrow {
                denomination_kopecks: d,
            } => {
                if self.hold_decisions {
                    return out;
                }
                let within_limit = self
                    .limit_kopecks
                    .is_none_or(|limit| self.credited_total() + d <= limit);
                let allowed = self.allowed.is_empty() || self.allowed.contains(d);
                if within_limit && allowed {
                    // Journal "stack requested" (fsync) before the command goes out.
                    self.open_intent = Some(*d);
                    out.push(HostCommand::Bill(BillCommand::Stack));
                } else {
                    self.told
                        .push("Сумма превышает лимит платежа: купюра будет возвращена".into());
                    out.push(HostCommand::Bill(BillCommand::Return));
                }
            }
            BillEvent::Stacked {
                denomination_kopecks,
                token,
            } => {
                if self.hold_confirms {
                    return out;
                }
                match (self.open_intent.take(), denomination_kopecks) {
                    (Some(intent), Some(d)) if intent != *d => {
                        self.unresolved
                            .push(format!("stacked {d} while {intent} was requested"));
                        self.credit(*d, "");
                    }
                    (Some(intent), _) => self.credit(intent, ""),
                    // Already journaled before a restart: a repeat, not a new bill.
                    (None, _) => {}
                }
                out.push(HostCommand::Confirm(*token));
            }
            BillEvent::Returned { token, .. } => {
                if self.hold_confirms {
                    return out;
                }
                if self.open_intent.take().is_some() {
                    self.unresolved
                        .push("returned after stack was requested".into());
                }
                self.told.push("Купюра возвращена, заберите её".into());
                out.push(HostCommand::Confirm(*token));
            }
            BillEvent::PowerUp { bill, .. } => match (bill, self.open_intent.take()) {
                (Some(BillLocation::Stacker), Some(d)) => self.credit(d, " (после сбоя питания)"),
                (Some(BillLocation::Validator), Some(_))
                | (Some(BillLocation::Validator), None) => {
                    self.told
                        .push("Сбой питания: купюра будет возвращена, заберите её".into());
                }
                (None, Some(d)) => self.unresolved.push(format!(
                    "power-up without a bill while {d} was being stacked"
                )),
                (Some(BillLocation::Stacker), None) | (None, None) => {}
            },
            BillEvent::Rejected { .. } => self.told.push("Купюра не принята, заберите её".into()),
            BillEvent::CassetteFull | BillEvent::CassetteRemoved => self
                .told
                .push("Приём наличных временно недоступен, оплатите картой".into()),
            BillEvent::CassetteInserted => out.push(self.enable_command()),
            BillEvent::Jammed { .. } | BillEvent::Failure { .. } => self
                .told
                .push("Купюроприёмник неисправен, обратитесь к сотруднику".into()),
            BillEvent::Cheated => self.told.push("Операция с купюрой прервана".into()),
            BillEvent::LinkLost => self.told.push("Приём наличных временно недоступен".into()),
            BillEvent::LinkRestored
            | BillEvent::CommandRefused { .. }
            | BillEvent::FaultCleared => {}
        }
        out
    }
}

/// Host core and emulated device joined by an in-memory line under a fake clock.
pub struct Sim {
    pub host: HostCore,
    pub device: DeviceCore,
    pub ledger: Ledger,
    pub now: Instant,
    /// Line cut: bytes in both directions are lost.
    pub cut: bool,
    /// Crash the host when the next stacked report arrives, before the ledger sees it.
    pub crash_on_stacked: bool,
}

impl Sim {
    pub fn new(protocol: Protocol) -> Self {
        let now = Instant::now();
        let cfg = HostConfig {
            poll_interval: Duration::from_millis(100),
            reply_timeout: Duration::from_millis(100),
            relink_interval: Duration::from_millis(500),
            ..HostConfig::default()
        };
        Self {
            host: HostCore::new(protocol.wire(), cfg, now),
            device: DeviceCore::new(
                protocol.wire(),
                ValidatorModel::new(protocol, Timing::fast()),
            ),
            ledger: Ledger::new(),
            now,
            cut: false,
            crash_on_stacked: false,
        }
    }

    /// Replace the host (a restarted terminal/driver) keeping the device and the ledger.
    pub fn restart_host(&mut self) {
        let cfg = HostConfig {
            poll_interval: Duration::from_millis(100),
            reply_timeout: Duration::from_millis(100),
            relink_interval: Duration::from_millis(500),
            ..HostConfig::default()
        };
        let protocol = self.device_protocol();
        self.host = HostCore::new(protocol.wire(), cfg, self.now);
    }

    fn device_protocol(&self) -> Protocol {
        self.device.protocol()
    }

    /// Advance the clock by `dt` in 1 ms steps, moving bytes and events.
    pub fn run(&mut self, dt: Duration) {
        let end = self.now + dt;
        while self.now < end {
            self.now += Duration::from_millis(1);
            self.exchange();
        }
    }

    /// Run until `pred` holds or `limit` passes; true if it held.
    pub fn run_until(&mut self, limit: Duration, mut pred: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if pred(self) {
                return true;
            }
            self.now += Duration::from_millis(1);
            self.exchange();
        }
        pred(self)
    }

    fn exchange(&mut self) {
        let now = self.now;
        if now >= self.host.poll_timeout() {
            self.host.handle_timeout(now);
        }
        while let Some(bytes) = self.host.poll_transmit() {
            if !self.cut {
                self.device.handle_input(&bytes, now);
            }
        }
        while let Some(bytes) = self.device.poll_transmit(now) {
            if !self.cut {
                self.host.handle_input(&bytes, now);
            }
        }
        while let Some(event) = self.host.poll_event() {
            if self.crash_on_stacked && matches!(event, BillEvent::Stacked { .. }) {
                self.crash_on_stacked = false;
                self.restart_host();
                return;
            }
            for cmd in self.ledger.on_event(&event) {
                self.host.handle_command(cmd, now);
            }
        }
    }
}
