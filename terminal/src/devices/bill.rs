//! The bill validator task: the `bill-acceptor` driver on one side, the core on the other.
//!
//! A stacked or returned report is handed to the core with an [`Ack`]; the driver is told to
//! acknowledge it to the device only after the core has journaled it, so a crash in between makes
//! the device repeat the report instead of losing it.
//!
//! The task translates and decides nothing about money: jams, power-ups and the bill reports go
//! to the session core as they are (a report without its denomination as zero: the core knows
//! which bill it asked to stack). What it keeps is the device's *condition* for the health desk:
//! a jam or a missing cassette stays "down" across resets and port re-opens until the validator
//! shows it is over.

use std::collections::BTreeSet;

use backend_sync::JournalEvent;
use bill_acceptor::{
    spawn_driver, BillAcceptor, BillCommand as DriverCommand, BillEvent, DriverConfig, RejectKind,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::health::{Device, DeviceCondition, FaultKind};
use crate::money::Money;
use crate::runtime::CoreEvent;
use crate::session::{BillCommand, BillPlace, DeviceInput};

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

fn health(condition: DeviceCondition) -> CoreEvent {
    CoreEvent::Health(Device::BillValidator, condition)
}

fn down(kind: FaultKind, detail: &str) -> CoreEvent {
    health(DeviceCondition::Down {
        kind,
        detail: detail.into(),
    })
}

/// The validator's condition: a fault only hands can clear first, then one in the bill path.
fn condition(attendant_fault: Option<&'static str>, path_fault: &Option<String>) -> CoreEvent {
    match (attendant_fault, path_fault) {
        (Some(why), _) => down(FaultKind::NeedsAttendant, why),
        (None, Some(why)) => down(FaultKind::Hardware, why),
        (None, None) => health(DeviceCondition::Up),
    }
}

/// Runs the task; returns the channel the core sends [`BillCommand`]s to.
pub fn spawn(acceptor: BillAcceptor, core: mpsc::Sender<CoreEvent>) -> mpsc::Sender<BillCommand> {
    let (tx, commands) = mpsc::channel::<BillCommand>(32);
    tokio::spawn(run(acceptor, None, commands, core));
    tx
}

/// Like [`spawn`], and the returned second channel asks the task to close the port and start
/// the driver afresh on `config` (the recovery ladder's "reopen port"; the driver's start-up
/// includes the protocol reset).
pub fn spawn_reopenable(
    acceptor: BillAcceptor,
    config: DriverConfig,
    core: mpsc::Sender<CoreEvent>,
) -> (mpsc::Sender<BillCommand>, mpsc::Sender<()>) {
    let (tx, commands) = mpsc::channel::<BillCommand>(32);
    let (reopen_tx, reopen_rx) = mpsc::channel::<()>(2);
    tokio::spawn(run(acceptor, Some((config, reopen_rx)), commands, core));
    (tx, reopen_tx)
}

/// Closes the port and starts the driver afresh on it (its start-up sends the RESET); a port that
/// does not open is reported to the health desk.
async fn reopen_port(
    acceptor: &mut BillAcceptor,
    config: &DriverConfig,
    core: &mpsc::Sender<CoreEvent>,
) {
    info!(port = %config.port.display(), "re-opening the bill validator port");
    // The port is opened exclusively: the old driver must let go of it first.
    acceptor.close().await;
    match spawn_driver(config.clone()).await {
        Ok(fresh) => *acceptor = fresh,
        Err(e) => {
            warn!(error = %e, "bill validator port did not re-open");
            let _ = core
                .send(down(FaultKind::Communication, "port does not open"))
                .await;
        }
    }
}

async fn run(
    mut acceptor: BillAcceptor,
    mut reopen: Option<(DriverConfig, mpsc::Receiver<()>)>,
    mut commands: mpsc::Receiver<BillCommand>,
    core: mpsc::Sender<CoreEvent>,
) {
    {
        let mut table: BTreeSet<i64> = BTreeSet::new();
        // What the core last asked for, re-applied after Ready or a new cassette.
        let mut wanted: Option<Money> = None;
        let mut ready = false;
        // A jam or failure in the bill path: down until the validator shows it is over (a reset
        // or re-open that leaves it jammed is no recovery).
        let mut path_fault: Option<String> = None;
        // A fault only hands can clear (full or missing cassette, a bill stuck in it): a reset or
        // power cycle makes the validator "ready" again, but it still cannot take money until the
        // cassette comes back.
        let mut attendant_fault: Option<&'static str> = None;
        loop {
            let reopen_requested = async {
                match &mut reopen {
                    Some((_, rx)) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(()) = reopen_requested => {
                    let Some((config, _)) = &reopen else { continue };
                    reopen_port(&mut acceptor, config, &core).await;
                }
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
                        let _ = core.send(down(FaultKind::Communication, "driver stopped")).await;
                        if reopen.is_none() {
                            return;
                        }
                    }
                }
                event = acceptor.next_event() => {
                    let Some(event) = event else {
                        let _ = core.send(down(FaultKind::Communication, "driver stopped")).await;
                        if reopen.is_none() {
                            return;
                        }
                        // Wait for the ladder to re-open the port.
                        let Some((config, rx)) = &mut reopen else { return };
                        if rx.recv().await.is_none() {
                            return;
                        }
                        reopen_port(&mut acceptor, config, &core).await;
                        continue;
                    };
                    let to_core: Vec<CoreEvent> = match event {
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
                            vec![condition(attendant_fault, &path_fault)]
                        }
                        BillEvent::Escrow { denomination_kopecks } => {
                            let bill = Money::from_kopecks(denomination_kopecks);
                            vec![CoreEvent::Device(DeviceInput::BillEscrow(bill), None)]
                        }
                        BillEvent::Stacked { denomination_kopecks, token } => {
                            let bill = Money::from_kopecks(denomination_kopecks.unwrap_or(0));
                            let (ack, acked) = oneshot::channel();
                            if core.send(CoreEvent::Device(DeviceInput::BillStacked(bill), Some(ack))).await.is_err() || acked.await.is_err() {
                                // The core is gone: do not acknowledge; the device repeats it.
                                return;
                            }
                            let _ = acceptor.confirm(token).await;
                            vec![]
                        }
                        BillEvent::Returned { denomination_kopecks, token } => {
                            let bill = Money::from_kopecks(denomination_kopecks.unwrap_or(0));
                            let (ack, acked) = oneshot::channel();
                            if core.send(CoreEvent::Device(DeviceInput::BillReturned(bill), Some(ack))).await.is_err() || acked.await.is_err() {
                                return;
                            }
                            let _ = acceptor.confirm(token).await;
                            vec![]
                        }
                        BillEvent::Rejected { reason } => {
                            vec![CoreEvent::Device(DeviceInput::BillRejected { reason: reject_message(reason.kind) }, None)]
                        }
                        BillEvent::CassetteFull => {
                            attendant_fault = Some("cassette full");
                            vec![down(FaultKind::NeedsAttendant, "cassette full")]
                        }
                        BillEvent::CassetteRemoved => {
                            attendant_fault = Some("cassette removed");
                            vec![CoreEvent::CassetteRemoved, down(FaultKind::NeedsAttendant, "cassette removed")]
                        }
                        BillEvent::CassetteInserted => {
                            if let Some(max) = wanted {
                                let set = table.iter().copied().filter(|d| *d <= max.kopecks()).collect();
                                let _ = acceptor.command(DriverCommand::Enable(set)).await;
                            }
                            attendant_fault = None;
                            vec![CoreEvent::Record(JournalEvent::CassetteInserted {}), condition(attendant_fault, &path_fault)]
                        }
                        // A bill stuck in the cassette needs hands; one in the validator's path may
                        // come free with a reset or a power cycle.
                        BillEvent::Jammed { in_cassette, denomination_kopecks } => {
                            let jammed = DeviceInput::BillJammed { denomination: denomination_kopecks.map(Money::from_kopecks) };
                            let why = if in_cassette { "bill jammed in the cassette" } else { "bill jammed in the validator" };
                            if in_cassette {
                                attendant_fault = Some(why);
                            } else {
                                path_fault = Some(why.into());
                            }
                            vec![CoreEvent::Device(jammed, None), condition(attendant_fault, &path_fault)]
                        }
                        BillEvent::FaultCleared => {
                            path_fault = None;
                            if attendant_fault == Some("bill jammed in the cassette") {
                                attendant_fault = None;
                            }
                            vec![condition(attendant_fault, &path_fault)]
                        }
                        BillEvent::Cheated => vec![device_state("cheated", "")],
                        BillEvent::Failure { failure } => {
                            path_fault = Some(format!("failure {:?} code {:#04x}", failure.kind, failure.code));
                            vec![condition(attendant_fault, &path_fault)]
                        }
                        BillEvent::PowerUp { bill, denomination_kopecks } => {
                            let place = bill.map(|b| match b {
                                bill_acceptor::BillLocation::Validator => BillPlace::Validator,
                                bill_acceptor::BillLocation::Stacker => BillPlace::Stacker,
                            });
                            vec![
                                device_state("power_up", format!("bill {bill:?} {denomination_kopecks:?}")),
                                CoreEvent::Device(DeviceInput::BillPowerUp { bill: place }, None),
                            ]
                        }
                        BillEvent::LinkLost => vec![down(FaultKind::Communication, "no answer on the line")],
                        BillEvent::LinkRestored => vec![condition(attendant_fault, &path_fault)],
                        BillEvent::CommandRefused { command, why } => {
                            warn!(%command, %why, "bill validator refused a command");
                            vec![]
                        }
                    };
                    for event in to_core {
                        if core.send(event).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}
