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

/// The driver command for a core command: `Enable` takes the validator's denominations up to
/// `max_bill`. Pure, so the fault simulation translates exactly as the task does.
pub fn driver_command(command: &BillCommand, table: &BTreeSet<i64>) -> DriverCommand {
    match command {
        BillCommand::Enable { max_bill } => DriverCommand::Enable(
            table
                .iter()
                .copied()
                .filter(|d| *d <= max_bill.kopecks())
                .collect(),
        ),
        BillCommand::Disable => DriverCommand::Disable,
        BillCommand::Stack => DriverCommand::Stack,
        BillCommand::Return => DriverCommand::Return,
    }
}

/// What the session core hears of a driver event (health is the task's own business). A report
/// without its denomination comes as zero: the core knows which bill it asked to stack.
pub fn session_input(event: &BillEvent) -> Option<DeviceInput> {
    let bill = |d: &Option<i64>| Money::from_kopecks(d.unwrap_or(0));
    Some(match event {
        BillEvent::Escrow {
            denomination_kopecks,
        } => DeviceInput::BillEscrow(Money::from_kopecks(*denomination_kopecks)),
        BillEvent::Stacked {
            denomination_kopecks,
            ..
        } => DeviceInput::BillStacked(bill(denomination_kopecks)),
        BillEvent::Returned {
            denomination_kopecks,
            ..
        } => DeviceInput::BillReturned(bill(denomination_kopecks)),
        BillEvent::Rejected { reason } => DeviceInput::BillRejected {
            reason: reject_message(reason.kind),
        },
        BillEvent::Jammed {
            denomination_kopecks,
            ..
        } => DeviceInput::BillJammed {
            denomination: denomination_kopecks.map(Money::from_kopecks),
        },
        BillEvent::PowerUp { bill, .. } => DeviceInput::BillPowerUp {
            bill: bill.map(|b| match b {
                bill_acceptor::BillLocation::Validator => BillPlace::Validator,
                bill_acceptor::BillLocation::Stacker => BillPlace::Stacker,
            }),
        },
        BillEvent::Ready { bill_table, .. } => DeviceInput::BillTable(
            bill_table
                .bills
                .iter()
                .map(|b| Money::from_kopecks(b.denomination_kopecks))
                .collect(),
        ),
        _ => return None,
    })
}

/// The validator's health as its reports show it (the simulation follows it with the same code).
#[derive(Debug, Clone, Default)]
pub struct BillHealth {
    /// A jam or failure in the bill path: down until the validator shows it is over (a reset or
    /// re-open that leaves it jammed is no recovery).
    path_fault: Option<String>,
    /// A fault only hands can clear (full or missing cassette, a bill stuck in it): a reset or
    /// power cycle makes the validator "ready" again, but it still cannot take money until the
    /// cassette comes back.
    attendant_fault: Option<&'static str>,
}

impl BillHealth {
    /// The condition after `event`, if the event says anything about it.
    pub fn on_event(&mut self, event: &BillEvent) -> Option<DeviceCondition> {
        match event {
            BillEvent::Ready { .. } | BillEvent::LinkRestored => {}
            BillEvent::CassetteFull => self.attendant_fault = Some("cassette full"),
            BillEvent::CassetteRemoved => self.attendant_fault = Some("cassette removed"),
            BillEvent::CassetteInserted => self.attendant_fault = None,
            // A bill stuck in the cassette needs hands; one in the validator's path may come
            // free with a reset or a power cycle.
            BillEvent::Jammed {
                in_cassette: true, ..
            } => self.attendant_fault = Some(JAMMED_IN_CASSETTE),
            BillEvent::Jammed { .. } => {
                self.path_fault = Some("bill jammed in the validator".into())
            }
            BillEvent::FaultCleared => {
                self.path_fault = None;
                if self.attendant_fault == Some(JAMMED_IN_CASSETTE) {
                    self.attendant_fault = None;
                }
            }
            BillEvent::Failure { failure } => {
                self.path_fault = Some(format!(
                    "failure {:?} code {:#04x}",
                    failure.kind, failure.code
                ))
            }
            BillEvent::LinkLost => {
                return Some(DeviceCondition::Down {
                    kind: FaultKind::Communication,
                    detail: "no answer on the line".into(),
                })
            }
            _ => return None,
        }
        Some(self.condition())
    }

