//! The async shell around the session core: one task owns the [`Session`] and the [`Journal`],
//! receives what the UI and the device tasks report, executes the core's outputs in order (a
//! journal write is durable before the next output runs) and publishes the view.
//!
//! Devices are tasks that take commands on a channel and report [`CoreEvent`]s back. A report that
//! must not be acknowledged to the device before it is journaled (a stacked bill) carries an
//! [`Ack`]: the core fires it only after the resulting journal entries are on disk.
//!
//! Service mode ([`crate::service`]) runs inside the same task (`service.rs`): enabled with
//! [`Core::with_service`], fed by `Intent::Service` from the screen bridge and by
//! [`CoreEvent::Service`] results from the device tasks; its view rides on [`View::service`].

pub mod fakes;
pub mod health;
mod service;

pub use service::ServiceSetup;

use backend_sync::JournalEvent;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use crate::health::{Device, DeviceCondition, RecoveryAction, RecoveryStep};
use crate::journal::{Journal, JournalError};
use crate::ledger::Ledger;
use crate::metrics::MetricsSnapshot;
use crate::session::{
    Availability, BillCommand, CardCommand, DeviceInput, FiscalRequest, Input, Intent, Output,
    SbpCommand, Session, SlipRequest, View,
};
use crate::watchdog::Heartbeat;
use health::{HealthDesk, HealthHistory, HealthSetup};

/// Fired once the effects of a device report are durable.
pub type Ack = oneshot::Sender<()>;

/// Everything that reaches the core task.
#[derive(Debug)]
pub enum CoreEvent {
    Ui(Intent),
    Device(DeviceInput, Option<Ack>),
    /// A fact to journal as it is (device state changes, cassette removed…).
    Record(JournalEvent),
    /// The cassette was taken out: journal what the kiosk expected in it (encashment).
    CassetteRemoved,
    /// The bill validator finished its start-up: every report it held has been delivered.
    BillReady,
    /// A device task's view of its device (the health monitor decides what it means).
    Health(Device, DeviceCondition),
    /// The outcome of a recovery step the core asked for.
    RecoveryDone {
        device: Device,
        step: RecoveryStep,
        succeeded: bool,
    },
    /// Results for service mode (test page, Z report, card diagnosis…).
    Service(crate::service::ServiceInput),
    /// An orderly stop (SIGTERM): the session finishes what the customer is doing, and the core
    /// ends once no money is in flight ([`Session::may_stop`]).
    Stop,
    /// Ends the core at once (tests and the demo; a crash for the money rules).
    Shutdown,
}

/// Requests for the receipt task.
#[derive(Debug, Clone)]
pub enum ReceiptJob {
    Fiscalise(Box<FiscalRequest>),
    Print {
        receipt_id: String,
    },
    Slip(SlipRequest),
    /// Service mode: the printer's test page.
    TestPage,
    /// Service mode: close the fiscal shift and print the Z report.
    CloseShift,
    /// The core's schedule: close the shift and open a new one between customers.
    RenewShift,
    /// Service mode: print a ready document (the encashment receipt).
    EncashmentSlip(crate::service::EncashmentSlip),
}

/// Where the core sends commands.
#[derive(Clone)]
pub struct DeviceLinks {
    pub lookup: mpsc::Sender<String>,
    pub bill: mpsc::Sender<BillCommand>,
    pub card: mpsc::Sender<CardCommand>,
    pub receipts: mpsc::Sender<ReceiptJob>,
    /// The СБП task ([`crate::devices::sbp`]).
    pub sbp: mpsc::Sender<SbpCommand>,
}

