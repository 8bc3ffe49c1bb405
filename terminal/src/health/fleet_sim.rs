//! Fleet simulation: many kiosks, many days, random device faults, fast-forwarded through the
//! real [`HealthMonitor`], [`RecoveryLadder`] and [`WorkingCalendar`] on a simulated clock.
//!
//! `terminal simulate-fleet --kiosks N --days D --seed S [--no-recovery]` prints, per kiosk, its
//! outages and their working minutes, and ends with one JSON line
//! `{"kiosks":N,"days":D,"outages":…,"breaches":…,"max_recoverable_outage_working_minutes":…,…}`.
//! The run is deterministic per seed (each kiosk has its own random stream derived from it).
//!
//! # The fault model
//!
//! Faults arrive as independent Poisson processes, at any hour (devices do not keep office
//! hours). Rates are per kiosk per day ([`FAULT_RATES`]):
//!
//! | device | fault | rate/day | class |
//! |---|---|---|---|
//! | bill validator | no answer on the line | 0.08 | recoverable |
//! | bill validator | bill jam in the transport | 0.02 | technician |
//! | bill validator | cassette full | 0.02 | attendant |
//! | card reader | link lost | 0.06 | recoverable |
//! | card reader | hardware failure | 0.005 | technician |
//! | printer | no answer / firmware hang | 0.05 | recoverable |
//! | printer | paper out | 0.04 | attendant |
//! | fiscal module | no answer | 0.03 | recoverable |
//! | fiscal module | storage failure | 0.003 | technician |
//! | back office | link down (clears by itself, mean 20 min) | 0.2 | transient |
//! | screen / UI | UI frozen (only a restart helps) | 0.01 | recoverable |
//!
//! A *recoverable* fault is cleared by the first ladder step at or beyond its depth, drawn as
//! re-open port 45 %, protocol reset 25 %, power cycle 20 %, process restart 10 % (a frozen UI
//! always needs the restart). Step durations: re-open 3 s, reset 10 s, power cycle 45 s (5 s off,
//! 40 s boot), process restart 30 s, during which the screen is dark (an outage of its own). A
//! restart re-opens every device, so it clears every recoverable fault present.
//!
//! *Technician* and *attendant* faults need a visit; so does any fault when self-recovery is off
//! (`--no-recovery`) or when a device's ladder is exhausted. A technician is called when an
//! outage starts (the `Started` alert: "call early") or when a device is down with a fault the
//! kiosk cannot fix itself. He travels 20–90 working minutes (he works office hours too), then
//! repairs for 10–40 minutes and clears every fault but a back-office link loss. If he finds the
//! kiosk healed (in service or only degraded by faults it is still fixing itself), the visit is
//! cancelled.
//!
//! An outage is *recoverable* when every fault on the devices that decide the service state
//! (screen, fiscal module, bill validator, card reader) during it was a recoverable one.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use backend_sync::event::{JournalEvent, OutageLevel};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

pub use super::calendar::default_calendar;
use super::calendar::{CalendarConfig, WorkingCalendar};
use super::monitor::{AlertConfig, Device, DeviceCondition, FaultKind, HealthMonitor};
use super::recovery::{LadderConfig, RecoveryLadder, RecoveryStep};

/// What fixes a simulated fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    /// Cleared by the ladder (or a technician); the depth is drawn per fault.
    Recoverable,
    /// Needs a technician.
    Technician,
    /// Needs an attendant (paper, cassette); the simulation sends the technician.
    Attendant,
    /// Clears by itself after an exponentially distributed time with this mean in minutes.
    Transient { mean_minutes: u32 },
}

/// One Poisson fault process.
#[derive(Debug, Clone, Copy)]
pub struct FaultRate {
    pub device: Device,
    pub detail: &'static str,
    pub per_day: f64,
    pub class: FaultClass,
}

