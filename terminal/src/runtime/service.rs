//! Service mode inside the core: runs the [`ServiceDesk`] and executes its commands. Kept apart
//! from the customer path in `mod.rs`; the hooks there are one line each.
//!
//! The desk reads a [`ServiceFacts`] snapshot assembled here from the ledger, a small log kept
//! from the journal ([`ServiceState::note`]) and [`HealthFacts`], which the health monitor's
//! wiring sets through [`Core::set_health_facts`].

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use backend_sync::JournalEvent;
use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{Clock, Core, CoreError, ReceiptJob};
use crate::journal::ExportFormat;
use crate::service::{
    device_name_ru, device_state_ru, lockout_from_journal, DeskConfig, DeviceFact, ErrorFact,
    HealthFacts, ServiceCommand, ServiceDesk, ServiceFacts, ServiceInput, ServiceView, ShiftFact,
};
use crate::service_pin::ServiceAccessConfig;
use crate::session::{DeviceInput, Screen};

/// How many device problems and recent receipts the desk is shown.
const KEEP: usize = 8;

/// Service mode's configuration, given to [`Core::with_service`].
#[derive(Debug, Clone)]
pub struct ServiceSetup {
    pub access: ServiceAccessConfig,
    /// Where the journal export goes (removable media).
    pub export_dir: PathBuf,
    /// Seconds without a touch before service mode closes.
    pub idle_seconds: i64,
}

/// What the core keeps for service mode.
#[derive(Default)]
pub(super) struct ServiceState {
    desk: Option<ServiceDesk>,
    health: HealthFacts,
    errors: VecDeque<ErrorFact>,
    /// Device id → (last state, ok).
    devices: BTreeMap<String, (String, bool)>,
    recent_receipts: VecDeque<String>,
    shift: ShiftFact,
    removed_uncounted: Option<BTreeMap<i64, u32>>,
}

impl ServiceState {
    /// Keeps what the desk shows up to date with one journal entry.
    pub(super) fn note(&mut self, event: &JournalEvent, time: DateTime<Utc>, tz: chrono_tz::Tz) {
        match event {
            JournalEvent::DeviceStateChanged {
                device,
                state,
                detail,
            } => {
                let (state_ru, ok) = device_state_ru(state);
                self.devices.insert(device.clone(), (state_ru.clone(), ok));
                if !ok {
                    let message = if detail.is_empty() {
                        format!("{}: {state_ru}", device_name_ru(device))
                    } else {
                        format!("{}: {state_ru} ({detail})", device_name_ru(device))
                    };
                    self.errors.push_front(ErrorFact {
                        time: time.with_timezone(&tz).format("%d.%m %H:%M").to_string(),
                        message,
                    });
                    self.errors.truncate(KEEP);
                }
            }
            JournalEvent::ReceiptUnprinted { receipt_id, reason } => {
                self.errors.push_front(ErrorFact {
                    time: time.with_timezone(&tz).format("%d.%m %H:%M").to_string(),
                    message: format!("Чек {receipt_id} не напечатан: {reason}"),
                });
                self.errors.truncate(KEEP);
            }
            JournalEvent::ReceiptFiscalised { receipt_id, .. } => {
                self.recent_receipts.retain(|r| r != receipt_id);
                self.recent_receipts.push_front(receipt_id.clone());
                self.recent_receipts.truncate(KEEP);
            }
            JournalEvent::ShiftOpened { shift_number, .. } => {
                self.shift = ShiftFact {
                    number: Some(*shift_number),
                    open: true,
                };
            }
            JournalEvent::ShiftClosed { shift_number, .. } => {
                self.shift = ShiftFact {
                    number: Some(*shift_number),
                    open: false,
                };
            }
            JournalEvent::CassetteRemoved { expected, .. } => {
                self.removed_uncounted = Some(
                    expected
                        .iter()
                        .filter_map(|(d, n)| Some((d.parse::<i64>().ok()?, *n)))
                        .collect(),
                );
            }
            JournalEvent::EncashmentCounted { .. } => self.removed_uncounted = None,
            _ => {}
        }
    }
}