    /// A fault only hands can clear first, then one in the bill path.
    pub fn condition(&self) -> DeviceCondition {
        let down = |kind, detail: &str| DeviceCondition::Down {
            kind,
            detail: detail.into(),
        };
        match (self.attendant_fault, &self.path_fault) {
            (Some(why), _) => down(FaultKind::NeedsAttendant, why),
            (None, Some(why)) => down(FaultKind::Hardware, why),
            (None, None) => DeviceCondition::Up,
        }
    }
}

const JAMMED_IN_CASSETTE: &str = "bill jammed in the cassette";

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

/// The bill task's state: the driver, and what it needs to translate (no money).
struct BillTask {
    acceptor: BillAcceptor,
    reopen: Option<(DriverConfig, mpsc::Receiver<()>)>,
    core: mpsc::Sender<CoreEvent>,
    /// The validator's denominations (kopecks), from its last Ready.
    table: BTreeSet<i64>,
    /// What the core last asked for, re-applied after Ready or a new cassette.
    wanted: Option<Money>,
    /// `BillReady` went to the core (once per task).
    ready: bool,
    bill_health: BillHealth,
}

/// The task is over: the core is gone, or the driver with no way to re-open it.
struct Ended;

async fn run(
    acceptor: BillAcceptor,
    reopen: Option<(DriverConfig, mpsc::Receiver<()>)>,
    mut commands: mpsc::Receiver<BillCommand>,
    core: mpsc::Sender<CoreEvent>,
) {
    let mut task = BillTask {
        acceptor,
        reopen,
        core,
        table: BTreeSet::new(),
        wanted: None,
        ready: false,
        bill_health: BillHealth::default(),
    };
    loop {
        let reopen_requested = async {
            match &mut task.reopen {
                Some((_, rx)) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            Some(()) = reopen_requested => task.reopen_port().await,
            command = commands.recv() => match command {
                Some(command) => task.on_command(command).await,
                None => Err(Ended),
            },
            event = task.acceptor.next_event() => match event {
                Some(event) => task.on_event(event).await,
                None => task.driver_stopped().await,
            },
        };
        if step.is_err() {
            return;
        }
    }
}

impl BillTask {
    async fn reopen_port(&mut self) -> Result<(), Ended> {
        if let Some((config, _)) = &self.reopen {
            reopen_port(&mut self.acceptor, config, &self.core).await;
        }
        Ok(())
    }

    async fn on_command(&mut self, command: BillCommand) -> Result<(), Ended> {
        match command {
            BillCommand::Enable { max_bill } => self.wanted = Some(max_bill),
            BillCommand::Disable => self.wanted = None,
            BillCommand::Stack | BillCommand::Return => {}
        }
        let driver_command = driver_command(&command, &self.table);
        if self.acceptor.command(driver_command).await.is_err() {
            warn!("bill acceptor driver stopped");
            let _ = self
                .core
                .send(down(FaultKind::Communication, "driver stopped"))
                .await;
            if self.reopen.is_none() {
                return Err(Ended);
            }
        }
        Ok(())
    }

    /// The driver's event stream ended: wait for the ladder to re-open the port.
    async fn driver_stopped(&mut self) -> Result<(), Ended> {
        let _ = self
            .core
            .send(down(FaultKind::Communication, "driver stopped"))
            .await;
        let Some((config, rx)) = &mut self.reopen else {
            return Err(Ended);
        };
        if rx.recv().await.is_none() {
            return Err(Ended);
        }
        reopen_port(&mut self.acceptor, config, &self.core).await;
        Ok(())
    }

    /// Re-applies what the core last asked for (after Ready or a new cassette).
    async fn enable_as_wanted(&mut self) {
        if let Some(max_bill) = self.wanted {
            let command = driver_command(&BillCommand::Enable { max_bill }, &self.table);
            let _ = self.acceptor.command(command).await;
        }
    }

    async fn on_event(&mut self, event: BillEvent) -> Result<(), Ended> {
        let input = session_input(&event);
        let condition = self.bill_health.on_event(&event).map(health);
        let to_core: Vec<CoreEvent> = match event {
            BillEvent::Ready {
                bill_table,
                identification,
            } => {
                self.table = bill_table
                    .bills
                    .iter()
                    .map(|b| b.denomination_kopecks)
                    .collect();
                info!(model = %identification.part_number, bills = self.table.len(), "bill validator ready");
                self.enable_as_wanted().await;
                // The screen lists what the validator takes (and the core caps it by the limit).
                let mut to_core: Vec<CoreEvent> = input
                    .map(|bills| CoreEvent::Device(bills, None))
                    .into_iter()
                    .collect();
                if !std::mem::replace(&mut self.ready, true) {
                    to_core.push(CoreEvent::BillReady);
                }
                to_core.extend(condition);
                to_core
            }
            BillEvent::Stacked { token, .. } | BillEvent::Returned { token, .. } => {
                let Some(report) = input else {
                    return Ok(());
                };
                let (ack, acked) = oneshot::channel();
                if self
                    .core
                    .send(CoreEvent::Device(report, Some(ack)))
                    .await
                    .is_err()
                    || acked.await.is_err()
                {
                    // The core is gone: do not acknowledge; the device repeats it.
                    return Err(Ended);
                }
                let _ = self.acceptor.confirm(token).await;
                vec![]
            }
            BillEvent::CassetteInserted => {
                self.enable_as_wanted().await;
                [CoreEvent::Record(JournalEvent::CassetteInserted {})]
                    .into_iter()
                    .chain(condition)
                    .collect()
            }
            other => translate(other, input, condition),
        };
        for event in to_core {
            self.core.send(event).await.map_err(|_| Ended)?;
        }
        Ok(())
    }
}

/// What the core hears of an event that needs nothing from the task.
fn translate(
    event: BillEvent,
    input: Option<DeviceInput>,
    condition: Option<CoreEvent>,
) -> Vec<CoreEvent> {
    let device = input.map(|i| CoreEvent::Device(i, None));
    match event {
        BillEvent::Escrow { .. } | BillEvent::Rejected { .. } => device.into_iter().collect(),
        BillEvent::Jammed { .. } => device.into_iter().chain(condition).collect(),
        BillEvent::CassetteRemoved => [CoreEvent::CassetteRemoved]
            .into_iter()
            .chain(condition)
            .collect(),
        BillEvent::Cheated => vec![device_state("cheated", "")],
        BillEvent::PowerUp {
            bill,
            denomination_kopecks,
        } => {
            let state = device_state(
                "power_up",
                format!("bill {bill:?} {denomination_kopecks:?}"),
            );
            [state].into_iter().chain(device).collect()
        }
        BillEvent::CommandRefused { command, why } => {
            warn!(%command, %why, "bill validator refused a command");
            vec![]
        }
        BillEvent::CassetteFull
        | BillEvent::FaultCleared
        | BillEvent::Failure { .. }
        | BillEvent::LinkLost
        | BillEvent::LinkRestored => condition.into_iter().collect(),
        // The task handles these itself (they need its state).
        BillEvent::Ready { .. }
        | BillEvent::Stacked { .. }
        | BillEvent::Returned { .. }
        | BillEvent::CassetteInserted => condition.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> BillEvent {
        BillEvent::Ready {
            identification: Default::default(),
            bill_table: Default::default(),
        }
    }

    fn is_up(condition: Option<DeviceCondition>) -> bool {
        condition == Some(DeviceCondition::Up)
    }

    /// Regression: a port re-open (a new Ready) while the validator is still jammed reported it
    /// up; only the validator's own word that the fault is over does.
    #[test]
    fn a_jam_keeps_the_validator_down_through_a_re_open_until_it_clears() {
        let mut health = BillHealth::default();
        let jammed = BillEvent::Jammed {
            in_cassette: false,
            denomination_kopecks: Some(500_000),
        };
        assert!(!is_up(health.on_event(&jammed)));
        assert!(!is_up(health.on_event(&ready())));
        assert!(!is_up(health.on_event(&BillEvent::LinkRestored)));
        assert!(is_up(health.on_event(&BillEvent::FaultCleared)));
    }

    #[test]
    fn a_missing_cassette_needs_hands_whatever_the_validator_reports() {
        let mut health = BillHealth::default();
        let down = health.on_event(&BillEvent::CassetteRemoved);
        assert!(matches!(
            down,
            Some(DeviceCondition::Down {
                kind: FaultKind::NeedsAttendant,
                ..
            })
        ));
        assert!(!is_up(health.on_event(&ready())));
        assert!(!is_up(health.on_event(&BillEvent::FaultCleared)));
        assert!(is_up(health.on_event(&BillEvent::CassetteInserted)));
        assert_eq!(health.on_event(&BillEvent::Cheated), None);
    }
}
