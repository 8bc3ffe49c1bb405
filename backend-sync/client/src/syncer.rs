//! The background task that drains the outbox to the back office and sends heartbeats.
//!
//! One batch is in flight at a time, so the server always sees the chain in order. Failures back
//! off exponentially with full jitter (`rand(0, min(max, base·2^n))`, at least `backoff_min`), so a
//! fleet coming back online does not hammer the server in lock-step. A refusal the server made on
//! purpose (a wrong key or signature, a clock too far off, an unknown terminal:
//! [`SyncError::is_refusal`]) is not an outage: quick retries cannot cure it, so the syncer says
//! so in [`SyncStatus::refused`] and retries at the slowest pace until an operator acts.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::client::{SyncClient, SyncError};
use crate::outbox;
use backend_sync::wire::Heartbeat;

/// How the syncer runs.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The terminal's SQLite database holding the outbox.
    pub db_path: PathBuf,
    pub base_url: String,
    pub terminal_id: String,
    /// Hex key issued by `back-office terminal add`.
    pub key_hex: String,
    /// Records per request (at most [`backend_sync::wire::MAX_BATCH_RECORDS`]).
    pub batch_max: usize,
    /// How often to look at an empty outbox when nobody calls [`SyncHandle::wake`].
    pub idle_poll: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub heartbeat_every: Duration,
}

impl SyncConfig {
    /// Sensible production defaults.
    pub fn new(db_path: PathBuf, base_url: &str, terminal_id: &str, key_hex: &str) -> Self {
        SyncConfig {
            db_path,
            base_url: base_url.to_string(),
            terminal_id: terminal_id.to_string(),
            key_hex: key_hex.to_string(),
            batch_max: 500,
            idle_poll: Duration::from_secs(5),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(120),
            heartbeat_every: Duration::from_secs(60),
        }
    }
}

/// What the syncer reports (also exported in heartbeats and metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Records waiting in the outbox.
    pub queue_len: u64,
    /// Age in seconds of the oldest waiting record.
    pub lag_seconds: u64,
    /// Highest sequence number the back office holds.
    pub acked_seq: u64,
    /// When the last request succeeded (RFC 3339).
    pub last_success_utc: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// True while the last request succeeded.
    pub online: bool,
    /// The server's refusal, while the last request was refused on purpose (key, clock, terminal
    /// unknown): someone must fix the terminal's enrolment or clock, retrying will not.
    pub refused: Option<String>,
    /// Set when the back office holds less than the outbox can still send (it lost records the
    /// outbox already dropped): requeue the journal from this `seq` with [`crate::outbox::requeue`].
    pub server_missing_from: Option<u64>,
    /// The last heartbeat's answer said the back office takes СБП QR payments (false after a
    /// failed heartbeat).
    pub sbp_available: bool,
}

/// Wakes a running syncer; see [`SyncHandle::waker`].
#[derive(Clone)]
pub struct SyncWaker(Arc<Notify>);

impl SyncWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Where the health part of the next heartbeats is put (see [`SyncHandle::health_slot`]).
#[derive(Clone)]
pub struct HealthSlot(Arc<Mutex<Heartbeat>>);

impl HealthSlot {
    pub fn set(&self, beat: Heartbeat) {
        if let Ok(mut h) = self.0.lock() {
            *h = beat;
        }
    }
}

/// Handle of a running syncer.
pub struct SyncHandle {
    status: watch::Receiver<SyncStatus>,
    wake: Arc<Notify>,
    health: Arc<Mutex<Heartbeat>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SyncHandle {
    /// The latest status.
    pub fn status(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    /// A receiver that changes whenever the status does.
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.status.clone()
    }

    /// Tells the syncer new records are queued (call after committing a journal entry).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A cheap clone of [`SyncHandle::wake`] for code that does not own the handle (the journal's
    /// after-commit callback).
    pub fn waker(&self) -> SyncWaker {
        SyncWaker(self.wake.clone())
    }

    /// A clonable handle for [`Self::set_health`], for a task that follows the kiosk's health.
    pub fn health_slot(&self) -> HealthSlot {
        HealthSlot(self.health.clone())
    }

    /// Sets the health part of the next heartbeats (queue figures are filled in by the syncer).
    pub fn set_health(&self, beat: Heartbeat) {
        if let Ok(mut h) = self.health.lock() {
            *h = beat;
        }
    }

    /// Stops the task and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.wake.notify_one();
        let _ = self.task.await;
    }
}

