//! Sends the queued alerts through every configured channel: in order within a thread (an update
//! never overtakes its opening), non-urgent ones only within the office's working hours, a
//! failed delivery retried with doubling back-off until `max_attempts`, every attempt's outcome
//! kept in `alert_deliveries` (the delivery log the pages show). An alert nobody could send for
//! [`EXPIRE_HOURS`] (no channel configured back then) expires instead of arriving stale.

use std::collections::HashSet;
use std::sync::Arc;

use super::channels::{self, Outgoing};
use super::AlertConfig;
use crate::db::{Sql, Store, StoreError};
use crate::params;

/// Pending alerts older than this are dropped (`expired`).
pub const EXPIRE_HOURS: i64 = 24;

/// Where the ingest reads the confirmation delay of outage openings (`meta` key).
const CONFIRM_KEY: &str = "alerts.confirm_seconds";

/// The confirmation delay the server was started with (120 s when none was configured).
pub fn confirm_seconds(sql: &mut dyn Sql) -> Result<i64, StoreError> {
    Ok(sql
        .query_one(
            "SELECT value FROM meta WHERE key = $1",
            params![CONFIRM_KEY],
        )?
        .and_then(|r| r.text(0).parse().ok())
        .unwrap_or(120))
}

fn shifted(now: chrono::DateTime<chrono::Utc>, ms: i64) -> String {
    (now + chrono::Duration::milliseconds(ms)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One (alert, channel) to try now.
struct Job {
    msg: Outgoing,
    channel: String,
    attempts: i64,
}

/// The alert dispatcher of one server.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    config: Arc<AlertConfig>,
    client: reqwest::Client,
}

impl Dispatcher {
    /// Records the configuration's confirmation delay for the ingest and builds the dispatcher.
    pub async fn new(store: Store, config: AlertConfig) -> Result<Dispatcher, StoreError> {
        let confirm = config.confirm_seconds.to_string();
        store
            .run("alerts", move |sql| {
                sql.exec(
                    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![CONFIRM_KEY, &confirm],
                )
            })
            .await?;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap_or_default();
        Ok(Dispatcher {
            store,
            config: Arc::new(config),
            client,
        })
    }

    /// Runs [`Dispatcher::tick`] every `tick_ms` until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let period = std::time::Duration::from_millis(self.config.tick_ms.max(10));
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "alert dispatch failed; trying again");
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(period) => {}
            }
        }
    }

    /// One pass: the sync-lag rule, then every due delivery once. Returns how many were tried.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let lag = self.config.sync_lag_minutes;
        self.store
            .run("alerts", move |sql| {
                super::rules::sweep_sync_lag(sql, lag, &crate::now_utc())
            })
            .await?;
        let config = self.config.clone();
        let jobs = self.store.read(move |sql| due_jobs(sql, &config)).await?;
        let n = jobs.len();
        let mut results = Vec::with_capacity(n);
        for job in jobs {
            let r = channels::send(&self.client, &self.config, &job.channel, &job.msg).await;
            match &r {
                Ok(_) => {
                    tracing::info!(event = job.msg.event_id, thread = job.msg.thread_id, terminal = %job.msg.terminal_id, rule = %job.msg.rule, step = %job.msg.step, channel = %job.channel, "alert delivered")
                }
                Err(e) => {
                    tracing::warn!(event = job.msg.event_id, channel = %job.channel, attempt = job.attempts + 1, error = %e, "alert delivery failed")
                }
            }
            results.push((job, r.map_err(|e| e.to_string())));
        }
        let config = self.config.clone();
        self.store
            .run("alerts", move |sql| record(sql, &config, results))
            .await?;
        Ok(n)
    }
}

/// Whether local time `t` in `tz` is within the office's working hours (always, if none set).
fn within_hours(
    config: &AlertConfig,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    let Some(h) = &config.working_hours else {
        return true;
    };
    let parse = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").ok();
    let (Some(start), Some(end)) = (parse(&h.start), parse(&h.end)) else {
        return true;
    };
    let local = now.with_timezone(&tz).time();
    if start <= end {
        local >= start && local < end
    } else {
        local >= start || local < end
    }
}

