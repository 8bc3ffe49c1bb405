//! The running kiosk's link to the back office: every journal entry reaches it exactly once.
//!
//! * **Outbox.** [`attach_outbox`] creates the outbox tables in the journal's own SQLite database and
//!   registers [`sync_client::outbox::enqueue`] as the journal's append hook, so an entry and its
//!   outbox row commit in one transaction (or neither does). Entries written before the outbox
//!   existed are queued once at start-up.
//! * **Syncer.** [`KioskSync::start`] spawns [`sync_client::syncer`] on the journal database and
//!   wakes it after every committed append. [`KioskSync`] is what the kiosk keeps: status, queue
//!   length and lag for metrics, [`KioskSync::health_slot`] for heartbeats. When the back office
//!   says it holds less than the outbox can still send (restored from an old backup, or a fresh
//!   embedded server over an old `var/sim` journal), the missing entries are requeued from the
//!   journal.
//! * **Accounts.** [`BackOfficeAccounts`] asks the back office; an unreachable back office falls
//!   back to the unverified account (`accounts::fall_back_when_unreachable`). Whether the back
//!   office answers (lookups, batches, heartbeats) is the `back_office` device's condition in the
//!   health desk (and so `Availability::online` on screen), through the [`AvailabilityFeed`].
//! * **Simulation.** [`BackOfficeSetup::simulated`] starts an embedded back office on 127.0.0.1
//!   with the demo accounts unless one is configured.
//!
//! The per-terminal key is never logged or shown: [`BackOfficeLink`]'s `Debug` redacts it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "sim")]
use back_office::EmbeddedBackOffice;
use backend_sync::wire::{AccountInfo, Heartbeat};
use backend_sync::JournalRecord;
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};
use sync_client::outbox;
use sync_client::syncer::{SyncConfig, SyncHandle, SyncStatus, SyncWaker};
use sync_client::{SyncClient, SyncError};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::accounts::{mask_address, mask_full_name, Account, AccountNumber, LookupError, Service};
use crate::health::{Device, DeviceCondition, FaultKind};
use crate::journal::{Journal, JournalError};
use crate::readings::{Meter, Zone, ZoneCode};
use crate::runtime::CoreEvent;

/// Why sync could not be set up (at start-up; once running, failures are retried, not fatal).
#[derive(Debug, thiserror::Error)]
pub enum SyncSetupError {
    #[error("back office: {0}")]
    Client(#[from] SyncError),
    #[error("back_office.key_file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("back_office.ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("outbox: {0}")]
    Outbox(#[from] rusqlite::Error),
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("{0}")]
    #[cfg(feature = "sim")]
    Embedded(#[from] back_office::embedded::EmbeddedError),
    #[error("the emulated bank: {0}")]
    #[cfg(feature = "sim")]
    Bank(String),
}

/// Where the back office is and how this terminal signs its requests.
#[derive(Clone)]
pub struct BackOfficeLink {
    /// Base URL with a trailing slash; the API is under `api/v1/` below it.
    pub url: String,
    pub terminal_id: String,
    key_hex: String,
    /// A private CA's certificates (PEM), `[back_office] ca_file`.
    ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for BackOfficeLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackOfficeLink")
            .field("url", &self.url)
            .field("terminal_id", &self.terminal_id)
            .field("key_hex", &"(redacted)")
            .finish()
    }
}

impl BackOfficeLink {
    /// Checks the URL (https, or http to loopback) and the key (32 bytes, hex).
    pub fn new(url: &str, terminal_id: &str, key_hex: &str) -> Result<Self, SyncSetupError> {
        let url = if url.ends_with('/') {
            url.to_string()
        } else {
            format!("{url}/")
        };
        SyncClient::new(&url, terminal_id, key_hex)?;
        Ok(BackOfficeLink {
            url,
            terminal_id: terminal_id.to_string(),
            key_hex: key_hex.trim().to_string(),
            ca_pem: None,
        })
    }

    /// Trusts also the CA certificates in `ca_file` (PEM) for the back office's certificate.
    pub fn with_ca_file(mut self, ca_file: Option<&Path>) -> Result<Self, SyncSetupError> {
        let Some(path) = ca_file else {
            return Ok(self);
        };
        let pem = std::fs::read(path).map_err(|e| SyncSetupError::CaFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        SyncClient::with_ca(&self.url, &self.terminal_id, &self.key_hex, Some(&pem)).map_err(
            |e| SyncSetupError::CaFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            },
        )?;
        self.ca_pem = Some(pem);
        Ok(self)
    }

