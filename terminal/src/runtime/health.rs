//! The kiosk's health inside the core task: device conditions go into the [`HealthMonitor`]
//! (service state, outage alerts in working minutes) and into one [`RecoveryLadder`] per device
//! that can heal; what works now becomes the session's [`Availability`].
//!
//! Sans-IO like its parts: the core reports conditions and step results, asks for due recovery
//! actions and journals every event this desk hands out. Living in the core task means a health
//! event is journaled in order with the payments it affects.

use std::collections::{BTreeMap, BTreeSet};

use backend_sync::event::OutageLevel;
use backend_sync::JournalEvent;
use chrono::{DateTime, Utc};

use crate::health::{
    AlertConfig, Device, DeviceCondition, FaultKind, HealthMonitor, LadderConfig, RecoveryAction,
    RecoveryLadder, RecoveryStep, WorkingCalendar,
};
use crate::session::Availability;

/// Devices whose faults a recovery ladder may heal (the others are software or the link).
const HEALABLE: [Device; 3] = [Device::BillValidator, Device::CardReader, Device::Printer];

/// What the health desk is built from.
#[derive(Debug, Clone)]
pub struct HealthSetup {
    pub calendar: WorkingCalendar,
    pub alerts: AlertConfig,
    pub ladder: LadderConfig,
    /// Devices this kiosk has; the others count as down for good ("not fitted").
    pub fitted: BTreeSet<Device>,
}

impl HealthSetup {
    /// Every device fitted, the default office calendar, default alerts and ladder.
    pub fn standard(tz: chrono_tz::Tz) -> Self {
        let mut calendar = crate::health::default_calendar();
        calendar.time_zone = tz;
        HealthSetup {
            calendar: WorkingCalendar::new(calendar)
                .expect("the built-in office calendar is valid"),
            alerts: AlertConfig::default(),
            ladder: LadderConfig::default(),
            fitted: Device::ALL.into_iter().collect(),
        }
    }
}

/// The monitor and the ladders, fed by the core (see the module docs).
#[derive(Debug)]
pub struct HealthDesk {
    monitor: HealthMonitor,
    ladders: BTreeMap<Device, RecoveryLadder>,
    /// Recovery steps the desk handed out and not yet heard back from.
    running: BTreeMap<Device, RecoveryStep>,
}

/// What the journal says about health at start-up, so a restart neither forgets an open outage
/// nor restarts the process in a loop.
#[derive(Debug, Default, Clone)]
pub struct HealthHistory {
    /// (outage id, started, cause, levels already journaled) of an outage not yet recovered.
    open_outage: Option<(String, DateTime<Utc>, String, Vec<OutageLevel>)>,
    last_restart: Option<DateTime<Utc>>,
}

impl HealthHistory {
    /// Folds one journal entry in (in journal order).
    pub fn apply(&mut self, time: DateTime<Utc>, event: &JournalEvent) {
        match event {
            JournalEvent::OutageAlert {
                level,
                outage_id,
                detail,
                ..
            } => match level {
                OutageLevel::Started => {
                    self.open_outage =
                        Some((outage_id.clone(), time, detail.clone(), vec![*level]));
                }
                OutageLevel::Recovered => self.open_outage = None,
                other => {
                    if let Some(open) = &mut self.open_outage {
                        if open.0 == *outage_id {
                            open.3.push(*other);
                        }
                    }
                }
            },
            JournalEvent::RecoveryStep { step, .. }
                if step == RecoveryStep::RestartProcess.name() =>
            {
                self.last_restart = Some(time);
            }
            _ => {}
        }
    }
}

