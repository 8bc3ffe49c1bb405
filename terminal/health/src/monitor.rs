//! The health monitor: device conditions in, the kiosk's service state and outage alerts out.
//!
//! Sans-IO. The driver reports each device's condition with [`HealthMonitor::handle_device`],
//! calls [`HealthMonitor::handle_timeout`] when [`HealthMonitor::poll_timeout`] says, and journals
//! every event from [`HealthMonitor::poll_event`] (the `OutageAlert`s also go to the back office
//! at once). Time is always passed in as a value.
//!
//! **Service state.** The kiosk is *out of service* when the screen is dead, when the fiscal
//! module is down (no lawful receipt can be issued, so no payment may be taken), or when no
//! payment method works (cash, card, СБП). Otherwise it is *degraded* when something is missing (cash only, card only,
//! e-receipt only, offline) and *in service* when nothing is.
//!
//! **Outages.** An outage starts the moment the kiosk goes out of service: `Started` is emitted at
//! once. `Escalated` follows when the outage reaches 30 working minutes and `Breach` at 60 (per
//! the [`WorkingCalendar`]), `Recovered` when it ends. Flapping is debounced: the kiosk must stay
//! back in service for `recovery_hold` before the outage counts as over; if it drops out again
//! within that hold, the same outage simply continues (no new `Started`, and the short blip counts
//! as outage time — the customer saw a kiosk that did not work). The outage's working minutes run
//! from its start to the moment service came back for good.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use backend_sync::event::{JournalEvent, OutageLevel};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::WorkingCalendar;

/// A part of the kiosk whose condition decides the service state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    BillValidator,
    CardReader,
    Printer,
    FiscalModule,
    BackOffice,
    Ui,
    /// The bill scanner: down degrades nothing but the scan (the keypad still takes numbers).
    Scanner,
    /// СБП QR payments through the back office: a payment method of its own, so a kiosk whose
    /// cash and card are down but whose bank answers is still in service. Missing it degrades
    /// nothing (most kiosks take cash and card only).
    Sbp,
}

impl Device {
    pub const ALL: [Device; 8] = [
        Device::BillValidator,
        Device::CardReader,
        Device::Printer,
        Device::FiscalModule,
        Device::BackOffice,
        Device::Ui,
        Device::Scanner,
        Device::Sbp,
    ];

    /// The name used in journal events and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Device::BillValidator => "bill_validator",
            Device::CardReader => "card_reader",
            Device::Printer => "printer",
            Device::FiscalModule => "fiscal_module",
            Device::BackOffice => "back_office",
            Device::Ui => "ui",
            Device::Scanner => "scanner",
            Device::Sbp => "sbp",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a device does not work; decides whether self-recovery is worth trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// No answer, garbage on the line, link lost: the recovery ladder may fix it.
    Communication,
    /// The device reports a failure of its own (failure code, jam): a reset or power cycle may fix it.
    Hardware,
    /// Only a person can fix it: paper out, cassette full or removed, door open.
    NeedsAttendant,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Communication => "communication",
            FaultKind::Hardware => "hardware",
            FaultKind::NeedsAttendant => "needs_attendant",
        }
    }

    /// Whether the recovery ladder should be started for this fault.
    pub fn self_recoverable(self) -> bool {
        !matches!(self, FaultKind::NeedsAttendant)
    }
}

/// What a driver knows about its device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DeviceCondition {
    Up,
    /// Works, but needs attention soon (paper near end, cassette nearly full).
    Warning {
        detail: String,
    },
    Down {
        kind: FaultKind,
        detail: String,
    },
}

impl DeviceCondition {
    pub fn is_down(&self) -> bool {
        matches!(self, DeviceCondition::Down { .. })
    }

    /// `up`, `warning` or `down`, as journaled and exported.
    pub fn name(&self) -> &'static str {
        match self {
            DeviceCondition::Up => "up",
            DeviceCondition::Warning { .. } => "warning",
            DeviceCondition::Down { .. } => "down",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            DeviceCondition::Up => String::new(),
            DeviceCondition::Warning { detail } => detail.clone(),
            DeviceCondition::Down { kind, detail } => format!("{}: {detail}", kind.name()),
        }
    }
}