    /// Like [`BackOfficeLink::new`] with the key read from the file `back-office terminal add`
    /// output was saved to.
    pub fn from_key_file(
        url: &str,
        terminal_id: &str,
        key_file: &Path,
    ) -> Result<Self, SyncSetupError> {
        let key = read_key_file(key_file)?;
        Self::new(url, terminal_id, &key)
    }

    pub fn client(&self) -> Result<SyncClient, SyncError> {
        SyncClient::with_ca(
            &self.url,
            &self.terminal_id,
            &self.key_hex,
            self.ca_pem.as_deref(),
        )
    }

    /// The fleet page for people.
    pub fn fleet_url(&self) -> String {
        format!("{}fleet", self.url)
    }
}

/// Reads and checks a key file (64 hex digits, surrounding whitespace ignored). Errors never
/// contain the file's contents.
pub fn read_key_file(path: &Path) -> Result<String, SyncSetupError> {
    let bad = |reason: String| SyncSetupError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let key = text.trim();
    backend_sync::auth::decode_key(key).map_err(|_| {
        bad("does not hold a 32-byte key in hex (64 digits), as `back-office terminal add` prints it".into())
    })?;
    Ok(key.to_string())
}

/// Creates the outbox in the journal's database, queues entries written before it existed, and
/// makes every later append queue its entry in the same transaction. Returns how many entries
/// were queued now.
pub fn attach_outbox(journal: &mut Journal) -> Result<u64, SyncSetupError> {
    let conn = journal.connection();
    outbox::create_schema(conn)?;
    let acked: i64 = conn
        .query_row("SELECT acked_seq FROM sync_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(0);
    let queued: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM sync_outbox", [], |r| {
        r.get(0)
    })?;
    let from = acked.max(queued).max(0) as u64 + 1;
    let tip = journal.last_seq();
    let mut backfilled = 0;
    if from <= tip {
        let records = journal.records(from, tip)?;
        let tx = journal.connection().unchecked_transaction()?;
        outbox::requeue(&tx, &records)?;
        tx.commit()?;
        backfilled = records.len() as u64;
    }
    journal.add_append_hook(Box::new(|tx, record| outbox::enqueue(tx, record)));
    Ok(backfilled)
}

