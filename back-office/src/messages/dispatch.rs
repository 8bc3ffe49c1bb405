//! Delivery of the queued messages. A worker first *claims* due messages in one statement
//! (status `sending`, a random claim token, a lease; on PostgreSQL `FOR UPDATE SKIP LOCKED`),
//! then sends them, then records each outcome only if its claim still holds. So two workers —
//! two tasks or two servers on one database — never send one message, and a worker that died
//! mid-send leaves the message `sending` until its lease ends, when another claims it again
//! (it is never lost; it may go out twice only if the death came after the receiver accepted
//! it and before the outcome was written — the e-mail then carries the same Message-ID and the
//! gateway request the same `Idempotency-Key`). A failure is retried after a doubling back-off
//! until the attempts run out (`failed`); a receiver's refusal for good fails it at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::senders::{MessageSender, SendError};
use super::{mask_address, OutgoingMessage, MESSAGE_COLUMNS};
use crate::db::{Backend, Sql, Store, StoreError};
use crate::params;

/// The sender of each channel; a channel without one is left queued.
#[derive(Clone, Default)]
pub struct Routes {
    pub email: Option<Arc<dyn MessageSender>>,
    pub sms: Option<Arc<dyn MessageSender>>,
}

impl Routes {
    /// Every channel through `sender`.
    pub fn all(sender: Arc<dyn MessageSender>) -> Routes {
        Routes {
            email: Some(sender.clone()),
            sms: Some(sender),
        }
    }
    fn get(&self, channel: &str) -> Option<&Arc<dyn MessageSender>> {
        match channel {
            "email" => self.email.as_ref(),
            "sms" => self.sms.as_ref(),
            _ => None,
        }
    }
    fn channels(&self) -> Vec<&'static str> {
        super::CHANNELS
            .into_iter()
            .filter(|c| self.get(c).is_some())
            .collect()
    }
}

/// How often, how many, how long, how many times.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub tick: Duration,
    pub batch: i64,
    pub concurrency: usize,
    pub lease: Duration,
    pub first_retry: Duration,
    pub max_retry: Duration,
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            tick: Duration::from_secs(1),
            batch: 50,
            concurrency: 4,
            lease: Duration::from_secs(120),
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(300),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// The wait after the `attempts`-th failed attempt.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let shift = (attempts - 1).clamp(0, 20) as u32;
        self.first_retry
            .saturating_mul(1u32 << shift)
            .min(self.max_retry)
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A claimed message: sent by this worker only, until `claimed_until`.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message: OutgoingMessage,
    /// This one included.
    pub attempts: i64,
    pub claim: String,
}

/// Claims up to `limit` due messages of `channels` at `now` for `lease`: queued ones whose
/// next try has come, and `sending` ones whose lease ran out (their worker died).
pub fn claim(
    sql: &mut dyn Sql,
    channels: &[&str],
    limit: i64,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Vec<Claimed>, StoreError> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    // The channels are our own constants, never outside input.
    let list = channels
        .iter()
        .filter(|c| super::CHANNELS.contains(c))
        .map(|c| format!("'{c}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let lock = match sql.backend() {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let token = hex::encode(rand::random::<[u8; 12]>());
    let now_s = stamp(now);
    let rows = sql.query(
        &format!(
            "UPDATE messages SET status = 'sending', claim = $1, claimed_until = $2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM messages
                          WHERE channel IN ({list})
                            AND ((status = 'queued' AND next_try_utc <= $3) OR (status = 'sending' AND claimed_until <= $3))
                          ORDER BY id LIMIT $4 {lock})
             RETURNING {MESSAGE_COLUMNS}, attempts"
        ),
        params![&token, stamp(after(now, lease)), &now_s, limit],
    )?;
    let mut out: Vec<Claimed> = rows
        .iter()
        .map(|r| Claimed {
            message: super::row_to_message(r),
            attempts: r.int(7),
            claim: token.clone(),
        })
        .collect();
    out.sort_by_key(|c| c.message.id);
    Ok(out)
}

/// What became of one claimed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Queued again for a later try.
    Retrying,
    Failed,
    /// The claim had run out and another worker has the message now: nothing recorded.
    LostClaim,
}

/// Records the outcome of sending `c` at `now`, if `c`'s claim still holds.
pub fn record(
    sql: &mut dyn Sql,
    c: &Claimed,
    result: &Result<(), SendError>,
    now: DateTime<Utc>,
    policy: &RetryPolicy,
) -> Result<Outcome, StoreError> {
    let id = c.message.id;
    let (outcome, n) = match result {
        Ok(()) => {
            let latency = super::parse_utc(&c.message.queued_utc)
                .map(|q| (now - q).num_milliseconds().max(0));
            let n = sql.exec(
                "UPDATE messages SET status = 'delivered', sent_utc = $3, latency_ms = $4, last_error = NULL,
                   claim = NULL, claimed_until = NULL
                 WHERE id = $1 AND claim = $2 AND status = 'sending'",
                params![id, &c.claim, stamp(now), latency],
            )?;
            (Outcome::Delivered, n)
        }
        Err(e) => {
            let give_up = matches!(e, SendError::Permanent(_)) || c.attempts >= policy.max_attempts;
            let (status, outcome) = if give_up {
                ("failed", Outcome::Failed)
            } else {
                ("queued", Outcome::Retrying)
            };
            let next = stamp(after(now, policy.backoff(c.attempts)));
            let n = sql.exec(
                "UPDATE messages SET status = $3, next_try_utc = $4, last_error = $5, claim = NULL, claimed_until = NULL
                 WHERE id = $1 AND claim = $2 AND status = 'sending'",
                params![id, &c.claim, status, next, e.to_string()],
            )?;
            (outcome, n)
        }
    };
    Ok(if n == 1 { outcome } else { Outcome::LostClaim })
}