/// The documented fault rates (see the module docs).
pub const FAULT_RATES: &[FaultRate] = &[
    FaultRate {
        device: Device::BillValidator,
        detail: "no answer on the line",
        per_day: 0.08,
        class: FaultClass::Recoverable,
    },
    FaultRate {
        device: Device::BillValidator,
        detail: "bill jam in the transport",
        per_day: 0.02,
        class: FaultClass::Technician,
    },
    FaultRate {
        device: Device::BillValidator,
        detail: "cassette full",
        per_day: 0.02,
        class: FaultClass::Attendant,
    },
    FaultRate {
        device: Device::CardReader,
        detail: "link lost",
        per_day: 0.06,
        class: FaultClass::Recoverable,
    },
    FaultRate {
        device: Device::CardReader,
        detail: "hardware failure",
        per_day: 0.005,
        class: FaultClass::Technician,
    },
    FaultRate {
        device: Device::Printer,
        detail: "no answer / firmware hang",
        per_day: 0.05,
        class: FaultClass::Recoverable,
    },
    FaultRate {
        device: Device::Printer,
        detail: "paper out",
        per_day: 0.04,
        class: FaultClass::Attendant,
    },
    FaultRate {
        device: Device::FiscalModule,
        detail: "no answer",
        per_day: 0.03,
        class: FaultClass::Recoverable,
    },
    FaultRate {
        device: Device::FiscalModule,
        detail: "storage failure",
        per_day: 0.003,
        class: FaultClass::Technician,
    },
    FaultRate {
        device: Device::BackOffice,
        detail: "link down",
        per_day: 0.2,
        class: FaultClass::Transient { mean_minutes: 20 },
    },
    FaultRate {
        device: Device::Ui,
        detail: "UI frozen",
        per_day: 0.01,
        class: FaultClass::Recoverable,
    },
];

/// How long a ladder step takes in the simulation.
fn step_duration(step: RecoveryStep) -> Duration {
    match step {
        RecoveryStep::ReopenPort => Duration::seconds(3),
        RecoveryStep::ProtocolReset => Duration::seconds(10),
        RecoveryStep::PowerCycle => Duration::seconds(45),
        RecoveryStep::RestartProcess => Duration::seconds(30),
    }
}

/// The rungs each simulated device has (the screen can only be restarted).
fn ladder_steps(device: Device) -> Vec<RecoveryStep> {
    match device {
        Device::Ui => vec![RecoveryStep::RestartProcess],
        _ => RecoveryStep::ALL.to_vec(),
    }
}

/// `terminal simulate-fleet` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// Number of kiosks.
    #[arg(long, default_value_t = 50)]
    pub kiosks: u32,
    /// Simulated days.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Seed of the random faults; the same seed gives the same report.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Turn self-recovery off: every fault waits for a technician.
    #[arg(long)]
    pub no_recovery: bool,
    /// First simulated day (local midnight of the calendar's time zone).
    #[arg(long, default_value = "2026-03-02")]
    pub start: NaiveDate,
    /// A TOML file with a `[health.calendar]`-shaped calendar; default: a Moscow office.
    #[arg(long)]
    pub calendar: Option<PathBuf>,
}

/// Inputs of [`run_fleet_simulation`].
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub kiosks: u32,
    pub days: u32,
    pub seed: u64,
    pub self_recovery: bool,
    pub start: NaiveDate,
    pub calendar: CalendarConfig,
}

/// One outage of one simulated kiosk.
#[derive(Debug, Clone, Serialize)]
pub struct SimOutage {
    pub outage_id: String,
    pub started_at: DateTime<Utc>,
    /// `None` if it was still open when the simulation ended.
    pub recovered_at: Option<DateTime<Utc>>,
    pub working_minutes: u32,
    pub breached: bool,
    /// Only self-recoverable faults were behind it.
    pub recoverable: bool,
    pub cause: String,
}

/// One simulated kiosk's results.
#[derive(Debug, Clone, Serialize)]
pub struct KioskReport {
    pub kiosk: String,
    pub faults: u32,
    pub recovery_steps: u32,
    pub technician_visits: u32,
    pub outages: Vec<SimOutage>,
}