/// Queues journal entries from `from` on again (those still queued are kept).
pub fn requeue_from_journal(db_path: &Path, from: u64) -> Result<u64, SyncSetupError> {
    let conn = Connection::open(db_path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let records = {
        let mut stmt = conn.prepare(
            "SELECT seq, time_utc, kind, payload, prev_hash, hash FROM journal WHERE seq >= ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![i64::try_from(from).unwrap_or(i64::MAX)], |r| {
            Ok(JournalRecord {
                seq: r.get::<_, i64>(0)?.max(0) as u64,
                time_utc: r.get(1)?,
                kind: r.get(2)?,
                payload: r.get(3)?,
                prev_hash: r.get(4)?,
                hash: r.get(5)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let tx = conn.unchecked_transaction()?;
    outbox::requeue(&tx, &records)?;
    tx.commit()?;
    Ok(records.len() as u64)
}

/// How eagerly the syncer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncTiming {
    pub batch_max: usize,
    /// Look at an empty outbox this often even when not woken.
    pub idle_poll: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub heartbeat_every: Duration,
}

impl Default for SyncTiming {
    /// Production: the defaults of [`SyncConfig::new`].
    fn default() -> Self {
        let c = SyncConfig::new(PathBuf::new(), "", "", "");
        SyncTiming {
            batch_max: c.batch_max,
            idle_poll: c.idle_poll,
            backoff_min: c.backoff_min,
            backoff_max: c.backoff_max,
            heartbeat_every: c.heartbeat_every,
        }
    }
}

impl SyncTiming {
    /// For simulation and tests: a back office on loopback notices the kiosk within seconds.
    pub fn quick() -> Self {
        SyncTiming {
            batch_max: 200,
            idle_poll: Duration::from_secs(1),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            heartbeat_every: Duration::from_secs(2),
        }
    }
}

/// Tells the core's health desk whether the back office answers: its `back_office` condition is
/// what `online` on screen (and the service state) is made of. Only changes are reported.
#[derive(Clone)]
pub struct AvailabilityFeed {
    tx: Arc<watch::Sender<Reach>>,
    /// Whether the back office's bank answers (the `sbp` device), for kiosks that offer СБП.
    sbp: Option<Arc<watch::Sender<bool>>>,
    core: mpsc::Sender<CoreEvent>,
}

/// What the kiosk last saw of the back office.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    Answers,
    Silent,
    /// It answers, and refuses this terminal on purpose (key, clock): a technician must act.
    Refuses(String),
}

impl Reach {
    fn condition(&self) -> DeviceCondition {
        match self {
            Reach::Answers => DeviceCondition::Up,
            Reach::Silent => DeviceCondition::Down {
                kind: FaultKind::Communication,
                detail: "the back office does not answer".into(),
            },
            Reach::Refuses(reason) => DeviceCondition::Down {
                kind: FaultKind::NeedsAttendant,
                detail: format!(
                    "the back office refuses this terminal ({reason}): check its key and clock"
                ),
            },
        }
    }
}

impl AvailabilityFeed {
    /// Starts forwarding to the core (inside a tokio runtime); the back office counts as answering
    /// until it is seen not to.
    pub fn spawn(core: mpsc::Sender<CoreEvent>) -> Self {
        let (tx, mut rx) = watch::channel(Reach::Answers);
        let forward = core.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let condition = rx.borrow_and_update().condition();
                if forward
                    .send(CoreEvent::Health(Device::BackOffice, condition))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        AvailabilityFeed {
            tx: Arc::new(tx),
            sbp: None,
            core,
        }
    }

    /// This kiosk offers СБП (`[back_office] sbp = true`): the heartbeats' word on the bank
    /// becomes the `sbp` device's condition. Without it the device stays "not fitted".
    pub fn with_sbp(mut self) -> Self {
        let (tx, mut rx) = watch::channel(false);
        let core = self.core.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let condition = match *rx.borrow_and_update() {
                    true => DeviceCondition::Up,
                    false => DeviceCondition::Down {
                        kind: FaultKind::Communication,
                        detail: "the back office takes no СБП payments now (its bank does not answer, or it cannot be reached)".into(),
                    },
                };
                if core
                    .send(CoreEvent::Health(Device::Sbp, condition))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        self.sbp = Some(Arc::new(tx));
        self
    }

    /// Records whether the back office takes СБП payments now (its last heartbeat said so).
    pub fn set_sbp(&self, available: bool) {
        if let Some(tx) = &self.sbp {
            tx.send_if_modified(|was| {
                let changed = *was != available;
                *was = available;
                changed
            });
        }
    }

    /// Records whether the back office answers; the core hears only of changes.
    pub fn set_online(&self, online: bool) {
        self.set(if online {
            Reach::Answers
        } else {
            Reach::Silent
        });
    }

    /// The back office answered with a deliberate refusal of this terminal.
    pub fn set_refused(&self, reason: &str) {
        self.set(Reach::Refuses(reason.to_owned()));
    }

    fn set(&self, reach: Reach) {
        self.tx.send_if_modified(|was| {
            let changed = *was != reach;
            *was = reach;
            changed
        });
    }
}

/// An embedded back office whose СБП goes through the T-Bank adapter to an emulated bank.
#[cfg(feature = "sim")]
pub async fn embedded_with_bank(
    terminal_id: &str,
) -> Result<(EmbeddedBackOffice, bank_emulator::BankEmulator), SyncSetupError> {
    use rand::Rng;
    let password: String = (0..24)
        .map(|_| char::from(b'a' + rand::thread_rng().gen_range(0..26)))
        .collect();
    let terminal_key = "KIOSKSIMDEMO";
    let bank = bank_emulator::BankEmulator::start(bank_emulator::EmulatorConfig {
        terminal_key: terminal_key.into(),
        password: password.clone(),
    })
    .await
    .map_err(|e| SyncSetupError::Bank(e.to_string()))?;
    bank.set_default(bank_emulator::Script::PaidAfter(Duration::from_secs(10)));
    let settings = back_office::sbp::SbpSettings::tbank(&bank.api_url(), terminal_key, &password);
    let bo = EmbeddedBackOffice::start_with_sbp(terminal_id, settings).await?;
    Ok((bo, bank))
}

/// Account lookup through the back office.
#[derive(Clone)]
pub struct BackOfficeAccounts {
    client: SyncClient,
    /// A customer waits at most this long before the offline fallback.
    timeout: Duration,
}

impl BackOfficeAccounts {
    pub fn new(link: &BackOfficeLink) -> Result<Self, SyncError> {
        Ok(BackOfficeAccounts {
            client: link.client()?,
            timeout: Duration::from_secs(5),
        })
    }

    /// `Ok(None)` when the back office does not know the account; `Unreachable` when it does not
    /// answer (network, timeout, refusal of this terminal), `BadAnswer` when the answer is unusable.
    pub async fn lookup(&self, number: &AccountNumber) -> Result<Option<Account>, LookupError> {
        let answer =
            tokio::time::timeout(self.timeout, self.client.lookup_account(number.as_str())).await;
        match answer {
            Err(_) => Err(LookupError::Unreachable(format!(
                "no answer within {} s",
                self.timeout.as_secs()
            ))),
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some(info))) => {
                let today = chrono::Utc::now().date_naive();
                account_from_wire(number, info, today).map(Some)
            }
            Ok(Err(SyncError::Decode(reason))) => Err(LookupError::BadAnswer(reason)),
            Ok(Err(e)) => Err(LookupError::Unreachable(e.to_string())),
        }
    }
}

/// The back office's account as the kiosk shows it: personal data masked here (the wire carries
/// it in full). A zone without a previous-reading date counts from a month before `today`.
pub fn account_from_wire(
    number: &AccountNumber,
    info: AccountInfo,
    today: NaiveDate,
) -> Result<Account, LookupError> {
    let mut meters = Vec::with_capacity(info.meters.len());
    for m in info.meters {
        let mut zones = Vec::with_capacity(m.zones.len());
        for z in m.zones {
            let code = ZoneCode::parse(&z.zone).ok_or_else(|| {
                LookupError::BadAnswer(format!("meter {}: zone {:?} is not T1–T3", m.id, z.zone))
            })?;
            let date = match z.previous_date.as_deref() {
                Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    LookupError::BadAnswer(format!("meter {}: previous_date {d:?}", m.id))
                })?,
                None => today - chrono::Days::new(30),
            };
            zones.push(Zone::new(code, z.previous, date));
        }
        // The wire has no factory number: the meter is shown by its name.
        let meter = Meter::new(m.id.clone(), String::new(), m.name, m.digits, zones, None)
            .map_err(|e| LookupError::BadAnswer(format!("meter {}: {e}", m.id)))?;
        meters.push(meter);
    }
    Ok(Account {
        number: number.clone(),
        holder_masked: mask_full_name(&info.holder_name),
        address_masked: mask_address(&info.address),
        services: info
            .services
            .into_iter()
            .map(|s| Service {
                id: s.id,
                name: s.name,
                debt_kopecks: Some(s.debt_kopecks),
            })
            .collect(),
        meters,
        verified: true,
    })
}