impl<C: Clock> Core<C> {
    /// Turns service mode on. The lockout streak is rebuilt from the journal's `ServiceLogin`
    /// entries, so a restart does not reset it.
    pub fn with_service(mut self, setup: ServiceSetup) -> Result<Self, CoreError> {
        let records = self.journal.records(1, u64::MAX)?;
        let events = self
            .journal
            .events()
            .map_err(|e| CoreError::Corrupt(e.to_string()))?;
        let times: Vec<DateTime<Utc>> = records
            .iter()
            .map(|r| super::utc_time(&r.time_utc))
            .collect();
        let lockout = lockout_from_journal(
            times.iter().copied().zip(events.iter().map(|(_, e)| e)),
            &setup.access,
        );
        let config = DeskConfig {
            access: setup.access,
            export_dir: setup.export_dir,
            tz: self.tz,
            idle_seconds: setup.idle_seconds,
        };
        let desk = ServiceDesk::new(config, lockout)
            .map_err(|e| CoreError::Corrupt(format!("service PIN configuration: {e}")))?;
        self.service.desk = Some(desk);
        Ok(self)
    }

    /// Device states and outage history for the service screens (from the health monitor).
    pub fn set_health_facts(&mut self, facts: HealthFacts) {
        self.service.health = facts;
    }

    fn service_facts(&self) -> ServiceFacts {
        let customer_idle = !self.session.is_recovering()
            && self.session.ledger().open_payments.is_empty()
            && matches!(self.session.view().screen, Screen::Welcome);
        ServiceFacts {
            terminal_id: self.terminal_id.clone(),
            customer_idle,
            cassette: self.session.ledger().cassette.clone(),
            removed_uncounted: self.service.removed_uncounted.clone(),
            unprinted: self.session.ledger().unprinted.keys().cloned().collect(),
            stuck_notes: self
                .session
                .ledger()
                .stuck_notes
                .values()
                .map(|n| (n.reference.clone(), n.denomination, n.account.clone()))
                .collect(),
            recent_receipts: self.service.recent_receipts.iter().cloned().collect(),
            shift: self.service.shift,
            last_errors: self.service.errors.iter().cloned().collect(),
            journal_devices: self
                .service
                .devices
                .iter()
                .map(|(id, (state, ok))| DeviceFact {
                    name: device_name_ru(id),
                    state: state.clone(),
                    ok: *ok,
                })
                .collect(),
            health: self.service.health.clone(),
        }
    }

    pub(super) fn service_view(&self) -> Option<ServiceView> {
        let desk = self.service.desk.as_ref()?;
        if !desk.is_open() {
            return None;
        }
        desk.view(&self.service_facts())
    }

    /// Device facts changed: an open service screen shows them at once.
    pub(super) fn refresh_service_view(&self) {
        if self.service.desk.as_ref().is_some_and(ServiceDesk::is_open) {
            self.publish();
        }
    }

    pub(super) fn service_timeout(&self) -> Option<DateTime<Utc>> {
        self.service.desk.as_ref()?.poll_timeout()
    }

    pub(super) async fn on_service_timeout(&mut self, now: DateTime<Utc>) -> Result<(), CoreError> {
        let Some(desk) = self.service.desk.as_mut() else {
            return Ok(());
        };
        if desk.poll_timeout().is_some_and(|d| d <= now) {
            desk.handle_timeout(now);
            self.run_service_commands().await?;
            self.publish();
        }
        Ok(())
    }

    /// One input for the desk, then its commands, then the view.
    pub(super) async fn on_service(&mut self, input: ServiceInput) -> Result<(), CoreError> {
        let facts = self.service_facts();
        let now = self.clock.now();
        let Some(desk) = self.service.desk.as_mut() else {
            return Ok(());
        };
        desk.handle(input, &facts, now);
        self.run_service_commands().await?;
        self.publish();
        Ok(())
    }

