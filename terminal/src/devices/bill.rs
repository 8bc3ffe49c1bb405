//! The bill validator task: the `bill-acceptor` driver on one side, the core on the other.
//!
//! A stacked or returned report is handed to the core with an [`Ack`]; the driver is told to
//! acknowledge it to the device only after the core has journaled it, so a crash in between makes
//! the device repeat the report instead of losing it.

use std::collections::BTreeSet;

use backend_sync::JournalEvent;
use bill_acceptor::{BillAcceptor, BillCommand as DriverCommand, BillEvent, RejectKind};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::money::Money;
use crate::runtime::CoreEvent;
use crate::session::{BillCommand, DeviceInput};

/// The customer's words for why a bill came back.
pub fn reject_message(kind: RejectKind) -> String {
    match kind {
        RejectKind::Inhibit | RejectKind::Operation => {
            "Эта купюра сейчас не принимается. Возьмите её.".into()
        }
        RejectKind::Insertion
        | RejectKind::RemainedInHead
        | RejectKind::Conveying
        | RejectKind::Length => "Купюра не принята: вставьте её ровно, по одной, не сгибая.".into(),
        RejectKind::Multiplying => "Вставляйте купюры по одной.".into(),
        RejectKind::Capacity | RejectKind::Stacker => {
            "Купюроприёмник заполнен — оплатите картой.".into()
        }
        _ => "Купюра не распознана. Попробуйте другую купюру.".into(),
    }
}

fn device_state(state: &str, detail: impl Into<String>) -> CoreEvent {
    CoreEvent::Record(JournalEvent::DeviceStateChanged {
        device: "bill_validator".into(),
        state: state.into(),
        detail: detail.into(),
    })
}

/// Runs the task; returns the channel the core sends [`BillCommand`]s to.
pub fn spawn(
    mut acceptor: BillAcceptor,
    core: mpsc::Sender<CoreEvent>,
) -> mpsc::Sender<BillCommand> {
    let (tx, mut commands) = mpsc::channel::<BillCommand>(32);
    tokio::spawn(async move {
        let mut table: BTreeSet<i64> = BTreeSet::new();
        // What the core last asked for, re-applied after Ready or a new cassette.
        let mut wanted: Option<Money> = None;
        let mut last_escrow: Option<Money> = None;
        let mut ready = false;
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    let driver_command = match command {
                        BillCommand::Enable { max_bill } => {
                            wanted = Some(max_bill);
                            DriverCommand::Enable(table.iter().copied().filter(|d| *d <= max_bill.kopecks()).collect())
                        }
                        BillCommand::Disable => {
                            wanted = None;
                            DriverCommand::Disable
                        }
                        BillCommand::Stack => DriverCommand::Stack,
                        BillCommand::Return => DriverCommand::Return,
                    };
                    if acceptor.command(driver_command).await.is_err() {
                        warn!("bill acceptor driver stopped");
                        return;
                    }
                }
                event = acceptor.next_event() => {
                    let Some(event) = event else { return };
                    let to_core = match event {
                        BillEvent::Ready { bill_table, identification } => {
                            table = bill_table.bills.iter().map(|b| b.denomination_kopecks).collect();
                            info!(model = %identification.part_number, bills = table.len(), "bill validator ready");
                            if let Some(max) = wanted {
                                let set = table.iter().copied().filter(|d| *d <= max.kopecks()).collect();
                                let _ = acceptor.command(DriverCommand::Enable(set)).await;
                            }
                            // The screen lists what the validator takes (and the core caps it by the limit).
                            let bills = table.iter().copied().map(Money::from_kopecks).collect();
                            let _ = core.send(CoreEvent::Device(DeviceInput::BillTable(bills), None)).await;
                            if !ready {
                                ready = true;
                                let _ = core.send(CoreEvent::BillReady).await;
                            }
                            Some(device_state("ready", ""))
                        }
                        BillEvent::Escrow { denomination_kopecks } => {
                            let bill = Money::from_kopecks(denomination_kopecks);
                            last_escrow = Some(bill);
                            Some(CoreEvent::Device(DeviceInput::BillEscrow(bill), None))
                        }
                        BillEvent::Stacked { denomination_kopecks, token } => {
                            let bill = denomination_kopecks.map(Money::from_kopecks).or(last_escrow.take()).unwrap_or(Money::ZERO);
                            let (ack, acked) = oneshot::channel();
                            if core.send(CoreEvent::Device(DeviceInput::BillStacked(bill), Some(ack))).await.is_err() || acked.await.is_err() {
                                // The core is gone: do not acknowledge; the device repeats it.
                                return;
                            }
                            let _ = acceptor.confirm(token).await;
                            None
                        }
                        BillEvent::Returned { denomination_kopecks, token } => {
                            let bill = denomination_kopecks.map(Money::from_kopecks).or(last_escrow.take()).unwrap_or(Money::ZERO);
                            let (ack, acked) = oneshot::channel();
                            if core.send(CoreEvent::Device(DeviceInput::BillReturned(bill), Some(ack))).await.is_err() || acked.await.is_err() {
                                return;
                            }
                            let _ = acceptor.confirm(token).await;
                            None
                        }
                        BillEvent::Rejected { reason } => {
                            Some(CoreEvent::Device(DeviceInput::BillRejected { reason: reject_message(reason.kind) }, None))
                        }
                        BillEvent::CassetteFull => Some(device_state("cassette_full", "")),
                        BillEvent::CassetteRemoved => Some(CoreEvent::CassetteRemoved),
                        BillEvent::CassetteInserted => {
                            if let Some(max) = wanted {
                                let set = table.iter().copied().filter(|d| *d <= max.kopecks()).collect();
                                let _ = acceptor.command(DriverCommand::Enable(set)).await;
                            }
                            Some(CoreEvent::Record(JournalEvent::CassetteInserted {}))
                        }
                        BillEvent::Jammed { in_cassette, .. } => {
                            Some(device_state("jammed", if in_cassette { "cassette" } else { "validator" }))
                        }
                        BillEvent::Cheated => Some(device_state("cheated", "")),
                        BillEvent::Failure { failure } => Some(device_state("failure", format!("{:?} code {:#04x}", failure.kind, failure.code))),
                        BillEvent::PowerUp { bill, denomination_kopecks } => {
                            Some(device_state("power_up", format!("bill {bill:?} {denomination_kopecks:?}")))
                        }
                        BillEvent::LinkLost => Some(device_state("link_lost", "")),
                        BillEvent::LinkRestored => Some(device_state("link_restored", "")),
                        BillEvent::CommandRefused { command, why } => {
                            warn!(%command, %why, "bill validator refused a command");
                            None
                        }
                    };
                    if let Some(event) = to_core {
                        if core.send(event).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    tx
}