/// Everything the kiosk needs to sync, prepared before the journal is opened.
pub struct BackOfficeSetup {
    pub link: BackOfficeLink,
    pub availability: AvailabilityFeed,
    pub timing: SyncTiming,
    #[cfg(feature = "sim")]
    embedded: Option<EmbeddedBackOffice>,
    /// The emulated bank behind the embedded back office's СБП.
    #[cfg(feature = "sim")]
    bank: Option<Arc<bank_emulator::BankEmulator>>,
}

impl BackOfficeSetup {
    /// A configured back office (`terminal run --config`). Inside a tokio runtime.
    pub fn configured(link: BackOfficeLink, core: mpsc::Sender<CoreEvent>) -> Self {
        BackOfficeSetup {
            link,
            availability: AvailabilityFeed::spawn(core),
            timing: SyncTiming::default(),
            #[cfg(feature = "sim")]
            embedded: None,
            #[cfg(feature = "sim")]
            bank: None,
        }
    }

    #[cfg(feature = "sim")]
    /// `terminal run --simulate`: the configured back office if any, else an embedded one on
    /// 127.0.0.1 with the demo accounts and `terminal_id` registered, taking СБП through the
    /// T-Bank adapter from an emulated bank (every QR paid 10 s after it is issued unless the
    /// console says otherwise).
    pub async fn simulated(
        terminal_id: &str,
        configured: Option<BackOfficeLink>,
        core: mpsc::Sender<CoreEvent>,
    ) -> Result<Self, SyncSetupError> {
        let (link, embedded, bank) = match configured {
            Some(link) => (link, None, None),
            None => {
                let (bo, bank) = embedded_with_bank(terminal_id).await?;
                let link = BackOfficeLink::new(&bo.url, &bo.terminal_id, &bo.key_hex)?;
                (link, Some(bo), Some(Arc::new(bank)))
            }
        };
        Ok(BackOfficeSetup {
            link,
            availability: AvailabilityFeed::spawn(core).with_sbp(),
            timing: SyncTiming::quick(),
            embedded,
            bank,
        })
    }

