//! [`Sbp`]: the back office's СБП service — what create, status, revoke, refund and a bank
//! notification do to the stored QR, through the configured [`SbpBank`]; and whether the bank
//! answers (the heartbeat's `sbp_available`). The HTTP handlers and the poller call it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend_sync::sbp::{SbpQrStatus, SbpState};
use backend_sync::wire::WIRE_VERSION;

use super::bank::{BankError, BankState, QrRegistration, SbpBank};
use super::store::{self, Applied, QrRow};
use super::tbank::{Tbank, TbankConfig};
use crate::db::{Store, StoreError};

/// The most one QR may ask for, in kopecks (1 000 000 ₽).
pub const MAX_AMOUNT_KOPECKS: i64 = 100_000_000;
/// The bank counts as available this long after it last answered.
pub const AVAILABLE_WINDOW: Duration = Duration::from_secs(120);

/// How the СБП service runs.
#[derive(Debug, Clone)]
pub struct SbpSettings {
    pub tbank: TbankConfig,
    /// How long a QR may be paid.
    pub qr_lifetime: Duration,
    /// How often the poller looks for due QRs (and the first poll's delay; later ones back off
    /// up to 30 s).
    pub poll_interval: Duration,
    /// A kiosk's status request asks the bank afresh when the stored state is older than this.
    pub stale_after: Duration,
    /// Past its lifetime plus this, an unpaid QR is cancelled at the bank and marked expired.
    pub expiry_grace: Duration,
    /// The bank unreachable this long raises the `sbp_bank_unreachable` alert.
    pub unreachable_alert_after: Duration,
}

impl SbpSettings {
    /// T-Bank at `api_url` with the usual timings (5-minute QRs, 2-second polls).
    pub fn tbank(api_url: &str, terminal_key: &str, password: &str) -> SbpSettings {
        SbpSettings {
            tbank: TbankConfig {
                api_url: api_url.to_string(),
                terminal_key: terminal_key.to_string(),
                password: crate::alerts::Secret::new(password),
                notification_url: None,
                ca_pem: None,
                timeout: Duration::from_secs(10),
            },
            qr_lifetime: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            stale_after: Duration::from_secs(2),
            expiry_grace: Duration::from_secs(30),
            unreachable_alert_after: Duration::from_secs(300),
        }
    }
}

/// Why a kiosk's or finance's request was refused.
#[derive(Debug, thiserror::Error)]
pub enum SbpError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no such СБП payment")]
    NotFound,
    #[error(transparent)]
    Bank(#[from] BankError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default)]
struct Health {
    last_ok: Option<Instant>,
    last_failure: Option<Instant>,
    failing_since: Option<Instant>,
    last_error: String,
}

/// The СБП service of one server.
pub struct Sbp {
    pub(crate) store: Store,
    pub(crate) bank: Arc<dyn SbpBank>,
    pub(crate) settings: SbpSettings,
    health: Mutex<Health>,
    started: Instant,
    /// One registration at a time per payment id.
    creating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Sbp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sbp")
            .field("bank", &self.bank.name())
            .field("settings", &self.settings)
            .finish()
    }
}

impl Sbp {
    /// The service over T-Bank as `settings` say.
    pub fn new(store: Store, settings: SbpSettings) -> Result<Arc<Sbp>, String> {
        let bank = Arc::new(Tbank::new(settings.tbank.clone())?);
        Ok(Self::with_bank(store, bank, settings))
    }

    /// The service over any adapter.
    pub fn with_bank(store: Store, bank: Arc<dyn SbpBank>, settings: SbpSettings) -> Arc<Sbp> {
        Arc::new(Sbp {
            store,
            bank,
            settings,
            health: Mutex::default(),
            started: Instant::now(),
            creating: Mutex::default(),
        })
    }