/// Opens the outbox (creating its tables) and starts the syncer on the current tokio runtime.
pub fn spawn(cfg: SyncConfig) -> Result<SyncHandle, SyncError> {
    let client = SyncClient::new(&cfg.base_url, &cfg.terminal_id, &cfg.key_hex)?;
    let conn = Connection::open(&cfg.db_path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    outbox::create_schema(&conn)?;
    let (status_tx, status_rx) = watch::channel(SyncStatus::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let health = Arc::new(Mutex::new(Heartbeat::default()));
    let worker = Worker {
        cfg,
        client,
        conn: Arc::new(Mutex::new(conn)),
        status: status_tx,
        wake: wake.clone(),
        health: health.clone(),
        stop: stop_rx,
    };
    let task = tokio::spawn(worker.run());
    Ok(SyncHandle {
        status: status_rx,
        wake,
        health,
        stop: stop_tx,
        task,
    })
}

/// After a refusal: the slowest pace at once, jittered over its upper half so a fleet refused
/// together (a rotated server key) does not come back in lock-step.
pub fn refusal_delay(max: Duration, rng: &mut impl Rng) -> Duration {
    let half = max / 2;
    half + half.mul_f64(rng.gen::<f64>())
}

/// Full-jitter exponential backoff for the `failures`-th consecutive failure (1-based).
pub fn backoff_delay(min: Duration, max: Duration, failures: u32, rng: &mut impl Rng) -> Duration {
    let exp = min.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    let cap = exp.min(max).max(min);
    let jittered = rng.gen_range(0..=cap.as_millis() as u64);
    Duration::from_millis(jittered).max(min)
}

struct Worker {
    cfg: SyncConfig,
    client: SyncClient,
    conn: Arc<Mutex<Connection>>,
    status: watch::Sender<SyncStatus>,
    wake: Arc<Notify>,
    health: Arc<Mutex<Heartbeat>>,
    stop: watch::Receiver<bool>,
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Worker {
    async fn db<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, SyncError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn
                .lock()
                .map_err(|_| SyncError::Network("outbox lock poisoned".into()))?;
            f(&guard).map_err(SyncError::from)
        })
        .await
        .map_err(|e| SyncError::Network(format!("outbox task: {e}")))?
    }

    async fn refresh_stats(&self) {
        if let Ok(stats) = self.db(|c| outbox::stats(c, Utc::now())).await {
            self.status.send_modify(|s| {
                s.queue_len = stats.queue_len;
                s.lag_seconds = stats.lag_seconds;
                s.acked_seq = stats.acked_seq;
            });
        }
    }

    fn record_result(&self, error: Option<&SyncError>) -> u32 {
        let mut failures = 0;
        self.status.send_modify(|s| match error {
            None => {
                s.online = true;
                s.consecutive_failures = 0;
                s.last_error = None;
                s.refused = None;
                s.last_success_utc = Some(now_text());
            }
            Some(e) => {
                s.online = false;
                s.refused = e.is_refusal().then(|| e.to_string());
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.last_error = Some(e.to_string());
                failures = s.consecutive_failures;
            }
        });
        failures
    }

    async fn send_one_batch(&self) -> Result<bool, SyncError> {
        let limit = self
            .cfg
            .batch_max
            .clamp(1, backend_sync::wire::MAX_BATCH_RECORDS);
        let batch = self.db(move |c| outbox::pending(c, limit)).await?;
        if batch.is_empty() {
            return Ok(false);
        }
        let reply = self.client.send_batch(&batch).await?;
        if !reply.gaps.is_empty() {
            tracing::warn!(
                terminal = %self.cfg.terminal_id,
                held_up_to = reply.held_up_to,
                first_sent = batch[0].seq,
                "back office reports a gap; resending from its position"
            );
        }
        let missing = (reply.held_up_to + 1 < batch[0].seq).then_some(reply.held_up_to + 1);
        self.status.send_modify(|s| s.server_missing_from = missing);
        if let Some(from) = missing {
            tracing::error!(terminal = %self.cfg.terminal_id, from, "back office lost records the outbox no longer holds; requeue them from the journal");
        }
        let held = reply.held_up_to;
        self.db(move |c| outbox::acknowledge(c, held, &now_text()))
            .await?;
        Ok(true)
    }

    async fn send_heartbeat(&self) -> Result<(), SyncError> {
        let mut beat = self.health.lock().map(|h| h.clone()).unwrap_or_default();
        let s = self.status.borrow().clone();
        beat.time_utc = now_text();
        beat.queue_len = s.queue_len;
        beat.sync_lag_seconds = s.lag_seconds;
        let reply = self.client.heartbeat(&beat).await;
        let sbp = reply.as_ref().is_ok_and(|r| r.sbp_available);
        self.status.send_modify(|s| s.sbp_available = sbp);
        reply.map(|_| ())
    }

    async fn run(self) {
        let mut rng = rand::rngs::StdRng::from_entropy();
        let mut next_heartbeat = tokio::time::Instant::now();
        loop {
            if *self.stop.borrow() {
                break;
            }
            self.refresh_stats().await;
            if tokio::time::Instant::now() >= next_heartbeat {
                next_heartbeat = tokio::time::Instant::now() + self.cfg.heartbeat_every;
                let beat = self.send_heartbeat().await;
                if let Err(e) = &beat {
                    tracing::debug!(error = %e, "heartbeat failed");
                }
                // With an empty outbox the heartbeat is the only request: it alone says whether
                // the back office answers.
                self.record_result(beat.as_ref().err());
            }
            let outcome = self.send_one_batch().await;
            let failures = match &outcome {
                // Nothing was sent: no news about the back office, keep what the last request said.
                Ok(false) => self.status.borrow().consecutive_failures,
                _ => self.record_result(outcome.as_ref().err()),
            };
            self.refresh_stats().await;
            let wait = match &outcome {
                Ok(true) => continue,
                Ok(false) => self.cfg.idle_poll,
                Err(e) if e.is_refusal() => {
                    let d = refusal_delay(self.cfg.backoff_max, &mut rng);
                    tracing::error!(error = %e, retry_in_ms = d.as_millis() as u64, "the back office refuses this terminal; check its key (enrolment) and clock");
                    d
                }
                Err(e) => {
                    let d = backoff_delay(
                        self.cfg.backoff_min,
                        self.cfg.backoff_max,
                        failures,
                        &mut rng,
                    );
                    tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "sync failed");
                    d
                }
            };
            let wake = self.wake.clone();
            let mut stop = self.stop.clone();
            let until_heartbeat =
                next_heartbeat.saturating_duration_since(tokio::time::Instant::now());
            let idle = outcome.is_ok();
            tokio::select! {
                _ = tokio::time::sleep(wait.min(until_heartbeat.max(Duration::from_millis(10)))) => {}
                _ = wake.notified(), if idle => {}
                _ = stop.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_waits_the_slow_pace_at_once() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let max = Duration::from_secs(120);
        for _ in 0..1000 {
            let d = refusal_delay(max, &mut rng);
            assert!(d >= max / 2 && d <= max, "{d:?}");
        }
    }

    #[test]
    fn refusals_are_the_server_s_deliberate_4xx_only() {
        let refused = |status| SyncError::Refused {
            status,
            code: None,
            message: String::new(),
        };
        assert!(refused(401).is_refusal());
        assert!(refused(403).is_refusal());
        for busy in [408, 409, 429, 500, 503] {
            assert!(!refused(busy).is_refusal(), "{busy}");
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_never_below_min() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for failures in 1..40 {
            for _ in 0..50 {
                let d = backoff_delay(min, max, failures, &mut rng);
                assert!(d >= min && d <= max, "{d:?} at {failures}");
                let cap = min.saturating_mul(1 << (failures - 1).min(20)).min(max);
                assert!(d <= cap.max(min));
            }
        }
        // Jitter spreads a fleet: many draws at the same failure count differ.
        let draws: std::collections::BTreeSet<_> = (0..20)
            .map(|_| backoff_delay(min, max, 8, &mut rng))
            .collect();
        assert!(draws.len() > 10);
    }
}