/// The fleet's results.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub kiosks: u32,
    pub days: u32,
    pub seed: u64,
    pub self_recovery: bool,
    pub per_kiosk: Vec<KioskReport>,
}

/// The closing JSON line, keys in the documented order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetSummary {
    pub kiosks: u32,
    pub days: u32,
    pub outages: u32,
    pub breaches: u32,
    pub max_recoverable_outage_working_minutes: u32,
    pub max_outage_working_minutes: u32,
    pub total_outage_working_minutes: u64,
    pub faults: u32,
    pub recovery_steps: u32,
    pub technician_visits: u32,
    pub seed: u64,
    pub self_recovery: bool,
}

impl FleetReport {
    pub fn summary(&self) -> FleetSummary {
        let outages = || self.per_kiosk.iter().flat_map(|k| k.outages.iter());
        let sum = |f: fn(&KioskReport) -> u32| self.per_kiosk.iter().map(f).sum::<u32>();
        FleetSummary {
            kiosks: self.kiosks,
            days: self.days,
            outages: u32::try_from(outages().count()).unwrap_or(u32::MAX),
            breaches: u32::try_from(outages().filter(|o| o.breached).count()).unwrap_or(u32::MAX),
            max_recoverable_outage_working_minutes: outages()
                .filter(|o| o.recoverable)
                .map(|o| o.working_minutes)
                .max()
                .unwrap_or(0),
            max_outage_working_minutes: outages().map(|o| o.working_minutes).max().unwrap_or(0),
            total_outage_working_minutes: outages().map(|o| u64::from(o.working_minutes)).sum(),
            faults: sum(|k| k.faults),
            recovery_steps: sum(|k| k.recovery_steps),
            technician_visits: sum(|k| k.technician_visits),
            seed: self.seed,
            self_recovery: self.self_recovery,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ActiveFault {
    class: FaultClass,
    /// For recoverable faults: the first ladder step that clears it.
    fixed_by: RecoveryStep,
    detail: &'static str,
}

impl ActiveFault {
    fn condition(&self) -> DeviceCondition {
        let kind = match self.class {
            FaultClass::Recoverable | FaultClass::Transient { .. } => FaultKind::Communication,
            FaultClass::Technician => FaultKind::Hardware,
            FaultClass::Attendant => FaultKind::NeedsAttendant,
        };
        DeviceCondition::Down {
            kind,
            detail: self.detail.to_owned(),
        }
    }
}

/// Devices whose faults can put the kiosk out of service.
fn decides_service(device: Device) -> bool {
    matches!(
        device,
        Device::Ui | Device::FiscalModule | Device::BillValidator | Device::CardReader
    )
}

struct KioskSim<'a> {
    /// Fault arrivals and depths: its own stream, so that a run with and without self-recovery
    /// meets the same faults at the same instants.
    faults_rng: StdRng,
    /// Technician travel and repair times.
    field_rng: StdRng,
    now: DateTime<Utc>,
    self_recovery: bool,
    calendar: &'a WorkingCalendar,
    monitor: HealthMonitor,
    ladders: BTreeMap<Device, RecoveryLadder>,
    faults: BTreeMap<Device, ActiveFault>,
    /// Next arrival of each process in [`FAULT_RATES`].
    arrivals: Vec<DateTime<Utc>>,
    running: BTreeMap<Device, (RecoveryStep, DateTime<Utc>)>,
    transient_until: BTreeMap<Device, DateTime<Utc>>,
    restarting_until: Option<DateTime<Utc>>,
    technician_at: Option<DateTime<Utc>>,
    repair_until: Option<DateTime<Utc>>,
    /// The open outage and whether only recoverable faults were behind it so far.
    open_outage: Option<(String, bool)>,
    recoverable_by_id: BTreeMap<String, bool>,
    report: KioskReport,
}

impl<'a> KioskSim<'a> {
    fn new(
        index: u32,
        opts: &FleetOptions,
        calendar: &'a WorkingCalendar,
        start: DateTime<Utc>,
    ) -> Self {
        let name = format!("kiosk-{:03}", index + 1);
        let seed = opts
            .seed
            .wrapping_add(u64::from(index).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut faults_rng = StdRng::seed_from_u64(seed);
        let field_rng = StdRng::seed_from_u64(seed ^ 0xD1B5_4A32_D192_ED03);
        let arrivals = FAULT_RATES
            .iter()
            .map(|r| start + exponential(&mut faults_rng, r.per_day))
            .collect();
        let ladders = Device::ALL
            .iter()
            .filter(|d| !matches!(d, Device::BackOffice | Device::Scanner | Device::Sbp))
            .map(|d| {
                let config = LadderConfig {
                    steps: ladder_steps(*d),
                    ..LadderConfig::default()
                };
                (*d, RecoveryLadder::new(*d, config, None))
            })
            .collect();
        KioskSim {
            monitor: HealthMonitor::new(name.clone(), AlertConfig::default(), calendar.clone()),
            faults_rng,
            field_rng,
            now: start,
            self_recovery: opts.self_recovery,
            calendar,
            ladders,
            faults: BTreeMap::new(),
            arrivals,
            running: BTreeMap::new(),
            transient_until: BTreeMap::new(),
            restarting_until: None,
            technician_at: None,
            repair_until: None,
            open_outage: None,
            recoverable_by_id: BTreeMap::new(),
            report: KioskReport {
                kiosk: name,
                faults: 0,
                recovery_steps: 0,
                technician_visits: 0,
                outages: Vec::new(),
            },
        }
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        let ladders = self
            .ladders
            .values()
            .filter_map(RecoveryLadder::poll_timeout);
        self.arrivals
            .iter()
            .copied()
            .chain(self.running.values().map(|(_, t)| *t))
            .chain(self.transient_until.values().copied())
            .chain(self.restarting_until)
            .chain(self.technician_at)
            .chain(self.repair_until)
            .chain(self.monitor.poll_timeout())
            .chain(ladders)
            .min()
    }

    fn run(mut self, end: DateTime<Utc>) -> KioskReport {
        while let Some(t) = self.next_wake() {
            if t >= end {
                break;
            }
            self.now = t.max(self.now);
            self.step();
        }
        self.finish(end)
    }

    /// Everything due at `self.now`.
    fn step(&mut self) {
        let now = self.now;
        for (i, rate) in FAULT_RATES.iter().enumerate() {
            if self.arrivals[i] <= now {
                self.arrivals[i] = now + exponential(&mut self.faults_rng, rate.per_day);
                self.inject(*rate);
            }
        }
        let done: Vec<(Device, RecoveryStep)> = self
            .running
            .iter()
            .filter(|(_, (_, t))| *t <= now)
            .map(|(d, (s, _))| (*d, *s))
            .collect();
        for (device, step) in done {
            self.running.remove(&device);
            let cleared = self
                .faults
                .get(&device)
                .is_some_and(|f| f.class == FaultClass::Recoverable && step >= f.fixed_by);
            // Report first (journaled), then let the device come back.
            let works = cleared || !self.faults.contains_key(&device);
            if let Some(l) = self.ladders.get_mut(&device) {
                l.handle_step_result(step, works, now);
            }
            if cleared {
                self.clear(device);
            }
        }
        let over: Vec<Device> = self
            .transient_until
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(d, _)| *d)
            .collect();
        for device in over {
            self.transient_until.remove(&device);
            self.clear(device);
        }
        if self.restarting_until.is_some_and(|t| t <= now) {
            self.restarting_until = None;
            // A fresh process re-opens every device: recoverable faults are gone.
            let gone: Vec<Device> = self
                .faults
                .iter()
                .filter(|(_, f)| f.class == FaultClass::Recoverable)
                .map(|(d, _)| *d)
                .collect();
            for d in gone {
                self.clear(d);
            }
            self.publish(Device::Ui);
        }
        if self.technician_at.is_some_and(|t| t <= now) {
            self.technician_at = None;
            let out = self.monitor.service_state().is_out_of_service();
            if self.needs_visit() || (out && self.has_lasting_fault()) {
                self.report.technician_visits += 1;
                let minutes = self.field_rng.gen_range(10..=40);
                self.repair_until = Some(now + Duration::minutes(minutes));
            }
        }
        if self.repair_until.is_some_and(|t| t <= now) {
            self.repair_until = None;
            let fixed: Vec<Device> = self
                .faults
                .iter()
                .filter(|(_, f)| !matches!(f.class, FaultClass::Transient { .. }))
                .map(|(d, _)| *d)
                .collect();
            for d in fixed {
                self.clear(d);
            }
        }
        self.monitor.handle_timeout(now);
        if self.self_recovery {
            let actions: Vec<_> = self
                .ladders
                .values_mut()
                .filter_map(|l| l.poll_action(now))
                .collect();
            for a in actions {
                if a.step == RecoveryStep::RestartProcess {
                    if self.restarting_until.is_none() {
                        self.restarting_until = Some(now + step_duration(a.step));
                        self.publish(Device::Ui);
                    }
                } else {
                    self.running
                        .insert(a.device, (a.step, now + step_duration(a.step)));
                }
            }
        }
        self.drain();
        self.call_technician_if_needed();
    }

    fn inject(&mut self, rate: FaultRate) {
        // Drawn even if the device is already down, to keep the stream aligned across modes.
        let depth = self.faults_rng.gen_range(0..100);
        let transient = exponential(&mut self.faults_rng, 1.0);
        if self.faults.contains_key(&rate.device) {
            return; // one fault at a time per device
        }
        self.report.faults += 1;
        let fixed_by = match (rate.device, depth) {
            (Device::Ui, _) => RecoveryStep::RestartProcess,
            (_, 0..=44) => RecoveryStep::ReopenPort,
            (_, 45..=69) => RecoveryStep::ProtocolReset,
            (_, 70..=89) => RecoveryStep::PowerCycle,
            _ => RecoveryStep::RestartProcess,
        };
        if let FaultClass::Transient { mean_minutes } = rate.class {
            // `transient` has a mean of one day; scale it to the mean duration.
            let scale = f64::from(mean_minutes) / (24.0 * 60.0);
            let ms = (transient.num_milliseconds() as f64 * scale) as i64;
            let until = self.now + Duration::milliseconds(ms);
            self.transient_until.insert(rate.device, until);
        }
        self.faults.insert(
            rate.device,
            ActiveFault {
                class: rate.class,
                fixed_by,
                detail: rate.detail,
            },
        );
        if decides_service(rate.device) && rate.class != FaultClass::Recoverable {
            if let Some((_, recoverable)) = &mut self.open_outage {
                *recoverable = false;
            }
        }
        self.publish(rate.device);
        if self.self_recovery && rate.class == FaultClass::Recoverable {
            if let Some(l) = self.ladders.get_mut(&rate.device) {
                l.handle_fault(self.now);
            }
        }
    }

    fn clear(&mut self, device: Device) {
        if self.faults.remove(&device).is_some() {
            self.running.remove(&device);
            if let Some(l) = self.ladders.get_mut(&device) {
                l.handle_recovered();
            }
            self.publish(device);
        }
    }

    /// Tells the monitor what the device looks like now.
    fn publish(&mut self, device: Device) {
        let condition = match self.faults.get(&device) {
            Some(f) => f.condition(),
            None if device == Device::Ui && self.restarting_until.is_some() => {
                DeviceCondition::Down {
                    kind: FaultKind::Communication,
                    detail: "terminal restarting".to_owned(),
                }
            }
            None => DeviceCondition::Up,
        };
        self.monitor.handle_device(device, condition, self.now);
        self.drain();
    }

    fn drain(&mut self) {
        for l in self.ladders.values_mut() {
            while let Some(ev) = l.poll_event() {
                if matches!(ev, JournalEvent::RecoveryStep { .. }) {
                    self.report.recovery_steps += 1;
                }
            }
        }
        while let Some(ev) = self.monitor.poll_event() {
            if let JournalEvent::OutageAlert {
                level, outage_id, ..
            } = ev
            {
                match level {
                    OutageLevel::Started => {
                        let recoverable = self.faults.iter().all(|(d, f)| {
                            !decides_service(*d) || f.class == FaultClass::Recoverable
                        });
                        self.open_outage = Some((outage_id, recoverable));
                    }
                    OutageLevel::Recovered => {
                        if let Some((id, recoverable)) = self.open_outage.take() {
                            self.recoverable_by_id.insert(id, recoverable);
                        }
                    }
                    OutageLevel::Escalated | OutageLevel::Breach => {}
                }
            }
        }
    }

    /// Whether any fault other than a passing link loss is present.
    fn has_lasting_fault(&self) -> bool {
        self.faults
            .values()
            .any(|f| !matches!(f.class, FaultClass::Transient { .. }))
    }

    /// Whether a fault that only a person can fix is present.
    fn needs_visit(&self) -> bool {
        self.faults.iter().any(|(d, f)| match f.class {
            FaultClass::Transient { .. } => false,
            FaultClass::Technician | FaultClass::Attendant => true,
            FaultClass::Recoverable => {
                !self.self_recovery || self.ladders.get(d).is_some_and(|l| l.is_exhausted())
            }
        })
    }

    fn call_technician_if_needed(&mut self) {
        if self.technician_at.is_some() || self.repair_until.is_some() {
            return;
        }
        let outage = self.monitor.service_state().is_out_of_service();
        if outage || self.needs_visit() {
            let travel = self.field_rng.gen_range(20..=90);
            self.technician_at = self
                .calendar
                .instant_after_working_minutes(self.now, travel);
        }
    }

    fn finish(mut self, end: DateTime<Utc>) -> KioskReport {
        let closed: Vec<_> = self.monitor.history().cloned().collect();
        let open = self.monitor.current_outage(end);
        for record in closed.into_iter().chain(open) {
            let recoverable = match self.recoverable_by_id.get(&record.outage_id) {
                Some(r) => *r,
                None => self.open_outage.as_ref().is_some_and(|(_, r)| *r),
            };
            self.report.outages.push(SimOutage {
                breached: record.breached || record.working_minutes >= 60,
                outage_id: record.outage_id,
                started_at: record.started_at,
                recovered_at: record.recovered_at,
                working_minutes: record.working_minutes,
                recoverable,
                cause: record.cause,
            });
        }
        self.report
    }
}

/// An exponentially distributed wait for a process of `per_day` events a day.
fn exponential(rng: &mut StdRng, per_day: f64) -> Duration {
    let u: f64 = rng.gen();
    let days = -(1.0 - u).ln() / per_day;
    // Capped at ten years: a rate near zero must not overflow the clock.
    let secs = (days * 86_400.0).min(10.0 * 365.0 * 86_400.0);
    Duration::milliseconds((secs * 1000.0) as i64)
}

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("calendar: {0}")]
    Calendar(#[from] super::calendar::CalendarError),
    #[error("reading calendar file {path}: {source}")]
    CalendarFile { path: PathBuf, source: io::Error },
    #[error("parsing calendar file {path}: {source}")]
    CalendarToml {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("the start date {0} has no local midnight in the calendar's time zone")]
    BadStart(NaiveDate),
}

/// Runs the simulation. `progress`, if given, advances by one per kiosk.
pub fn run_fleet_simulation(
    opts: &FleetOptions,
    progress: Option<&ProgressBar>,
) -> Result<FleetReport, FleetError> {
    let calendar = WorkingCalendar::new(opts.calendar.clone())?;
    let tz = calendar.time_zone();
    let midnight = opts
        .start
        .and_hms_opt(0, 0, 0)
        .ok_or(FleetError::BadStart(opts.start))?;
    let start = tz
        .from_local_datetime(&midnight)
        .earliest()
        .ok_or(FleetError::BadStart(opts.start))?
        .with_timezone(&Utc);
    let end = start + Duration::days(i64::from(opts.days));
    let mut per_kiosk = Vec::with_capacity(opts.kiosks as usize);
    for i in 0..opts.kiosks {
        per_kiosk.push(KioskSim::new(i, opts, &calendar, start).run(end));
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    Ok(FleetReport {
        kiosks: opts.kiosks,
        days: opts.days,
        seed: opts.seed,
        self_recovery: opts.self_recovery,
        per_kiosk,
    })
}

/// Prints the per-kiosk outages and the closing JSON line.
pub fn print_report(
    report: &FleetReport,
    calendar: &WorkingCalendar,
    out: &mut impl Write,
) -> io::Result<()> {
    let tz = calendar.time_zone();
    for k in &report.per_kiosk {
        let breaches = k.outages.iter().filter(|o| o.breached).count();
        writeln!(
            out,
            "{}: {} faults, {} recovery steps, {} technician visits, {} outages, {} breaches",
            k.kiosk,
            k.faults,
            k.recovery_steps,
            k.technician_visits,
            k.outages.len(),
            breaches
        )?;
        for o in &k.outages {
            let end = match o.recovered_at {
                Some(t) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(),
                None => "still open".to_owned(),
            };
            writeln!(
                out,
                "  {} {} → {}  {} working min{}{}  {}",
                o.outage_id,
                o.started_at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S"),
                end,
                o.working_minutes,
                if o.breached { "  BREACH" } else { "" },
                if o.recoverable { "  (recoverable)" } else { "" },
                o.cause
            )?;
        }
    }
    let line = serde_json::to_string(&report.summary()).map_err(io::Error::other)?;
    writeln!(out, "{line}")
}

impl FleetArgs {
    /// The options these arguments stand for (reads the calendar file if one is given).
    pub fn options(&self) -> Result<FleetOptions, FleetError> {
        let calendar = match &self.calendar {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| FleetError::CalendarFile {
                        path: path.clone(),
                        source,
                    })?;
                toml::from_str(&text).map_err(|source| FleetError::CalendarToml {
                    path: path.clone(),
                    source,
                })?
            }
            None => default_calendar(),
        };
        Ok(FleetOptions {
            kiosks: self.kiosks,
            days: self.days,
            seed: self.seed,
            self_recovery: !self.no_recovery,
            start: self.start,
            calendar,
        })
    }
}

