//! The СБП task: carries the session's [`SbpCommand`]s to the back office (which talks to the
//! bank) and reports every change of a payment's QR to the core as
//! [`DeviceInput::Sbp`] until the bank's final answer.
//!
//! Translation only: what a state means for the money is the core's (`session::sbp`). One
//! watcher per payment: it asks for the QR (idempotent at the back office, so retries after a
//! lost answer are safe), polls its state while it is pending, revokes it when told, and keeps
//! at it through network faults with growing pauses. A payment the back office holds no QR for
//! once revocation was asked for is reported revoked: nobody was ever shown a QR to pay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backend_sync::sbp::{SbpQrStatus, SbpState};
use sync_client::{SyncClient, SyncError};
use tokio::sync::{mpsc, Notify};

use crate::money::Money;
use crate::runtime::CoreEvent;
use crate::session::{DeviceInput, SbpCommand, SbpReport};

/// How the watchers pace themselves (tests make it quick).
#[derive(Debug, Clone, Copy)]
pub struct SbpTiming {
    /// Between status polls of a pending QR.
    pub poll: Duration,
    /// Each request's limit.
    pub request_timeout: Duration,
    /// Pauses after a failed request: from `backoff_min`, doubling up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for SbpTiming {
    fn default() -> Self {
        SbpTiming {
            poll: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// One payment's watcher, as the command loop holds it.
struct Watch {
    revoke: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

/// Starts the task; the session's commands go into the returned sender.
pub fn spawn(
    client: SyncClient,
    timing: SbpTiming,
    core: mpsc::Sender<CoreEvent>,
) -> mpsc::Sender<SbpCommand> {
    let (tx, mut rx) = mpsc::channel::<SbpCommand>(32);
    tokio::spawn(async move {
        let mut watches: HashMap<String, Watch> = HashMap::new();
        while let Some(command) = rx.recv().await {
            watches.retain(|_, w| Arc::strong_count(&w.revoke) > 1);
            match command {
                SbpCommand::Create {
                    payment_id,
                    amount,
                    account,
                } => {
                    if watches.contains_key(&payment_id) {
                        continue;
                    }
                    let watch = start_watch(
                        client.clone(),
                        timing,
                        core.clone(),
                        payment_id.clone(),
                        Some((amount, account)),
                    );
                    watches.insert(payment_id, watch);
                }
                SbpCommand::Revoke { payment_id } => {
                    let watch = watches.entry(payment_id.clone()).or_insert_with(|| {
                        // After a restart: nothing to create, only to revoke and watch.
                        start_watch(client.clone(), timing, core.clone(), payment_id, None)
                    });
                    watch.revoke.store(true, Ordering::SeqCst);
                    watch.wake.notify_one();
                }
            }
        }
    });
    tx
}

fn start_watch(
    client: SyncClient,
    timing: SbpTiming,
    core: mpsc::Sender<CoreEvent>,
    payment_id: String,
    create: Option<(Money, String)>,
) -> Watch {
    let revoke = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    let watcher = Watcher {
        client,
        timing,
        core,
        payment_id,
        create,
        revoke: revoke.clone(),
        wake: wake.clone(),
    };
    tokio::spawn(watcher.run());
    Watch { revoke, wake }
}

struct Watcher {
    client: SyncClient,
    timing: SbpTiming,
    core: mpsc::Sender<CoreEvent>,
    payment_id: String,
    /// The QR still to be asked for (amount, account); `None` once asked, or after a restart.
    create: Option<(Money, String)>,
    revoke: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

/// What one request to the back office learned.
enum Learned {
    Status(SbpQrStatus),
    /// The back office holds no QR for the payment.
    NoQr,
    /// Nothing: the request failed or was refused.
    Nothing,
}

impl Watcher {
    async fn run(mut self) {
        let mut revoke_sent = false;
        let mut last: Option<(SbpState, bool)> = None;
        let mut pause = self.timing.backoff_min;
        loop {
            let revoking = self.revoke.load(Ordering::SeqCst);
            if revoking && self.create.take().is_some() {
                // Revoked before the back office answered the create: the QR is not wanted any
                // more (if the create did reach it, the revocation below covers it).
                tracing::info!(payment = %self.payment_id, "revoked before the QR was issued");
            }
            let learned = if let Some((amount, account)) = self.create.clone() {
                self.ask_create(amount, &account).await
            } else if revoking && !revoke_sent {
                let asked = self.client.sbp_revoke(&self.payment_id);
                let learned = self.optional(asked).await;
                revoke_sent = !matches!(learned, Learned::Nothing);
                learned
            } else {
                let asked = self.client.sbp_status(&self.payment_id);
                self.optional(asked).await
            };
            let wait = match learned {
                Learned::Status(status) => {
                    pause = self.timing.backoff_min;
                    let state = status.state;
                    let seen = (state, status.payload.is_some());
                    if last != Some(seen) {
                        last = Some(seen);
                        if !self.report(report_of(status)).await {
                            return;
                        }
                    }
                    if state.is_final() {
                        return;
                    }
                    self.timing.poll
                }
                Learned::NoQr if revoking => {
                    // Never registered (or refused): nobody was shown a QR to pay.
                    let report = SbpReport {
                        payment_id: self.payment_id.clone(),
                        state: SbpState::Revoked,
                        amount: Money::ZERO,
                        payload: None,
                        expires_at: None,
                        bank_payment_id: None,
                        detail: "the back office holds no QR for this payment".into(),
                    };
                    self.report(report).await;
                    return;
                }
                Learned::NoQr => self.timing.poll,
                Learned::Nothing => {
                    let wait = pause;
                    pause = (pause * 2).min(self.timing.backoff_max);
                    wait
                }
            };
            // A revocation wakes the watcher at once.
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Asks for the QR; a refusal means it will never be issued (the core's deadline revokes
    /// the payment), so it is not asked for again.
    async fn ask_create(&mut self, amount: Money, account: &str) -> Learned {
        let asked = self
            .client
            .sbp_create(&self.payment_id, amount.kopecks(), account);
        match self.within_limit(asked).await {
            Ok(status) => {
                self.create = None;
                Learned::Status(status)
            }
            Err(e) => {
                if e.is_refusal() {
                    tracing::warn!(payment = %self.payment_id, error = %e, "the back office refused the СБП QR");
                    self.create = None;
                }
                Learned::Nothing
            }
        }
    }

    async fn within_limit<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, SyncError>>,
    ) -> Result<T, SyncError> {
        match tokio::time::timeout(self.timing.request_timeout, request).await {
            Ok(answer) => answer,
            Err(_) => Err(SyncError::Network(format!(
                "no answer within {} s",
                self.timing.request_timeout.as_secs()
            ))),
        }
    }

    async fn optional(
        &self,
        request: impl std::future::Future<Output = Result<Option<SbpQrStatus>, SyncError>>,
    ) -> Learned {
        match self.within_limit(request).await {
            Ok(Some(status)) => Learned::Status(status),
            Ok(None) => Learned::NoQr,
            Err(e) => {
                tracing::debug!(payment = %self.payment_id, error = %e, "СБП request failed; trying again");
                Learned::Nothing
            }
        }
    }

    /// False when the core is gone.
    async fn report(&self, report: SbpReport) -> bool {
        self.core
            .send(CoreEvent::Device(DeviceInput::Sbp(report), None))
            .await
            .is_ok()
    }
}

/// The core's view of the back office's answer.
fn report_of(status: SbpQrStatus) -> SbpReport {
    SbpReport {
        payment_id: status.payment_id,
        state: status.state,
        amount: Money::from_kopecks(status.amount_kopecks),
        payload: status.payload,
        expires_at: status
            .expires_utc
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc)),
        bank_payment_id: status.bank_payment_id,
        detail: status.detail,
    }
}