/// What one [`Dispatcher::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    pub claimed: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
    pub lost_claims: usize,
}

/// The clock the dispatcher reads (tests pass a fake one).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The message dispatcher of one worker.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    routes: Routes,
    policy: RetryPolicy,
    clock: Clock,
}

impl Dispatcher {
    pub fn new(store: Store, routes: Routes, policy: RetryPolicy) -> Dispatcher {
        Dispatcher {
            store,
            routes,
            policy,
            clock: Arc::new(Utc::now),
        }
    }

    /// The same dispatcher reading `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Clock) -> Dispatcher {
        self.clock = clock;
        self
    }

    /// Runs [`Dispatcher::tick`] every `policy.tick` until `stop` resolves (a send under way
    /// is finished and recorded first).
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.tick().await {
                Ok(r) if r.claimed > 0 => {
                    tracing::debug!(
                        claimed = r.claimed,
                        delivered = r.delivered,
                        retrying = r.retrying,
                        failed = r.failed,
                        "messages dispatched"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "message dispatch failed; trying again"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(self.policy.tick) => {}
            }
        }
    }

    /// Claims the due messages, sends them (`concurrency` at a time) and records each outcome.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let channels = self.routes.channels();
        let (limit, lease, now) = (self.policy.batch, self.policy.lease, (self.clock)());
        let claimed = self
            .store
            .run("messages", move |sql| {
                claim(sql, &channels, limit, now, lease)
            })
            .await?;
        let mut report = TickReport {
            claimed: claimed.len(),
            ..TickReport::default()
        };
        for chunk in claimed.chunks(self.policy.concurrency.max(1)) {
            let mut set = tokio::task::JoinSet::new();
            for c in chunk {
                let sender = self.routes.get(&c.message.channel).cloned();
                let c = c.clone();
                set.spawn(async move {
                    let r = match sender {
                        Some(s) => s.send(&c.message).await,
                        None => Err(SendError::Transient(format!(
                            "no sender for channel {}",
                            c.message.channel
                        ))),
                    };
                    (c, r)
                });
            }
            let mut results = Vec::with_capacity(chunk.len());
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok(x) => results.push(x),
                    // A sender that panicked: its message stays claimed and is tried again
                    // when the lease ends.
                    Err(e) => tracing::error!(error = %e, "message sender task failed"),
                }
            }
            let (policy, clock) = (self.policy.clone(), self.clock.clone());
            let outcomes = self
                .store
                .run("messages", move |sql| {
                    let now = clock();
                    results
                        .into_iter()
                        .map(|(c, r)| {
                            let o = record(sql, &c, &r, now, &policy)?;
                            Ok((c, r, o))
                        })
                        .collect::<Result<Vec<_>, StoreError>>()
                })
                .await?;
            for (c, r, o) in outcomes {
                let m = &c.message;
                let to = mask_address(&m.address);
                match (o, &r) {
                    (Outcome::Delivered, _) => {
                        report.delivered += 1;
                        tracing::info!(message_id = m.id, terminal = %m.terminal_id, channel = %m.channel, to = %to, attempt = c.attempts, "message delivered");
                    }
                    (Outcome::Retrying, Err(e)) => {
                        report.retrying += 1;
                        tracing::warn!(message_id = m.id, terminal = %m.terminal_id, channel = %m.channel, to = %to, attempt = c.attempts, error = %e, "message delivery failed; will retry");
                    }
                    (Outcome::Failed, Err(e)) => {
                        report.failed += 1;
                        tracing::error!(message_id = m.id, terminal = %m.terminal_id, channel = %m.channel, to = %to, attempt = c.attempts, error = %e, "message delivery given up");
                    }
                    (Outcome::LostClaim, _) => {
                        report.lost_claims += 1;
                        tracing::warn!(message_id = m.id, channel = %m.channel, "message sent after its claim ran out; another worker has it");
                    }
                    (Outcome::Retrying | Outcome::Failed, Ok(())) => {}
                }
            }
        }
        Ok(report)
    }
}

/// Queues a failed message again (`back-office messages retry`): its attempts start over.
/// Returns whether it was failed.
pub fn requeue(sql: &mut dyn Sql, id: i64) -> Result<bool, StoreError> {
    Ok(sql.exec(
        "UPDATE messages SET status = 'queued', attempts = 0, next_try_utc = '' WHERE id = $1 AND status = 'failed'",
        params![id],
    )? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let p = RetryPolicy {
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let waits: Vec<u64> = (1..=6).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(p.backoff(1000).as_secs(), 60);
    }
}