/// What still works while the kiosk is degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capabilities {
    pub cash: bool,
    pub card: bool,
    pub paper_receipt: bool,
    pub online: bool,
    /// СБП QR payments work (absent in journals from before it existed).
    #[serde(default)]
    pub sbp: bool,
}

impl Capabilities {
    /// Human summary, e.g. `card only, e-receipt only, offline`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.cash && !self.card && self.sbp {
            parts.push("СБП only");
        }
        if !self.cash && self.card {
            parts.push("card only");
        }
        if !self.card && self.cash {
            parts.push("cash only");
        }
        if !self.paper_receipt {
            parts.push("e-receipt only");
        }
        if !self.online {
            parts.push("offline");
        }
        parts.join(", ")
    }
}

/// The kiosk's service state, the thing the 60-minute rule is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ServiceState {
    InService,
    Degraded { works: Capabilities },
    OutOfService { reason: String },
}

impl ServiceState {
    pub fn name(&self) -> &'static str {
        match self {
            ServiceState::InService => "in_service",
            ServiceState::Degraded { .. } => "degraded",
            ServiceState::OutOfService { .. } => "out_of_service",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            ServiceState::InService => String::new(),
            ServiceState::Degraded { works } => works.describe(),
            ServiceState::OutOfService { reason } => reason.clone(),
        }
    }

    pub fn is_out_of_service(&self) -> bool {
        matches!(self, ServiceState::OutOfService { .. })
    }
}

/// The service state that a set of device conditions amounts to. Devices absent from the map
/// count as up.
pub fn service_state_of(conditions: &BTreeMap<Device, DeviceCondition>) -> ServiceState {
    let down = |d: Device| conditions.get(&d).is_some_and(DeviceCondition::is_down);
    let why = |d: Device| {
        conditions
            .get(&d)
            .map(DeviceCondition::detail)
            .unwrap_or_default()
    };
    if down(Device::Ui) {
        return ServiceState::OutOfService {
            reason: format!("screen is dead ({})", why(Device::Ui)),
        };
    }
    if down(Device::FiscalModule) {
        return ServiceState::OutOfService {
            reason: format!(
                "fiscal module down, no receipt can be issued ({})",
                why(Device::FiscalModule)
            ),
        };
    }
    let works = Capabilities {
        cash: !down(Device::BillValidator),
        card: !down(Device::CardReader),
        paper_receipt: !down(Device::Printer),
        online: !down(Device::BackOffice),
        // Only a bank that reported in counts: a kiosk without СБП never had it.
        sbp: conditions.get(&Device::Sbp).is_some_and(|c| !c.is_down()),
    };
    if !works.cash && !works.card && !works.sbp {
        return ServiceState::OutOfService {
            reason: format!(
                "no payment method works (bill validator: {}; card reader: {}; СБП: {})",
                why(Device::BillValidator),
                why(Device::CardReader),
                why(Device::Sbp)
            ),
        };
    }
    if works.cash && works.card && works.paper_receipt && works.online {
        ServiceState::InService
    } else {
        ServiceState::Degraded { works }
    }
}

fn default_escalate() -> u32 {
    30
}
fn default_breach() -> u32 {
    60
}
fn default_hold() -> u32 {
    300
}

/// Alert thresholds (the `[health.alerts]` configuration section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Working minutes of outage before `Escalated`.
    #[serde(default = "default_escalate")]
    pub escalate_after_working_minutes: u32,
    /// Working minutes of outage before `Breach` (the standard's limit).
    #[serde(default = "default_breach")]
    pub breach_after_working_minutes: u32,
    /// How long the kiosk must stay back in service before an outage counts as over.
    #[serde(default = "default_hold")]
    pub recovery_hold_seconds: u32,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            escalate_after_working_minutes: default_escalate(),
            breach_after_working_minutes: default_breach(),
            recovery_hold_seconds: default_hold(),
        }
    }
}

/// One outage, open or closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageRecord {
    pub outage_id: String,
    pub started_at: DateTime<Utc>,
    /// When service came back for good; `None` while the outage lasts.
    pub recovered_at: Option<DateTime<Utc>>,
    /// The reason given when the kiosk went out of service.
    pub cause: String,
    /// Working minutes so far (final once recovered).
    pub working_minutes: u32,
    pub escalated: bool,
    pub breached: bool,
}