impl HealthDesk {
    pub fn new(
        terminal_id: &str,
        setup: HealthSetup,
        history: HealthHistory,
        now: DateTime<Utc>,
    ) -> Self {
        let mut monitor = HealthMonitor::new(terminal_id, setup.alerts, setup.calendar);
        if let Some((id, started, cause, sent)) = history.open_outage {
            monitor.resume_outage(id, started, cause, &sent);
        }
        let ladders = HEALABLE
            .into_iter()
            .filter(|d| setup.fitted.contains(d))
            .map(|d| {
                (
                    d,
                    RecoveryLadder::new(d, setup.ladder.clone(), history.last_restart),
                )
            })
            .collect();
        let mut desk = HealthDesk {
            monitor,
            ladders,
            running: BTreeMap::new(),
        };
        for device in Device::ALL {
            if !setup.fitted.contains(&device) {
                desk.report(
                    device,
                    DeviceCondition::Down {
                        kind: FaultKind::NeedsAttendant,
                        detail: "not fitted".into(),
                    },
                    now,
                );
            }
        }
        desk
    }

    pub fn monitor(&self) -> &HealthMonitor {
        &self.monitor
    }

    /// A device task reports its device's condition.
    pub fn report(&mut self, device: Device, condition: DeviceCondition, now: DateTime<Utc>) {
        if let Some(ladder) = self.ladders.get_mut(&device) {
            match &condition {
                DeviceCondition::Down { kind, .. } if kind.self_recoverable() => {
                    ladder.handle_fault(now)
                }
                DeviceCondition::Down { .. } => {}
                DeviceCondition::Up | DeviceCondition::Warning { .. } => {
                    // The device answering properly again is what makes a step a success.
                    if let Some(step) = self.running.remove(&device) {
                        ladder.handle_step_result(step, true, now);
                    } else if ladder.is_active() {
                        ladder.handle_recovered();
                    }
                }
            }
        }
        self.monitor.handle_device(device, condition, now);
    }

    /// The outcome of a recovery step handed out by [`Self::poll_action`].
    pub fn step_result(
        &mut self,
        device: Device,
        step: RecoveryStep,
        succeeded: bool,
        now: DateTime<Utc>,
    ) {
        // A late verdict for a step the device already answered (it came back) is stale.
        if self.running.get(&device) != Some(&step) {
            return;
        }
        self.running.remove(&device);
        if let Some(ladder) = self.ladders.get_mut(&device) {
            ladder.handle_step_result(step, succeeded, now);
        }
    }