/// The deliveries to try now, in thread order.
fn due_jobs(sql: &mut dyn Sql, config: &AlertConfig) -> Result<Vec<Job>, StoreError> {
    let now = chrono::Utc::now();
    let now_s = crate::now_utc();
    let expire = shifted(now, -EXPIRE_HOURS * 3_600_000);
    let channels = config.channel_names();
    let mut blocked: HashSet<(i64, String)> = HashSet::new();
    let mut jobs = Vec::new();
    let events = sql.query(
        "SELECT e.id, e.thread_id, e.terminal_id, e.rule, e.step, e.urgent, e.event_utc, e.due_utc, e.text,
                t.telegram_message_id, t.email_message_id, e.created_utc
         FROM alert_events e JOIN alert_threads t ON t.id = e.thread_id
         WHERE e.status = 'pending' ORDER BY e.id LIMIT 500",
        &[],
    )?;
    for e in events {
        let (id, thread) = (e.int(0), e.int(1));
        if e.text(11) < expire {
            continue;
        }
        let tz = crate::terminals::time_zone(sql, &e.text(2))?;
        let ready = e.text(7) <= now_s && (e.int(5) != 0 || within_hours(config, tz, now));
        for ch in &channels {
            let key = (thread, ch.clone());
            let d = sql.query_one(
                "SELECT attempts, next_try_utc, status FROM alert_deliveries WHERE event_id = $1 AND channel = $2",
                params![id, ch],
            )?;
            let (attempts, next_try, status) = d
                .map_or((0, String::new(), "pending".to_string()), |r| {
                    (r.int(0), r.text(1), r.text(2))
                });
            if status != "pending" {
                continue;
            }
            let go = ready && next_try <= now_s && !blocked.contains(&key);
            blocked.insert(key);
            if !go {
                continue;
            }
            let thread_ref = match ch.as_str() {
                "telegram" => e.opt_text(9),
                "email" => e.opt_text(10),
                _ => None,
            };
            jobs.push(Job {
                msg: Outgoing {
                    event_id: id,
                    thread_id: thread,
                    terminal_id: e.text(2),
                    rule: e.text(3),
                    step: e.text(4),
                    urgent: e.int(5) != 0,
                    event_utc: e.text(6),
                    text: e.text(8),
                    thread_ref,
                },
                channel: ch.clone(),
                attempts,
            });
        }
    }
    Ok(jobs)
}

/// Writes the attempts' outcomes, the threads' handles and the alerts now done.
fn record(
    sql: &mut dyn Sql,
    config: &AlertConfig,
    results: Vec<(Job, Result<Option<String>, String>)>,
) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    let now_s = crate::now_utc();
    sql.exec(
        "UPDATE alert_events SET status = 'expired' WHERE status = 'pending' AND created_utc < $1",
        params![&shifted(now, -EXPIRE_HOURS * 3_600_000)],
    )?;
    let channels = config.channel_names();
    let mut touched = HashSet::new();
    for (job, r) in results {
        let attempts = job.attempts + 1;
        let (status, next, error, delivered) = match &r {
            Ok(_) => ("delivered", now_s.clone(), None, Some(now_s.clone())),
            Err(e) => {
                let backoff = config
                    .first_retry_ms
                    .saturating_mul(1 << (attempts - 1).clamp(0, 20))
                    .min(3_600_000);
                let status = if attempts >= config.max_attempts {
                    "failed"
                } else {
                    "pending"
                };
                (status, shifted(now, backoff as i64), Some(e.clone()), None)
            }
        };
        sql.exec(
            "INSERT INTO alert_deliveries (event_id, channel, attempts, next_try_utc, status, last_error, delivered_utc)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (event_id, channel) DO UPDATE SET attempts = excluded.attempts, next_try_utc = excluded.next_try_utc,
               status = excluded.status, last_error = excluded.last_error, delivered_utc = excluded.delivered_utc",
            params![job.msg.event_id, &job.channel, attempts, &next, status, error, delivered],
        )?;
        if let (Ok(Some(handle)), "telegram" | "email") = (&r, job.channel.as_str()) {
            let col = if job.channel == "telegram" {
                "telegram_message_id"
            } else {
                "email_message_id"
            };
            sql.exec(
                &format!("UPDATE alert_threads SET {col} = $2 WHERE id = $1 AND {col} IS NULL"),
                params![job.msg.thread_id, handle],
            )?;
        }
        touched.insert(job.msg.event_id);
    }
    for id in touched {
        let done = sql
            .query_one(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM alert_deliveries WHERE event_id = $1 AND status <> 'pending'",
                params![id],
            )?
            .map_or(0, |r| r.int(0));
        if done >= channels.len() as i64 {
            sql.exec(
                "UPDATE alert_events SET status = 'sent' WHERE id = $1",
                params![id],
            )?;
        }
    }
    Ok(())
}