    /// Runs the poller until `stop` resolves.
    pub async fn run_poller(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        super::poller::run(self, stop).await;
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes whether a bank call got an answer (a refusal is an answer).
    pub(crate) fn note<T>(&self, r: &Result<T, BankError>) {
        let mut h = self.health();
        match r {
            Err(e) if e.is_unreachable() => {
                h.last_failure = Some(Instant::now());
                h.failing_since.get_or_insert_with(Instant::now);
                h.last_error = e.to_string();
            }
            _ => {
                h.last_ok = Some(Instant::now());
                h.failing_since = None;
            }
        }
    }

    /// The bank answered recently and its last call did not go unanswered.
    pub fn available(&self) -> bool {
        let h = self.health();
        match h.last_ok {
            Some(ok) => ok.elapsed() < AVAILABLE_WINDOW && h.last_failure.is_none_or(|f| f < ok),
            None => false,
        }
    }

    /// How long the bank has gone unanswered (since start when it never answered), with the
    /// last error; `None` while it answers.
    pub(crate) fn unreachable_for(&self) -> Option<(Duration, String)> {
        let h = self.health();
        if let Some(since) = h.failing_since {
            return Some((since.elapsed(), h.last_error.clone()));
        }
        match h.last_ok {
            None => Some((
                self.started.elapsed(),
                "the bank has not answered yet".into(),
            )),
            Some(_) => None,
        }
    }

    /// Time since the last bank call answered or failed.
    pub(crate) fn idle(&self) -> Duration {
        let h = self.health();
        [h.last_ok, h.last_failure]
            .into_iter()
            .flatten()
            .map(|t| t.elapsed())
            .min()
            .unwrap_or(Duration::MAX)
    }

    pub(crate) fn status_of(row: &QrRow) -> SbpQrStatus {
        let payable = row.state == SbpState::Pending;
        SbpQrStatus {
            version: WIRE_VERSION,
            payment_id: row.payment_id.clone(),
            state: row.state,
            amount_kopecks: row.amount_kopecks,
            payload: payable.then(|| row.payload.clone()),
            expires_utc: Some(row.expires_utc.clone()),
            bank_payment_id: Some(row.bank_payment_id.clone()),
            revoke_requested: row.revoke_requested,
            detail: if row.detail.is_empty() {
                row.bank_status.clone()
            } else {
                format!("{}: {}", row.bank_status, row.detail)
            },
        }
    }

    async fn row(&self, payment_id: &str) -> Result<Option<QrRow>, StoreError> {
        let id = payment_id.to_string();
        self.store.read(move |sql| store::get(sql, &id)).await
    }

    /// Stores what the bank said; logs what changed. Returns the row as it is now.
    pub(crate) async fn apply(
        &self,
        payment_id: &str,
        s: BankState,
    ) -> Result<Option<QrRow>, StoreError> {
        let (id, now) = (payment_id.to_string(), crate::now_utc());
        let applied = self
            .store
            .run("sbp", move |sql| store::apply(sql, &id, &s, &now))
            .await?;
        Ok(match applied {
            Applied::Unknown => None,
            Applied::Unchanged(row) => Some(row),
            Applied::Changed { from, row } => {
                tracing::info!(payment = %row.payment_id, terminal = %row.terminal_id, from = from.as_str(), to = row.state.as_str(), bank_status = %row.bank_status, "СБП payment state changed");
                Some(row)
            }
            Applied::AmountMismatch { row, bank_kopecks } => {
                tracing::error!(payment = %row.payment_id, ours = row.amount_kopecks, bank = bank_kopecks, "the bank confirmed another amount than the QR's; not marked paid");
                let (t, detail) = (
                    row.terminal_id.clone(),
                    format!(
                        "СБП payment {}: the bank confirmed {bank_kopecks} kopecks, the QR is for {}",
                        row.payment_id, row.amount_kopecks
                    ),
                );
                let now = crate::now_utc();
                self.store
                    .run("incidents", move |sql| {
                        crate::incidents::record_in(
                            sql,
                            Some(&t),
                            "sbp_amount_mismatch",
                            &detail,
                            &now,
                        )
                    })
                    .await?;
                Some(row)
            }
        })
    }

    fn create_lock(&self, payment_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, l| Arc::strong_count(l) > 1);
        m.entry(payment_id.to_string()).or_default().clone()
    }