/// `terminal simulate-fleet`: runs the simulation with a progress bar on stderr (shown only on
/// a terminal) and prints the report to `out`.
pub fn run_cli(args: &FleetArgs, out: &mut impl Write) -> anyhow::Result<FleetSummary> {
    let opts = args.options()?;
    let calendar = WorkingCalendar::new(opts.calendar.clone())?;
    let bar = ProgressBar::new(u64::from(opts.kiosks));
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} kiosks {elapsed}") {
        bar.set_style(style);
    }
    let report = run_fleet_simulation(&opts, Some(&bar))?;
    bar.finish_and_clear();
    print_report(&report, &calendar, out)?;
    Ok(report.summary())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_built_in_calendar_parses() {
        let cal = WorkingCalendar::new(default_calendar()).unwrap();
        assert_eq!(cal.time_zone(), chrono_tz::Europe::Moscow);
    }

    #[test]
    fn the_fault_table_is_sane() {
        assert!(FAULT_RATES
            .iter()
            .all(|r| r.per_day > 0.0 && r.per_day < 1.0));
        let devices: BTreeSet<Device> = FAULT_RATES.iter().map(|r| r.device).collect();
        // The scanner decides nothing about service and reopens itself; СБП is a method only
        // kiosks with a bank have, and the fleet model's kiosks take cash and card: neither is
        // simulated here.
        assert_eq!(devices.len(), Device::ALL.len() - 2);
        assert!(!devices.contains(&Device::Scanner));
        assert!(!devices.contains(&Device::Sbp));
    }
}