/// Sends a test message through each configured channel now (`back-office alerts test`);
/// returns each channel's outcome.
pub async fn send_test(config: &AlertConfig) -> Vec<(String, Result<(), String>)> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap_or_default();
    let msg = Outgoing {
        event_id: 0,
        thread_id: 0,
        terminal_id: "-".into(),
        rule: "test".into(),
        step: "test".into(),
        urgent: false,
        event_utc: crate::now_utc(),
        text: "Проверка оповещений бэк-офиса: это тестовое сообщение.".into(),
        thread_ref: None,
    };
    let mut out = Vec::new();
    for ch in config.channel_names() {
        let r = channels::send(&client, config, &ch, &msg).await;
        out.push((ch, r.map(|_| ()).map_err(|e| e.to_string())));
    }
    out
}

/// One line of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogRow {
    pub event_id: i64,
    pub thread_id: i64,
    pub terminal_id: String,
    pub rule: String,
    pub step: String,
    pub event_utc: String,
    pub text: String,
    /// `pending`, `sent`, `suppressed` (planned work, ended within the confirmation delay),
    /// `expired`.
    pub status: String,
    /// The channel and its outcome (`None` when no attempt was made yet).
    pub channel: Option<String>,
    pub channel_status: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered_utc: Option<String>,
}

/// The latest alerts and their deliveries, newest first (of one terminal, or all).
pub fn log(
    sql: &mut dyn Sql,
    terminal: Option<&str>,
    limit: i64,
) -> Result<Vec<LogRow>, StoreError> {
    let q =
        "SELECT e.id, e.thread_id, e.terminal_id, e.rule, e.step, e.event_utc, e.text, e.status,
                    d.channel, d.status, COALESCE(d.attempts, 0), d.last_error, d.delivered_utc
             FROM alert_events e LEFT JOIN alert_deliveries d ON d.event_id = e.id
             WHERE ($1 = '' OR e.terminal_id = $1) ORDER BY e.id DESC, d.channel LIMIT $2";
    Ok(sql
        .query(q, params![terminal.unwrap_or(""), limit])?
        .into_iter()
        .map(|r| LogRow {
            event_id: r.int(0),
            thread_id: r.int(1),
            terminal_id: r.text(2),
            rule: r.text(3),
            step: r.text(4),
            event_utc: r.text(5),
            text: r.text(6),
            status: r.text(7),
            channel: r.opt_text(8),
            channel_status: r.opt_text(9),
            attempts: r.int(10),
            last_error: r.opt_text(11),
            delivered_utc: r.opt_text(12),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone;
        // Moscow is UTC+3.
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 20, (h + 21) % 24, m, 0)
            .unwrap()
    }

    #[test]
    fn working_hours_are_local_and_may_span_midnight() {
        let mut c = AlertConfig::default();
        let msk = chrono_tz::Europe::Moscow;
        assert!(within_hours(&c, msk, at(3, 0)), "no hours: always");
        c.working_hours = Some(super::super::WorkingHours {
            start: "08:00".into(),
            end: "20:00".into(),
        });
        assert!(!within_hours(&c, msk, at(7, 59)));
        assert!(within_hours(&c, msk, at(8, 0)));
        assert!(within_hours(&c, msk, at(19, 59)));
        assert!(!within_hours(&c, msk, at(20, 0)));
        c.working_hours = Some(super::super::WorkingHours {
            start: "22:00".into(),
            end: "06:00".into(),
        });
        assert!(within_hours(&c, msk, at(23, 0)));
        assert!(within_hours(&c, msk, at(5, 0)));
        assert!(!within_hours(&c, msk, at(12, 0)));
    }
}