    /// The QR of `payment_id` for `terminal`: the stored one, or a new one from the bank.
    pub async fn create(
        &self,
        terminal: &str,
        payment_id: &str,
        amount_kopecks: i64,
        account: &str,
    ) -> Result<SbpQrStatus, SbpError> {
        if !backend_sync::sbp::is_payment_id(payment_id) {
            return Err(SbpError::Invalid(
                "payment_id must be 1–64 letters, digits, '-' or '_'".into(),
            ));
        }
        if !(1..=MAX_AMOUNT_KOPECKS).contains(&amount_kopecks) {
            return Err(SbpError::Invalid(format!(
                "amount_kopecks must be 1–{MAX_AMOUNT_KOPECKS}"
            )));
        }
        if account.is_empty()
            || account.len() > 32
            || !account
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(SbpError::Invalid(
                "account must be 1–32 letters, digits or '-'".into(),
            ));
        }
        let lock = self.create_lock(payment_id);
        let _held = lock.lock().await;
        if let Some(row) = self.row(payment_id).await? {
            if row.terminal_id != terminal {
                return Err(SbpError::Conflict(format!(
                    "payment {payment_id} has a QR of another terminal"
                )));
            }
            if row.amount_kopecks != amount_kopecks || row.account != account {
                return Err(SbpError::Conflict(format!(
                    "payment {payment_id} has a QR for {} kopecks to account {}; a payment id is registered once",
                    row.amount_kopecks, row.account
                )));
            }
            return Ok(Self::status_of(&row));
        }
        let qr = QrRegistration {
            order_id: payment_id.to_string(),
            amount_kopecks,
            description: format!("Оплата по лицевому счёту {account}"),
            lifetime: self.settings.qr_lifetime,
        };
        let r = self.bank.register_qr(&qr).await;
        self.note(&r);
        let reg = r?;
        let now = crate::now_utc();
        let row = QrRow {
            payment_id: payment_id.to_string(),
            terminal_id: terminal.to_string(),
            account: account.to_string(),
            amount_kopecks,
            bank: self.bank.name().to_string(),
            bank_payment_id: reg.bank_payment_id,
            payload: reg.payload,
            expires_utc: reg
                .expires_utc
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            state: SbpState::Pending,
            bank_status: "NEW".into(),
            detail: String::new(),
            revoke_requested: false,
            created_utc: now.clone(),
            updated_utc: now.clone(),
            day: crate::project::business_day(&now),
            paid_utc: None,
            checked_utc: None,
            polls: 0,
            refunded_kopecks: 0,
            refund_reason: None,
            refunded_by: None,
        };
        let next = plus(&now, self.settings.poll_interval);
        let r2 = row.clone();
        let inserted = self
            .store
            .run("sbp", move |sql| store::insert(sql, &r2, &next))
            .await?;
        if !inserted {
            // Another server registered it meanwhile: serve that one (ours stays unpaid and
            // expires at the bank).
            tracing::warn!(
                payment = payment_id,
                "QR registered twice (another server?); serving the stored one"
            );
            return self
                .row(payment_id)
                .await?
                .map(|r| Self::status_of(&r))
                .ok_or(SbpError::NotFound);
        }
        tracing::info!(payment = payment_id, terminal, amount_kopecks, bank_payment = %row.bank_payment_id, "СБП QR registered");
        Ok(Self::status_of(&row))
    }

    /// The terminal's own QR (others' are `NotFound`).
    async fn own(&self, terminal: &str, payment_id: &str) -> Result<QrRow, SbpError> {
        if !backend_sync::sbp::is_payment_id(payment_id) {
            return Err(SbpError::NotFound);
        }
        match self.row(payment_id).await? {
            Some(r) if r.terminal_id == terminal => Ok(r),
            _ => Err(SbpError::NotFound),
        }
    }

    /// The QR's state, asked of the bank afresh when pending and stale.
    pub async fn status(&self, terminal: &str, payment_id: &str) -> Result<SbpQrStatus, SbpError> {
        let row = self.own(terminal, payment_id).await?;
        if row.state != SbpState::Pending || !self.stale(&row) {
            return Ok(Self::status_of(&row));
        }
        let r = self.bank.state(&row.bank_payment_id).await;
        self.note(&r);
        match r {
            Ok(s) => Ok(Self::status_of(
                &self.apply(payment_id, s).await?.unwrap_or(row),
            )),
            Err(e) => {
                tracing::warn!(payment = payment_id, error = %e, "bank state not known; answering the stored one");
                Ok(Self::status_of(&row))
            }
        }
    }

    fn stale(&self, row: &QrRow) -> bool {
        let Some(t) = row
            .checked_utc
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        else {
            return true;
        };
        let age = chrono::Utc::now().signed_duration_since(t);
        age.to_std().unwrap_or_default() >= self.settings.stale_after
    }

    /// Records the kiosk's revoke and asks the bank; a bank that does not answer leaves it
    /// pending with `revoke_requested` for the poller.
    pub async fn revoke(&self, terminal: &str, payment_id: &str) -> Result<SbpQrStatus, SbpError> {
        let row = self.own(terminal, payment_id).await?;
        if row.state != SbpState::Pending {
            return Ok(Self::status_of(&row));
        }
        let (id, now) = (payment_id.to_string(), crate::now_utc());
        self.store
            .run("sbp", move |sql| {
                store::set_revoke_requested(sql, &id, &now)
            })
            .await?;
        tracing::info!(payment = payment_id, terminal, "СБП QR revoke requested");
        let r = self.bank.cancel(&row.bank_payment_id).await;
        self.note(&r);
        let now_row = match r {
            Ok(s) => self.apply(payment_id, s).await?,
            Err(e) => {
                tracing::warn!(payment = payment_id, error = %e, "revoke not confirmed by the bank; the poller keeps trying");
                self.row(payment_id).await?
            }
        };
        now_row
            .map(|r| Self::status_of(&r))
            .ok_or(SbpError::NotFound)
    }

    /// A notification body from the bank: stored when its signature holds.
    pub async fn notification(&self, body: &[u8]) -> Result<(), SbpError> {
        let n = self.bank.parse_notification(body)?;
        let id = n.bank_payment_id.clone();
        let row = self
            .store
            .read(move |sql| store::by_bank_id(sql, &id))
            .await?;
        let Some(row) = row else {
            tracing::warn!(bank_payment = %n.bank_payment_id, "notification of a payment this server did not register; ignored");
            return Ok(());
        };
        if !n.order_id.is_empty() && n.order_id != row.payment_id {
            return Err(BankError::BadNotification(format!(
                "OrderId {} does not match payment {}",
                n.order_id, row.bank_payment_id
            ))
            .into());
        }
        self.apply(&row.payment_id, n.state).await?;
        Ok(())
    }

    /// Refunds `amount_kopecks` of a paid QR at the bank, then records it (by `by`, for
    /// `reason`). Nothing is stored when the bank refuses or does not answer.
    pub async fn refund(
        &self,
        payment_id: &str,
        amount_kopecks: i64,
        reason: &str,
        by: &str,
    ) -> Result<QrRow, SbpError> {
        let row = self.row(payment_id).await?.ok_or(SbpError::NotFound)?;
        if reason.trim().is_empty() {
            return Err(SbpError::Invalid("a refund needs its reason".into()));
        }
        if !row.state.is_paid() {
            return Err(SbpError::Invalid(format!(
                "payment {payment_id} is {}, not paid: nothing to refund",
                row.state.as_str()
            )));
        }
        let left = row.amount_kopecks - row.refunded_kopecks;
        if amount_kopecks <= 0 || amount_kopecks > left {
            return Err(SbpError::Invalid(format!(
                "the refund must be 0.01–{}.{:02} ₽ (what is left of the payment)",
                left / 100,
                left % 100
            )));
        }
        let r = self.bank.refund(&row.bank_payment_id, amount_kopecks).await;
        self.note(&r);
        let s = r?;
        let (id, reason, by2, now) = (
            payment_id.to_string(),
            reason.trim().to_string(),
            by.to_string(),
            crate::now_utc(),
        );
        self.store
            .run("sbp", move |sql| {
                store::record_refund(sql, &id, amount_kopecks, &reason, &by2, &s, &now)
            })
            .await?;
        tracing::info!(
            payment = payment_id,
            amount_kopecks,
            by,
            "СБП payment refunded"
        );
        self.row(payment_id).await?.ok_or(SbpError::NotFound)
    }
}

/// `t` plus `d`, RFC 3339 UTC with milliseconds.
pub(crate) fn plus(t: &str, d: Duration) -> String {
    let base = chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    (base + chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::seconds(30)))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