    /// The emulated bank, when this setup started the embedded back office.
    #[cfg(feature = "sim")]
    pub fn bank(&self) -> Option<Arc<bank_emulator::BankEmulator>> {
        self.bank.clone()
    }

    /// The embedded server, when this setup started one.
    #[cfg(feature = "sim")]
    pub fn embedded(&self) -> Option<&EmbeddedBackOffice> {
        self.embedded.as_ref()
    }

    /// Attaches the outbox to `journal` (at `db_path`) and starts the syncer.
    pub fn start(self, journal: &mut Journal, db_path: &Path) -> Result<KioskSync, SyncSetupError> {
        #[cfg_attr(not(feature = "sim"), allow(unused_mut))]
        let mut sync = KioskSync::start(
            journal,
            db_path,
            self.link,
            self.timing,
            Some(self.availability),
        )?;
        #[cfg(feature = "sim")]
        {
            sync.embedded = self.embedded;
            sync.bank = self.bank;
        }
        Ok(sync)
    }
}

/// The running sync, kept by the kiosk for as long as it runs.
pub struct KioskSync {
    handle: SyncHandle,
    link: BackOfficeLink,
    watcher: JoinHandle<()>,
    #[cfg(feature = "sim")]
    embedded: Option<EmbeddedBackOffice>,
    /// Kept for as long as the embedded back office asks it.
    #[cfg(feature = "sim")]
    bank: Option<Arc<bank_emulator::BankEmulator>>,
}

impl KioskSync {
    /// Attaches the outbox to `journal` (whose file is `db_path`) and spawns the syncer on the
    /// current tokio runtime. With `availability`, `online` follows the back office's answers.
    pub fn start(
        journal: &mut Journal,
        db_path: &Path,
        link: BackOfficeLink,
        timing: SyncTiming,
        availability: Option<AvailabilityFeed>,
    ) -> Result<Self, SyncSetupError> {
        let backfilled = attach_outbox(journal)?;
        let mut cfg = SyncConfig::new(
            db_path.to_path_buf(),
            &link.url,
            &link.terminal_id,
            &link.key_hex,
        );
        cfg.batch_max = timing.batch_max;
        cfg.idle_poll = timing.idle_poll;
        cfg.backoff_min = timing.backoff_min;
        cfg.backoff_max = timing.backoff_max;
        cfg.heartbeat_every = timing.heartbeat_every;
        let handle = sync_client::spawn_syncer(cfg)?;
        // Until the health monitor feeds real states (`set_health`), say only what is known.
        handle.set_health(Heartbeat {
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            service_state: "unknown".into(),
            paper: "unknown".into(),
            ..Heartbeat::default()
        });
        let waker = handle.waker();
        journal.add_commit_hook(Box::new(move |_| waker.wake()));
        let watcher = spawn_watcher(
            handle.subscribe(),
            handle.waker(),
            db_path.to_path_buf(),
            availability,
        );
        tracing::info!(
            url = %link.url,
            terminal = %link.terminal_id,
            backfilled,
            "journal sync started"
        );
        Ok(KioskSync {
            handle,
            link,
            watcher,
            #[cfg(feature = "sim")]
            embedded: None,
            #[cfg(feature = "sim")]
            bank: None,
        })
    }

    pub fn status(&self) -> SyncStatus {
        self.handle.status()
    }