/// A source of time, so tests can drive the core with a fake clock.
pub trait Clock: Send + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("journal write failed, the kiosk stops taking money: {0}")]
    Journal(#[from] JournalError),
    #[error("device task '{0}' is gone")]
    DeviceGone(&'static str),
    #[error("the journal cannot be read back: {0}")]
    Corrupt(String),
}

pub struct Core<C: Clock> {
    session: Session,
    journal: Journal,
    links: DeviceLinks,
    clock: C,
    view: watch::Sender<View>,
    tz: chrono_tz::Tz,
    terminal_id: String,
    /// Start-up recovery waits for the validator (the session decides when it is over).
    wait_for_bill_ready: bool,
    health: HealthDesk,
    health_history: HealthHistory,
    /// Where recovery steps go; without it the ladders stay idle (nobody could carry them out).
    recovery: Option<mpsc::Sender<RecoveryAction>>,
    metrics: Option<watch::Sender<MetricsSnapshot>>,
    heartbeat: Option<Heartbeat>,
    /// Service mode: the desk (when configured) and what it reads (see `service.rs`).
    service: service::ServiceState,
}

/// Fixed facts the core needs besides its parts.
#[derive(Debug, Clone)]
pub struct CoreSetup {
    /// The kiosk's time zone: "today" for daily limits is local.
    pub tz: chrono_tz::Tz,
    pub terminal_id: String,
    /// Hold customers until the validator delivered what it held at start-up (after a crash).
    pub wait_for_bill_ready: bool,
}

impl<C: Clock> Core<C> {
    /// Builds the core over an existing journal, replaying it into the ledger. With
    /// `wait_for_bill_ready`, customers wait until the validator reported everything it held.
    pub fn new(
        mut session: Session,
        journal: Journal,
        links: DeviceLinks,
        clock: C,
        view: watch::Sender<View>,
        setup: CoreSetup,
    ) -> Result<Self, CoreError> {
        let CoreSetup {
            tz,
            terminal_id,
            wait_for_bill_ready,
        } = setup;
        let events = journal
            .events()
            .map_err(|e| CoreError::Corrupt(e.to_string()))?;
        let records = journal.records(1, u64::MAX)?;
        let mut ledger = Ledger::default();
        let mut health_history = HealthHistory::default();
        let mut service = service::ServiceState::default();
        for ((seq, event), record) in events.iter().zip(&records) {
            let date = local_date(&record.time_utc, tz);
            ledger.apply(*seq, date, event);
            let time = utc_time(&record.time_utc);
            health_history.apply(time, event);
            service.note(event, time, tz);
        }
        session.set_time_zone(tz);
        session.restore(ledger);
        let health = HealthDesk::new(
            &terminal_id,
            HealthSetup::standard(tz),
            health_history.clone(),
            clock.now(),
        );
        Ok(Core {
            session,
            journal,
            links,
            clock,
            view,
            tz,
            terminal_id,
            wait_for_bill_ready,
            health,
            health_history,
            recovery: None,
            metrics: None,
            heartbeat: None,
            service,
        })
    }

    /// Watches the kiosk's health with this calendar, these alert thresholds and fitted devices;
    /// recovery steps go to `recovery` (an executor that can reopen ports and cut power).
    pub fn with_health(
        mut self,
        setup: HealthSetup,
        recovery: Option<mpsc::Sender<RecoveryAction>>,
    ) -> Self {
        self.health = HealthDesk::new(
            &self.terminal_id,
            setup,
            self.health_history.clone(),
            self.clock.now(),
        );
        self.recovery = recovery;
        self
    }

    /// Keeps `metrics` up to date (served on localhost by [`crate::metrics::serve`]).
    pub fn with_metrics(mut self, metrics: watch::Sender<MetricsSnapshot>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Beats `heartbeat` while the core loop runs (the systemd watchdog is fed only then).
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    pub fn health(&self) -> &HealthDesk {
        &self.health
    }

    /// Journals what the health desk has to say, hands out due recovery steps, and tells the
    /// session what works now.
    async fn flush_health(&mut self) -> Result<(), CoreError> {
        let now = self.clock.now();
        // A reset, power cycle or restart waits until no customer's money is in flight.
        let safe_point = !self.session.holds_money();
        if let Some(recovery) = self.recovery.as_ref().filter(|_| safe_point) {
            while let Some(action) = self.health.poll_action(now) {
                info!(device = %action.device, step = action.step.name(), attempt = action.attempt, "recovery step");
                if recovery.send(action).await.is_err() {
                    warn!("recovery executor gone");
                    self.health
                        .step_result(action.device, action.step, false, now);
                }
            }
        }
        while let Some(event) = self.health.poll_event() {
            self.record(&event)?;
        }
        // The service menu's device lines and outage history read the monitor.
        self.set_health_facts(crate::health::service_facts::health_facts(
            self.health.monitor(),
            now,
            self.tz,
        ));
        let availability: Availability = self.health.availability();
        if availability != self.session.availability() {
            info!(?availability, "what works changed");
            self.session
                .handle(Input::Device(DeviceInput::Availability(availability)), now);
            self.flush().await?;
        }
        self.publish_metrics();
        Ok(())
    }

    fn publish_metrics(&self) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let now = self.clock.now();
        metrics.send_modify(|m| {
            m.update_from_monitor(self.health.monitor(), now);
            m.cassette_bills = self
                .session
                .ledger()
                .cassette
                .iter()
                .map(|(d, n)| (u32::try_from(*d / 100).unwrap_or(0), *n))
                .collect();
            let printer = self.health.monitor().condition(Device::Printer);
            m.printer_paper_out = printer.is_down() && printer.detail().contains("paper");
            m.printer_paper_near_end = matches!(printer, DeviceCondition::Warning { .. });
        });
    }

    pub fn ledger(&self) -> &Ledger {
        self.session.ledger()
    }

    /// Journals what the runtime itself learned (device states, service operations, health)
    /// and hands it to the session's ledger.
    fn record(&mut self, event: &JournalEvent) -> Result<(), CoreError> {
        let seq = self.append(event)?;
        let date = self.clock.now().with_timezone(&self.tz).date_naive();
        self.session.journaled(seq, date, event);
        Ok(())
    }

    /// Appends to the journal (durable on return); returns the entry's sequence number.
    fn append(&mut self, event: &JournalEvent) -> Result<u64, CoreError> {
        let now = self.clock.now();
        match self.journal.append(event, now) {
            Ok(record) => {
                self.service.note(event, now, self.tz);
                Ok(record.seq)
            }
            Err(e) => {
                error!(error = %e, kind = event.kind(), "journal append failed");
                Err(e.into())
            }
        }
    }

    async fn on_device(&mut self, input: DeviceInput) -> Result<(), CoreError> {
        // Service mode may claim a test bill or a reprint result.
        let Some(mut input) = self.service_device(input).await? else {
            return Ok(());
        };
        let now = self.clock.now();
        if let DeviceInput::AccountFound(account) = &mut input {
            account.paid_today = self
                .session
                .ledger()
                .paid_today(&account.number, now.with_timezone(&self.tz).date_naive());
        }
        self.session.handle(Input::Device(input), now);
        self.flush().await
    }
    /// Runs until `Shutdown`, until a `Stop` has let the customer's business finish, or until a
    /// fatal error (a journal that cannot be written stops everything: no money may move without
    /// its record).
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<CoreEvent>,
    ) -> Result<Journal, CoreError> {
        self.publish();
        let now = self.clock.now();
        if self.wait_for_bill_ready {
            self.session.begin_recovery(now);
        } else {
            self.session.validator_settled(now);
        }
        self.flush().await?;
        self.flush_health().await?;
        self.session.begin_card_recovery(self.clock.now());
        self.flush().await?;
        loop {
            let session_due = self.session.poll_timeout();
            let health_due = self.health.poll_timeout();
            // The watchdog's heartbeat needs the loop to turn even when nothing happens.
            let beat_due = self
                .heartbeat
                .as_ref()
                .map(|_| self.clock.now() + chrono::Duration::seconds(HEARTBEAT_SECONDS));
            let timeout = [session_due, health_due, beat_due, self.service_timeout()]
                .into_iter()
                .flatten()
                .min();
            if let Some(heartbeat) = &self.heartbeat {
                heartbeat.beat();
            }
            let sleep = async {
                match timeout {
                    Some(at) => {
                        let wait = (at - self.clock.now()).to_std().unwrap_or_default();
                        tokio::time::sleep(wait).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event.filter(|e| !matches!(e, CoreEvent::Shutdown)) else {
                        info!("core stopping");
                        return Ok(self.journal);
                    };
                    self.on_event(event).await?;
                }
                _ = sleep => {
                    let now = self.clock.now();
                    self.on_service_timeout(now).await?;
                    if session_due.is_some_and(|t| t <= now) {
                        self.session.handle_timeout(now);
                        self.flush().await?;
                    }
                    self.health.on_timeout(now);
                    self.flush_health().await?;
                }
            }
            if self.session.may_stop() {
                info!("stopped in order: no money in flight");
                return Ok(self.journal);
            }
        }
    }

    /// One event from a device task, the UI, the sync or the recovery executor.
    async fn on_event(&mut self, event: CoreEvent) -> Result<(), CoreError> {
        match event {
            CoreEvent::Stop => {
                let now = self.clock.now();
                self.session.request_stop(now);
                self.flush().await?;
            }
            CoreEvent::Ui(intent) => {
                // A technician is never locked out: service mode has its own money checks.
                if let Intent::Service(intent) = intent {
                    self.on_service(crate::service::ServiceInput::Intent(intent))
                        .await?;
                    return Ok(());
                }
                let now = self.clock.now();
                self.session.handle(Input::Ui(intent), now);
                self.flush().await?;
            }
            CoreEvent::Device(input, ack) => {
                self.on_device(input).await?;
                // Only now, with its effects durable, may the device be acknowledged.
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
            }
            CoreEvent::Record(event) => {
                self.record(&event)?;
                self.refresh_service_view();
            }
            CoreEvent::CassetteRemoved => {
                let now = self.clock.now();
                self.session
                    .handle(Input::Device(DeviceInput::CassetteRemoved), now);
                self.flush().await?;
                self.refresh_service_view();
            }
            CoreEvent::Service(input) => {
                self.on_service(input).await?;
            }
            CoreEvent::BillReady => {
                if self.session.is_recovering() {
                    let now = self.clock.now();
                    self.session
                        .handle(Input::Device(DeviceInput::BillValidatorSettled), now);
                    self.flush().await?;
                    info!("start-up recovery settled");
                }
            }
            CoreEvent::Health(device, condition) => {
                let now = self.clock.now();
                self.health.report(device, condition, now);
                self.flush_health().await?;
            }
            CoreEvent::RecoveryDone {
                device,
                step,
                succeeded,
            } => {
                let now = self.clock.now();
                self.health.step_result(device, step, succeeded, now);
                self.flush_health().await?;
            }
            // `run` ends on it before it gets here.
            CoreEvent::Shutdown => {}
        }
        Ok(())
    }

    /// Executes the session's outputs in order.
    async fn flush(&mut self) -> Result<(), CoreError> {
        while let Some(output) = self.session.poll_output() {
            match output {
                // The session's ledger took its own entries when it made them.
                Output::Journal(event) => {
                    self.append(&event)?;
                }
                Output::LookupAccount { number } => self
                    .links
                    .lookup
                    .send(number)
                    .await
                    .map_err(|_| CoreError::DeviceGone("lookup"))?,
                Output::Bill(command) => self
                    .links
                    .bill
                    .send(command)
                    .await
                    .map_err(|_| CoreError::DeviceGone("bill acceptor"))?,
                Output::Card(command) => self
                    .links
                    .card
                    .send(command)
                    .await
                    .map_err(|_| CoreError::DeviceGone("card reader"))?,
                Output::Sbp(command) => self
                    .links
                    .sbp
                    .send(command)
                    .await
                    .map_err(|_| CoreError::DeviceGone("СБП"))?,
                Output::Fiscalise(request) => self
                    .links
                    .receipts
                    .send(ReceiptJob::Fiscalise(Box::new(request)))
                    .await
                    .map_err(|_| CoreError::DeviceGone("receipts"))?,
                Output::RenewShift => self
                    .links
                    .receipts
                    .send(ReceiptJob::RenewShift)
                    .await
                    .map_err(|_| CoreError::DeviceGone("receipts"))?,
                Output::PrintReceipt { receipt_id } => self
                    .links
                    .receipts
                    .send(ReceiptJob::Print { receipt_id })
                    .await
                    .map_err(|_| CoreError::DeviceGone("receipts"))?,
                Output::PrintSlip(slip) => {
                    if self
                        .links
                        .receipts
                        .send(ReceiptJob::Slip(slip))
                        .await
                        .is_err()
                    {
                        warn!("receipt task gone, slip not printed");
                    }
                }
            }
        }
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        let mut view = self.session.view();
        view.service = self.service_view();
        self.view.send_replace(view);
    }
}

/// How often the core loop turns at rest when a watchdog heartbeat is registered.
const HEARTBEAT_SECONDS: i64 = 5;

/// A journal time as UTC (the epoch if unreadable: only used for display and lockout replay).
fn utc_time(time_utc: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(time_utc)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The local calendar date of a journal time (for "paid today").
fn local_date(time_utc: &str, tz: chrono_tz::Tz) -> chrono::NaiveDate {
    DateTime::parse_from_rfc3339(time_utc)
        .map(|t| t.with_timezone(&tz).date_naive())
        .unwrap_or_default()
}

/// Waits until the published view shows a screen matching `pred`; false after `limit` (or when the
/// core is gone). Scripted customers (demo, soak) use it.
pub async fn wait_for_screen(
    view: &mut watch::Receiver<View>,
    limit: std::time::Duration,
    pred: impl Fn(&crate::session::Screen) -> bool,
) -> bool {
    let wait = view.wait_for(|v| pred(&v.screen));
    matches!(tokio::time::timeout(limit, wait).await, Ok(Ok(_)))
}

/// The core of a scripted kiosk (demo, soaks) in Moscow time over `journal`: document numbers
/// carry on after the journal's last entry, meter readings are accepted any day.
pub fn scripted_core(
    terminal_id: &str,
    limits: crate::money::Limits,
    journal: Journal,
    links: DeviceLinks,
    wait_for_bill_ready: bool,
) -> Result<(Core<SystemClock>, watch::Receiver<View>), CoreError> {
    let tz = chrono_tz::Europe::Moscow;
    let mut config = crate::session::SessionConfig::new(terminal_id, limits);
    config.first_document_no = journal.last_seq() + 1;
    let session = Session::new(
        config,
        Box::new(crate::reading_check::MeterRules::any_day(tz)),
    );
    let (view_tx, view) = watch::channel(session.view());
    let setup = CoreSetup {
        tz,
        terminal_id: terminal_id.into(),
        wait_for_bill_ready,
    };
    let core = Core::new(session, journal, links, SystemClock, view_tx, setup)?;
    Ok((core, view))
}