    /// A device report the desk is waiting for (the test bill, a reprint); `None` when claimed.
    pub(super) async fn service_device(
        &mut self,
        input: DeviceInput,
    ) -> Result<Option<DeviceInput>, CoreError> {
        let Some(desk) = self.service.desk.as_ref() else {
            return Ok(Some(input));
        };
        let claimed = match &input {
            DeviceInput::BillEscrow(m) if desk.bill_test_active() => {
                ServiceInput::TestBillEscrow(m.kopecks())
            }
            DeviceInput::BillReturned(m) if desk.bill_test_active() => {
                ServiceInput::TestBillReturned(m.kopecks())
            }
            DeviceInput::BillStacked(m) if desk.bill_test_active() => {
                ServiceInput::TestBillStacked(m.kopecks())
            }
            DeviceInput::BillRejected { reason } if desk.bill_test_active() => {
                ServiceInput::TestBillRejected(reason.clone())
            }
            DeviceInput::Printed { receipt_id } if desk.awaits_reprint(receipt_id) => {
                ServiceInput::Reprinted {
                    receipt_id: receipt_id.clone(),
                    result: Ok(()),
                }
            }
            DeviceInput::PrintFailed { receipt_id, reason } if desk.awaits_reprint(receipt_id) => {
                ServiceInput::Reprinted {
                    receipt_id: receipt_id.clone(),
                    result: Err(reason.clone()),
                }
            }
            _ => return Ok(Some(input)),
        };
        self.on_service(claimed).await?;
        Ok(None)
    }

    async fn run_service_commands(&mut self) -> Result<(), CoreError> {
        loop {
            let Some(command) = self.service.desk.as_mut().and_then(|d| d.poll_output()) else {
                return Ok(());
            };
            match command {
                ServiceCommand::Journal(event) => self.record(&event)?,
                ServiceCommand::Bill(command) => self
                    .links
                    .bill
                    .send(command)
                    .await
                    .map_err(|_| CoreError::DeviceGone("bill acceptor"))?,
                ServiceCommand::Card(command) => self
                    .links
                    .card
                    .send(command)
                    .await
                    .map_err(|_| CoreError::DeviceGone("card reader"))?,
                ServiceCommand::PrintTestPage => {
                    self.send_receipt_job(ReceiptJob::TestPage).await?
                }
                ServiceCommand::CloseShift => self.send_receipt_job(ReceiptJob::CloseShift).await?,
                ServiceCommand::PrintEncashmentSlip(slip) => {
                    self.send_receipt_job(ReceiptJob::EncashmentSlip(slip))
                        .await?
                }
                ServiceCommand::Reprint { receipt_id } => {
                    self.send_receipt_job(ReceiptJob::Print { receipt_id })
                        .await?
                }
                ServiceCommand::ResolveStuckNote {
                    reference,
                    found_in_cassette,
                } => {
                    let now = self.clock.now();
                    self.session
                        .resolve_stuck_note(&reference, found_in_cassette, now);
                    self.flush().await?;
                }
                ServiceCommand::ExportJournal { dir } => {
                    let result = self.export_journal(&dir);
                    let facts = self.service_facts();
                    let now = self.clock.now();
                    if let Some(desk) = self.service.desk.as_mut() {
                        desk.handle(ServiceInput::Exported(result), &facts, now);
                    }
                }
            }
        }
    }

    async fn send_receipt_job(&mut self, job: ReceiptJob) -> Result<(), CoreError> {
        self.links
            .receipts
            .send(job)
            .await
            .map_err(|_| CoreError::DeviceGone("receipts"))
    }

    /// Writes the whole journal as JSON lines to a new file in `dir` (synced to the medium).
    fn export_journal(&self, dir: &std::path::Path) -> Result<(PathBuf, u64), String> {
        let now = self.clock.now().with_timezone(&self.tz);
        let path = dir.join(format!(
            "journal-{}-{}.jsonl",
            self.terminal_id,
            now.format("%Y%m%d-%H%M%S")
        ));
        let write = || -> Result<u64, String> {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
            let mut out = std::io::BufWriter::new(file);
            let n = self
                .journal
                .export(1, u64::MAX, ExportFormat::Jsonl, &mut out)
                .map_err(|e| e.to_string())?;
            let file = out.into_inner().map_err(|e| e.to_string())?;
            // Removable media is pulled right after: the data must be on it.
            file.sync_all().map_err(|e| e.to_string())?;
            Ok(n)
        };
        match write() {
            Ok(n) => {
                info!(entries = n, path = %path.display(), "journal exported");
                Ok((path, n))
            }
            Err(e) => {
                warn!(error = %e, dir = %dir.display(), "journal export failed");
                Err(e)
            }
        }
    }
}