    /// Changes whenever the status does.
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.handle.subscribe()
    }

    /// Sends now rather than at the next poll.
    pub fn wake(&self) {
        self.handle.wake();
    }

    /// Where the kiosk's health goes into the heartbeats (queue length and lag are filled in by
    /// the syncer; `supervision` keeps it current).
    pub fn health_slot(&self) -> sync_client::syncer::HealthSlot {
        self.handle.health_slot()
    }

    pub fn link(&self) -> &BackOfficeLink {
        &self.link
    }

    /// The embedded back office (`run --simulate` without a configured one).
    #[cfg(feature = "sim")]
    pub fn embedded(&self) -> Option<&EmbeddedBackOffice> {
        self.embedded.as_ref()
    }

    /// Stops the syncer (what is queued stays queued on disk) and the embedded server.
    pub async fn shutdown(self) {
        self.watcher.abort();
        self.handle.shutdown().await;
        #[cfg(feature = "sim")]
        if let Some(bo) = self.embedded {
            bo.shutdown().await;
        }
    }
}

/// Follows the syncer: `online` on screen, and requeueing what the back office lost.
fn spawn_watcher(
    mut status: watch::Receiver<SyncStatus>,
    waker: SyncWaker,
    db_path: PathBuf,
    availability: Option<AvailabilityFeed>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut requeued_from: Option<u64> = None;
        loop {
            let s = status.borrow_and_update().clone();
            // Before the first request the status knows nothing about the back office.
            let heard = s.last_success_utc.is_some() || s.consecutive_failures > 0;
            if let (Some(feed), true) = (&availability, heard) {
                match &s.refused {
                    Some(reason) => feed.set_refused(reason),
                    None => feed.set_online(s.online),
                }
                feed.set_sbp(s.online && s.sbp_available);
            }
            match s.server_missing_from {
                Some(from) if requeued_from != Some(from) => {
                    let path = db_path.clone();
                    let done =
                        tokio::task::spawn_blocking(move || requeue_from_journal(&path, from))
                            .await;
                    match done {
                        Ok(Ok(n)) => {
                            tracing::warn!(
                                from,
                                entries = n,
                                "back office lacks entries the outbox had dropped; requeued them from the journal"
                            );
                            requeued_from = Some(from);
                            waker.wake();
                        }
                        Ok(Err(e)) => tracing::error!(error = %e, from, "requeue failed"),
                        Err(e) => tracing::error!(error = %e, from, "requeue task failed"),
                    }
                }
                None => requeued_from = None,
                _ => {}
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use backend_sync::JournalEvent;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    fn bill(k: i64) -> JournalEvent {
        JournalEvent::BillStacked {
            payment_id: Some("p1".into()),
            denomination_kopecks: k,
        }
    }

    fn outbox_seqs(journal: &Journal) -> Vec<u64> {
        outbox::pending(journal.connection(), 1000)
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect()
    }

    #[test]
    fn every_append_is_queued_and_earlier_entries_are_backfilled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        {
            let mut j = Journal::open(&path).unwrap();
            j.append(&bill(1000), now()).unwrap();
            j.append(&bill(5000), now()).unwrap();
        }
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(
            attach_outbox(&mut j).unwrap(),
            2,
            "written before the outbox"
        );
        j.append_all(&[bill(100), bill(200)], now()).unwrap();
        assert_eq!(outbox_seqs(&j), vec![1, 2, 3, 4]);
        let queued = outbox::pending(j.connection(), 10).unwrap();
        assert_eq!(
            queued,
            j.records(1, 4).unwrap(),
            "the journal's own records"
        );
        // Re-attaching (a restart) queues nothing twice.
        drop(j);
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(attach_outbox(&mut j).unwrap(), 0);
        outbox::acknowledge(j.connection(), 4, "x").unwrap();
        drop(j);
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(attach_outbox(&mut j).unwrap(), 0, "acknowledged stays sent");
        j.append(&bill(50), now()).unwrap();
        assert_eq!(outbox_seqs(&j), vec![5]);
    }

    #[test]
    fn a_failed_enqueue_leaves_no_journal_entry_and_vice_versa() {
        let mut j = Journal::in_memory().unwrap();
        attach_outbox(&mut j).unwrap();
        j.append(&bill(1000), now()).unwrap();
        // The outbox row for seq 2 already exists: the enqueue inside the append fails…
        let tx = j.connection().unchecked_transaction().unwrap();
        let mut stray = j.records(1, 1).unwrap().remove(0);
        stray.seq = 2;
        outbox::enqueue(&tx, &stray).unwrap();
        tx.commit().unwrap();
        assert!(j.append(&bill(5000), now()).is_err());
        // …and the journal entry it belonged to is gone with it.
        assert_eq!(j.last_seq(), 1);
        assert_eq!(j.records(1, 10).unwrap().len(), 1);
        assert_eq!(j.verify(), Ok(1));
        j.connection()
            .execute("DELETE FROM sync_outbox WHERE seq = 2", [])
            .unwrap();
        // A failed journal write (the append-only trigger refuses it) leaves no outbox row.
        j.connection()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON journal BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
            )
            .unwrap();
        assert!(j.append(&bill(100), now()).is_err());
        assert_eq!(outbox_seqs(&j), vec![1]);
        j.connection()
            .execute_batch("DROP TRIGGER refuse;")
            .unwrap();
        // The journal carries on with the next number, both sides in step.
        assert_eq!(j.append(&bill(100), now()).unwrap().seq, 2);
        assert_eq!(outbox_seqs(&j), vec![1, 2]);
    }

    #[test]
    fn commit_hooks_run_after_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let mut j = Journal::open(&path).unwrap();
        attach_outbox(&mut j).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (seen2, path2) = (seen.clone(), path.clone());
        j.add_commit_hook(Box::new(move |records| {
            // Another connection (the syncer's) already sees the rows.
            let other = Connection::open(&path2).unwrap();
            let n: i64 = other
                .query_row("SELECT COUNT(*) FROM sync_outbox", [], |r| r.get(0))
                .unwrap();
            seen2.lock().unwrap().push((records.len(), n));
        }));
        j.append(&bill(1), now()).unwrap();
        j.append_all(&[bill(2), bill(3)], now()).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![(1, 1), (2, 3)]);
    }

    #[test]
    fn requeue_from_journal_restores_dropped_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let mut j = Journal::open(&path).unwrap();
        attach_outbox(&mut j).unwrap();
        for k in 1..=4 {
            j.append(&bill(k), now()).unwrap();
        }
        outbox::acknowledge(j.connection(), 4, "x").unwrap();
        // A back office restored from a backup holds only 1.
        outbox::acknowledge(j.connection(), 1, "x").unwrap();
        assert_eq!(requeue_from_journal(&path, 2).unwrap(), 3);
        assert_eq!(outbox_seqs(&j), vec![2, 3, 4]);
    }

    #[test]
    fn the_key_never_shows() {
        let key = "ab".repeat(32);
        let link = BackOfficeLink::new("http://127.0.0.1:9", "T1", &key).unwrap();
        assert!(!format!("{link:?}").contains(&key));
        assert_eq!(link.url, "http://127.0.0.1:9/");
        assert_eq!(link.fleet_url(), "http://127.0.0.1:9/fleet");
        assert!(BackOfficeLink::new("http://example.org/", "T1", &key).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("terminal.key");
        std::fs::write(&file, "secret-not-hex\n").unwrap();
        let err = read_key_file(&file).unwrap_err().to_string();
        assert!(
            err.contains("terminal.key") && !err.contains("secret"),
            "{err}"
        );
        std::fs::write(&file, format!("{key}\n")).unwrap();
        assert_eq!(read_key_file(&file).unwrap(), key);
    }

    #[test]
    #[cfg(feature = "sim")]
    fn the_back_office_demo_set_is_the_kiosk_demo_set() {
        let fixture = crate::accounts::FixtureSource::demo();
        let scheme = crate::accounts::AccountScheme::default();
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let wire = back_office::accounts::kiosk_demo_accounts();
        assert_eq!(wire.len(), fixture.len());
        for info in wire {
            let number = scheme
                .parse(&info.account)
                .expect("valid under the default scheme");
            let mine = crate::accounts::AccountSource::lookup(&fixture, &number)
                .unwrap()
                .expect("in the fixture");
            let theirs = account_from_wire(&number, info, today).unwrap();
            assert_eq!(theirs.holder_masked, mine.holder_masked);
            assert_eq!(theirs.address_masked, mine.address_masked);
            assert_eq!(theirs.services, mine.services);
            assert_eq!(theirs.meters.len(), mine.meters.len());
            for (a, b) in theirs.meters.iter().zip(&mine.meters) {
                assert_eq!((&a.id, &a.name, a.digits), (&b.id, &b.name, b.digits));
                assert_eq!(a.zones, b.zones);
            }
        }
    }
}