    /// When [`Self::on_timeout`] must run next.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.ladders
            .values()
            .filter_map(RecoveryLadder::poll_timeout)
            .chain(self.monitor.poll_timeout())
            .min()
    }

    /// Alerts that fell due; ladders that start over.
    pub fn on_timeout(&mut self, now: DateTime<Utc>) {
        self.monitor.handle_timeout(now);
        for ladder in self.ladders.values_mut() {
            ladder.handle_timeout(now);
        }
    }

    /// The next recovery step to carry out now, if any.
    pub fn poll_action(&mut self, now: DateTime<Utc>) -> Option<RecoveryAction> {
        for ladder in self.ladders.values_mut() {
            if let Some(action) = ladder.poll_action(now) {
                if action.step != RecoveryStep::RestartProcess {
                    self.running.insert(action.device, action.step);
                }
                return Some(action);
            }
        }
        None
    }

    /// The next event to journal.
    pub fn poll_event(&mut self) -> Option<JournalEvent> {
        if let Some(event) = self.monitor.poll_event() {
            return Some(event);
        }
        self.ladders
            .values_mut()
            .find_map(RecoveryLadder::poll_event)
    }

    /// What the customer can use now.
    pub fn availability(&self) -> Availability {
        let up = |d: Device| !self.monitor.condition(d).is_down();
        Availability {
            cash: up(Device::BillValidator),
            card: up(Device::CardReader),
            paper: up(Device::Printer),
            online: up(Device::BackOffice),
            scanner: up(Device::Scanner),
            // Only once the back office said its bank answers (never assumed).
            sbp: self
                .monitor
                .conditions()
                .get(&Device::Sbp)
                .is_some_and(|c| !c.is_down()),
            out_of_service: self.monitor.service_state().is_out_of_service(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn desk(fitted: &[Device]) -> HealthDesk {
        let mut setup = HealthSetup::standard(chrono_tz::Europe::Moscow);
        setup.fitted = fitted.iter().copied().collect();
        HealthDesk::new("T1", setup, HealthHistory::default(), t(10, 0))
    }

    /// A Tuesday in working hours (Moscow is UTC+3).
    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap()
    }

    fn drain(desk: &mut HealthDesk) -> Vec<JournalEvent> {
        std::iter::from_fn(|| desk.poll_event()).collect()
    }

    fn down(kind: FaultKind) -> DeviceCondition {
        DeviceCondition::Down {
            kind,
            detail: "test".into(),
        }
    }

    #[test]
    fn cassette_full_leaves_card_only() {
        let mut d = desk(&Device::ALL);
        d.report(
            Device::BillValidator,
            down(FaultKind::NeedsAttendant),
            t(7, 0),
        );
        let a = d.availability();
        assert!(!a.cash && a.card && a.paper && !a.out_of_service);
        // Only a person fixes a full cassette: no recovery step is offered.
        assert_eq!(d.poll_action(t(8, 0)), None);
    }

    #[test]
    fn no_payment_method_is_an_outage_with_an_alert() {
        let mut d = desk(&Device::ALL);
        d.report(Device::BillValidator, down(FaultKind::Hardware), t(7, 0));
        d.report(Device::CardReader, down(FaultKind::Communication), t(7, 0));
        assert!(d.availability().out_of_service);
        let events = drain(&mut d);
        assert!(events.iter().any(|e| matches!(
            e,
            JournalEvent::OutageAlert {
                level: OutageLevel::Started,
                ..
            }
        )));
    }

    #[test]
    fn a_recoverable_fault_gets_steps_until_the_device_is_back() {
        let mut d = desk(&Device::ALL);
        d.report(Device::BillValidator, down(FaultKind::Hardware), t(7, 0));
        let due = d.poll_timeout().expect("first step scheduled");
        let action = d.poll_action(due).expect("a step is due");
        assert_eq!(action.step, RecoveryStep::ReopenPort);
        d.step_result(action.device, action.step, false, due);
        let next = d.poll_timeout().expect("next try scheduled");
        let again = d.poll_action(next).expect("retry due");
        d.step_result(again.device, again.step, true, next);
        d.report(Device::BillValidator, DeviceCondition::Up, next);
        assert!(d.availability().cash);
        let steps: Vec<_> = drain(&mut d)
            .into_iter()
            .filter(|e| matches!(e, JournalEvent::RecoveryStep { .. }))
            .collect();
        assert_eq!(steps.len(), 2, "every step is journaled");
    }

    #[test]
    fn a_missing_card_reader_makes_a_cash_only_kiosk() {
        let d = desk(&[
            Device::BillValidator,
            Device::Printer,
            Device::FiscalModule,
            Device::BackOffice,
            Device::Ui,
        ]);
        let a = d.availability();
        assert!(a.cash && !a.card && !a.out_of_service);
    }

    #[test]
    fn an_open_outage_survives_a_restart_without_a_second_alert() {
        let mut history = HealthHistory::default();
        history.apply(
            t(7, 0),
            &JournalEvent::OutageAlert {
                level: OutageLevel::Started,
                outage_id: "T1-1".into(),
                working_minutes: 0,
                detail: "no payment method works".into(),
            },
        );
        let mut d = HealthDesk::new(
            "T1",
            HealthSetup::standard(chrono_tz::Europe::Moscow),
            history,
            t(7, 10),
        );
        d.report(Device::BillValidator, down(FaultKind::Hardware), t(7, 10));
        d.report(Device::CardReader, down(FaultKind::Hardware), t(7, 10));
        let started = drain(&mut d)
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    JournalEvent::OutageAlert {
                        level: OutageLevel::Started,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(started, 0);
        assert_eq!(
            d.monitor().current_outage(t(7, 40)).map(|o| o.outage_id),
            Some("T1-1".to_string())
        );
    }
}