#[derive(Debug, Clone)]
struct OpenOutage {
    record: OutageRecord,
    escalate_at: Option<DateTime<Utc>>,
    breach_at: Option<DateTime<Utc>>,
    /// Service came back at this instant; the outage ends once the hold passes.
    back_since: Option<DateTime<Utc>>,
}

/// How many closed outages the monitor keeps for the service menu.
const HISTORY_LEN: usize = 200;

/// The health monitor (see the module docs).
#[derive(Debug)]
pub struct HealthMonitor {
    terminal_id: String,
    alerts: AlertConfig,
    calendar: WorkingCalendar,
    conditions: BTreeMap<Device, DeviceCondition>,
    state: ServiceState,
    outage: Option<OpenOutage>,
    history: VecDeque<OutageRecord>,
    events: VecDeque<JournalEvent>,
}

impl HealthMonitor {
    /// A monitor that assumes every device but СБП up until told otherwise.
    pub fn new(
        terminal_id: impl Into<String>,
        alerts: AlertConfig,
        calendar: WorkingCalendar,
    ) -> Self {
        HealthMonitor {
            terminal_id: terminal_id.into(),
            alerts,
            calendar,
            // СБП is up only once the back office said its bank answers.
            conditions: Device::ALL
                .iter()
                .filter(|d| **d != Device::Sbp)
                .map(|d| (*d, DeviceCondition::Up))
                .collect(),
            state: ServiceState::InService,
            outage: None,
            history: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn calendar(&self) -> &WorkingCalendar {
        &self.calendar
    }

    pub fn service_state(&self) -> &ServiceState {
        &self.state
    }

    pub fn condition(&self, device: Device) -> &DeviceCondition {
        self.conditions.get(&device).unwrap_or(&DeviceCondition::Up)
    }

    pub fn conditions(&self) -> &BTreeMap<Device, DeviceCondition> {
        &self.conditions
    }

    /// A driver reports its device's condition. Unchanged conditions are ignored.
    pub fn handle_device(
        &mut self,
        device: Device,
        condition: DeviceCondition,
        now: DateTime<Utc>,
    ) {
        self.handle_timeout(now);
        // (A device that never reported, СБП, is news even when it reports up.)
        if self.conditions.get(&device) == Some(&condition) {
            return;
        }
        self.events.push_back(JournalEvent::DeviceStateChanged {
            device: device.name().to_owned(),
            state: condition.name().to_owned(),
            detail: condition.detail(),
        });
        self.conditions.insert(device, condition);
        let next = service_state_of(&self.conditions);
        if next != self.state {
            self.events.push_back(JournalEvent::ServiceStateChanged {
                state: next.name().to_owned(),
                detail: next.detail(),
            });
            self.enter(next, now);
        }
    }

    fn enter(&mut self, next: ServiceState, now: DateTime<Utc>) {
        let was_out = self.state.is_out_of_service();
        let is_out = next.is_out_of_service();
        if let ServiceState::OutOfService { reason } = &next {
            if !was_out {
                match &mut self.outage {
                    // Flapping: back out within the hold, the same outage goes on.
                    Some(open) => open.back_since = None,
                    None => self.open_outage(reason.clone(), now),
                }
            }
        }
        if was_out && !is_out {
            if let Some(open) = &mut self.outage {
                open.back_since = Some(now);
            }
        }
        self.state = next;
    }

    fn open_outage(&mut self, cause: String, now: DateTime<Utc>) {
        let outage_id = format!("{}-{}", self.terminal_id, now.format("%Y%m%dT%H%M%SZ"));
        let escalate_at = self
            .calendar
            .instant_after_working_minutes(now, self.alerts.escalate_after_working_minutes);
        let breach_at = self
            .calendar
            .instant_after_working_minutes(now, self.alerts.breach_after_working_minutes);
        self.events.push_back(JournalEvent::OutageAlert {
            level: OutageLevel::Started,
            outage_id: outage_id.clone(),
            working_minutes: 0,
            detail: cause.clone(),
        });
        self.outage = Some(OpenOutage {
            record: OutageRecord {
                outage_id,
                started_at: now,
                recovered_at: None,
                cause,
                working_minutes: 0,
                escalated: false,
                breached: false,
            },
            escalate_at,
            breach_at,
            back_since: None,
        });
    }

    /// Continues an outage that was open when the process stopped (rebuilt from the journal), so
    /// that a restart neither loses its minutes nor alerts twice. `sent` lists the levels already
    /// journaled for it. Call before any `handle_device`.
    pub fn resume_outage(
        &mut self,
        outage_id: String,
        started_at: DateTime<Utc>,
        cause: String,
        sent: &[OutageLevel],
    ) {
        self.state = ServiceState::OutOfService {
            reason: cause.clone(),
        };
        self.outage = Some(OpenOutage {
            record: OutageRecord {
                outage_id,
                started_at,
                recovered_at: None,
                cause,
                working_minutes: 0,
                escalated: sent.contains(&OutageLevel::Escalated),
                breached: sent.contains(&OutageLevel::Breach),
            },
            escalate_at: self.calendar.instant_after_working_minutes(
                started_at,
                self.alerts.escalate_after_working_minutes,
            ),
            breach_at: self.calendar.instant_after_working_minutes(
                started_at,
                self.alerts.breach_after_working_minutes,
            ),
            back_since: None,
        });
    }

    /// Emits the alerts that are due at `now` and closes an outage whose recovery hold has passed.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        let hold = Duration::seconds(i64::from(self.alerts.recovery_hold_seconds));
        let Some(open) = &mut self.outage else {
            return;
        };
        // Alerts only count time while the outage really lasted.
        let until = open.back_since.map_or(now, |b| b.min(now));
        let minutes = self
            .calendar
            .working_minutes_between(open.record.started_at, until);
        open.record.working_minutes = minutes;
        if !open.record.escalated && open.escalate_at.is_some_and(|t| t <= until) {
            open.record.escalated = true;
            self.events.push_back(JournalEvent::OutageAlert {
                level: OutageLevel::Escalated,
                outage_id: open.record.outage_id.clone(),
                working_minutes: minutes,
                detail: open.record.cause.clone(),
            });
        }
        if !open.record.breached && open.breach_at.is_some_and(|t| t <= until) {
            open.record.breached = true;
            self.events.push_back(JournalEvent::OutageAlert {
                level: OutageLevel::Breach,
                outage_id: open.record.outage_id.clone(),
                working_minutes: minutes,
                detail: format!(
                    "out of service for {minutes} working minutes: {}",
                    open.record.cause
                ),
            });
        }
        if let Some(back) = open.back_since {
            if now >= back + hold {
                let mut record = open.record.clone();
                record.recovered_at = Some(back);
                self.events.push_back(JournalEvent::OutageAlert {
                    level: OutageLevel::Recovered,
                    outage_id: record.outage_id.clone(),
                    working_minutes: record.working_minutes,
                    detail: format!(
                        "back in service since {}",
                        back.format("%Y-%m-%dT%H:%M:%SZ")
                    ),
                });
                self.outage = None;
                if self.history.len() == HISTORY_LEN {
                    self.history.pop_front();
                }
                self.history.push_back(record);
            }
        }
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        let open = self.outage.as_ref()?;
        let hold = Duration::seconds(i64::from(self.alerts.recovery_hold_seconds));
        // While service is back (within the hold) only deadlines the outage did reach matter.
        let reached = |t: &DateTime<Utc>| open.back_since.is_none_or(|b| *t <= b);
        [
            open.escalate_at
                .filter(|t| !open.record.escalated && reached(t)),
            open.breach_at
                .filter(|t| !open.record.breached && reached(t)),
            open.back_since.map(|b| b + hold),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event to journal.
    pub fn poll_event(&mut self) -> Option<JournalEvent> {
        self.events.pop_front()
    }

    /// The open outage, its working minutes counted up to `now`.
    pub fn current_outage(&self, now: DateTime<Utc>) -> Option<OutageRecord> {
        let open = self.outage.as_ref()?;
        let until = open.back_since.map_or(now, |b| b.min(now));
        let mut record = open.record.clone();
        record.working_minutes = self
            .calendar
            .working_minutes_between(record.started_at, until);
        Some(record)
    }

    /// Closed outages, oldest first (the last few hundred).
    pub fn history(&self) -> impl Iterator<Item = &OutageRecord> {
        self.history.iter()
    }
}
