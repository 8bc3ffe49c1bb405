//! Which journal facts become alerts, and how they group into threads. Runs inside the ingest
//! transaction ([`observe`]), so each fresh record is looked at exactly once and a rebuild never
//! alerts again; the sync-lag rule runs from the dispatcher ([`sweep_sync_lag`]). Writes only
//! `alert_threads` and `alert_events`; sending is [`super::dispatch`]'s job.
//!
//! Threads: an outage (by the terminal's `outage_id`), a device down, a cassette nearly full,
//! paper near end, a stuck note (by reference), sync lag. A thread opens with one event, may get
//! updates (an outage's escalation at 30 and breach at 60 working minutes) and closes with a
//! recovery notice — sent only when its opening was sent, so an outage that ended within the
//! confirmation delay costs nobody a message. An outage during service work (a technician's
//! login or operation within [`PLANNED_LEAD_MINUTES`] before it or while it runs, or the kiosk
//! in maintenance) is planned: nothing of it is sent that was not sent already.

use backend_sync::event::{JournalEvent, OutageLevel};
use backend_sync::JournalRecord;

use crate::db::{Sql, StoreError};
use crate::params;

/// Service activity this long before an outage starts makes it planned work.
pub const PLANNED_LEAD_MINUTES: i64 = 10;

/// A rule's stored name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Outage,
    DeviceDown,
    CassetteNearFull,
    PaperNearEnd,
    SyncLag,
    FiscalWarning,
    StuckNote,
    /// The СБП bank has not answered the back office for a while (kiosks stop offering СБП).
    BankUnreachable,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Outage => "outage",
            Rule::DeviceDown => "device_down",
            Rule::CassetteNearFull => "cassette_near_full",
            Rule::PaperNearEnd => "paper_near_end",
            Rule::SyncLag => "sync_lag",
            Rule::FiscalWarning => "fiscal_warning",
            Rule::StuckNote => "stuck_note",
            Rule::BankUnreachable => "sbp_bank_unreachable",
        }
    }

    /// Urgent rules are sent at any hour; the others wait for the office's working hours.
    pub fn urgent(self) -> bool {
        matches!(self, Rule::Outage)
    }
}

/// A thread's step: its opening, an update, or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Opened,
    Updated,
    Closed,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Opened => "opened",
            Step::Updated => "updated",
            Step::Closed => "closed",
        }
    }
}

/// One alert to queue.
struct Alert<'a> {
    terminal: &'a str,
    subject: String,
    rule: Rule,
    step: Step,
    event_utc: &'a str,
    /// Not sent before this time (the outage's confirmation delay).
    due_utc: String,
    text: String,
}

fn plus_seconds(t: &str, secs: i64) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(t) => (t.with_timezone(&chrono::Utc) + chrono::Duration::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        Err(_) => t.to_string(),
    }
}

fn open_thread(
    sql: &mut dyn Sql,
    terminal: &str,
    subject: &str,
) -> Result<Option<(i64, bool)>, StoreError> {
    Ok(sql
        .query_one(
            "SELECT id, planned FROM alert_threads WHERE terminal_id = $1 AND subject = $2 AND closed_utc IS NULL ORDER BY id DESC LIMIT 1",
            params![terminal, subject],
        )?
        .map(|r| (r.int(0), r.int(1) != 0)))
}

/// Whether the thread's opening reached anybody.
fn opening_delivered(sql: &mut dyn Sql, thread: i64) -> Result<bool, StoreError> {
    Ok(sql
        .query_one(
            "SELECT 1 FROM alert_events e JOIN alert_deliveries d ON d.event_id = e.id
             WHERE e.thread_id = $1 AND e.step = 'opened' AND d.status = 'delivered' LIMIT 1",
            params![thread],
        )?
        .is_some())
}

/// Whether the thread's opening outlived its confirmation delay by terminal time `t` (or
/// already reached somebody): then its end is news.
fn confirmed_by(
    sql: &mut dyn Sql,
    thread: i64,
    t: &str,
    confirm_seconds: i64,
) -> Result<bool, StoreError> {
    let Some(opening) = sql.query_one(
        "SELECT event_utc FROM alert_events WHERE thread_id = $1 AND step = 'opened' AND status <> 'suppressed' ORDER BY id LIMIT 1",
        params![thread],
    )?
    else {
        return Ok(false);
    };
    Ok(
        plus_seconds(&opening.text(0), confirm_seconds).as_str() <= t
            || opening_delivered(sql, thread)?,
    )
}

fn insert_event(
    sql: &mut dyn Sql,
    thread: i64,
    a: &Alert<'_>,
    status: &str,
    now: &str,
) -> Result<(), StoreError> {
    sql.exec(
        "INSERT INTO alert_events (thread_id, terminal_id, rule, step, urgent, event_utc, due_utc, text, status, created_utc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        params![thread, a.terminal, a.rule.name(), a.step.name(), a.rule.urgent(), a.event_utc, &a.due_utc, &a.text, status, now],
    )?;
    Ok(())
}

/// Queues `a` on its thread: an opening starts one (unless it is open already), an update or
/// the end joins the open one. Planned threads queue nothing new; a thread nobody heard of
/// ends silently (its pending opening is suppressed).
fn queue(
    sql: &mut dyn Sql,
    a: Alert<'_>,
    planned: bool,
    confirm_seconds: i64,
    now: &str,
) -> Result<(), StoreError> {
    let open = open_thread(sql, a.terminal, &a.subject)?;
    match (a.step, open) {
        (Step::Opened, Some(_)) => Ok(()),
        (Step::Opened, None) => {
            let id = sql
                .query_one(
                    "INSERT INTO alert_threads (terminal_id, subject, rule, opened_utc, planned) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    params![a.terminal, &a.subject, a.rule.name(), a.event_utc, planned],
                )?
                .map_or(0, |r| r.int(0));
            let status = if planned { "suppressed" } else { "pending" };
            insert_event(sql, id, &a, status, now)
        }
        (_, None) => Ok(()),
        (step, Some((id, was_planned))) => {
            if step == Step::Closed {
                sql.exec(
                    "UPDATE alert_threads SET closed_utc = $2 WHERE id = $1",
                    params![id, a.event_utc],
                )?;
                let tell = if was_planned {
                    opening_delivered(sql, id)?
                } else {
                    confirmed_by(sql, id, a.event_utc, confirm_seconds)?
                };
                if !tell {
                    // Ended within the confirmation delay, or planned work nobody was told of.
                    sql.exec(
                        "UPDATE alert_events SET status = 'suppressed' WHERE thread_id = $1 AND status = 'pending'",
                        params![id],
                    )?;
                    return Ok(());
                }
                return insert_event(sql, id, &a, "pending", now);
            }
            let status = if was_planned { "suppressed" } else { "pending" };
            insert_event(sql, id, &a, status, now)
        }
    }
}

/// Service work at `terminal`: every open outage thread becomes planned and what of it is not
/// yet sent is dropped.
fn mark_planned(sql: &mut dyn Sql, terminal: &str) -> Result<(), StoreError> {
    for t in sql.query(
        "SELECT id FROM alert_threads WHERE terminal_id = $1 AND rule = 'outage' AND closed_utc IS NULL AND planned = 0",
        params![terminal],
    )? {
        let id = t.int(0);
        sql.exec("UPDATE alert_threads SET planned = 1 WHERE id = $1", params![id])?;
        sql.exec(
            "UPDATE alert_events SET status = 'suppressed' WHERE thread_id = $1 AND status = 'pending'
             AND id NOT IN (SELECT event_id FROM alert_deliveries WHERE status = 'delivered')",
            params![id],
        )?;
    }
    Ok(())
}

/// Whether a technician worked at the kiosk shortly before `t` (logins, operations).
fn recent_service_work(sql: &mut dyn Sql, terminal: &str, t: &str) -> Result<bool, StoreError> {
    let since = plus_seconds(t, -PLANNED_LEAD_MINUTES * 60);
    Ok(sql
        .query_one(
            "SELECT 1 FROM service_log WHERE terminal_id = $1 AND time_utc >= $2 AND time_utc <= $3
             AND operation NOT IN ('login_refused', 'login_locked_out', 'exit') LIMIT 1",
            params![terminal, &since, t],
        )?
        .is_some())
}

/// Whether the kiosk was last seen in maintenance (`ServiceStateChanged`).
fn in_maintenance(sql: &mut dyn Sql, terminal: &str) -> Result<bool, StoreError> {
    Ok(sql
        .query_one(
            "SELECT payload FROM journal WHERE terminal_id = $1 AND kind = 'ServiceStateChanged' ORDER BY seq DESC LIMIT 1",
            params![terminal],
        )?
        .is_some_and(|r| r.text(0).contains("\"maintenance\"")))
}

fn outage_text(level: OutageLevel, terminal: &str, minutes: u32, detail: &str) -> String {
    match level {
        OutageLevel::Started => format!("Терминал {terminal} не работает: {detail}"),
        OutageLevel::Escalated => format!(
            "Терминал {terminal} не работает {minutes} рабочих минут: {detail}"
        ),
        OutageLevel::Breach => format!(
            "Терминал {terminal}: нарушен норматив 60 минут — не работает {minutes} рабочих минут: {detail}"
        ),
        OutageLevel::Recovered => format!(
            "Терминал {terminal} снова работает (простой {minutes} рабочих минут)"
        ),
    }
}

/// An outage's step on its thread: the opening waits out the confirmation delay and is planned
/// work when a technician is at the kiosk.
fn outage_alert(
    sql: &mut dyn Sql,
    mut a: Alert<'_>,
    level: OutageLevel,
    confirm_seconds: i64,
    now: &str,
) -> Result<(), StoreError> {
    a.step = match level {
        OutageLevel::Started => Step::Opened,
        OutageLevel::Escalated | OutageLevel::Breach => Step::Updated,
        OutageLevel::Recovered => Step::Closed,
    };
    let mut planned = false;
    if a.step == Step::Opened {
        planned =
            recent_service_work(sql, a.terminal, a.event_utc)? || in_maintenance(sql, a.terminal)?;
        // The terminal's clock may run ahead of ours: never wait past our own now.
        let base = if a.event_utc < now { a.event_utc } else { now };
        a.due_utc = plus_seconds(base, confirm_seconds);
    }
    queue(sql, a, planned, confirm_seconds, now)
}

/// Looks at one freshly ingested record (after its projection) and queues what it means for
/// people. `confirm_seconds` holds an outage's opening back so a blip alerts nobody.
/// The subjects of `terminal`'s open threads, for one batch's [`observe`] calls.
pub fn open_subjects(
    sql: &mut dyn Sql,
    terminal: &str,
) -> Result<std::collections::HashSet<String>, StoreError> {
    Ok(sql
        .query(
            "SELECT subject FROM alert_threads WHERE terminal_id = $1 AND closed_utc IS NULL",
            params![terminal],
        )?
        .into_iter()
        .map(|r| r.text(0))
        .collect())
}

/// `open` holds the subjects of the terminal's open threads ([`open_subjects`] at the batch's
/// start) and is kept up to date for the fiscal and stuck-note threads, whose ends (one per
/// receipt) then need no lookup when nothing was open.
pub fn observe(
    sql: &mut dyn Sql,
    terminal: &str,
    rec: &JournalRecord,
    event: &JournalEvent,
    confirm_seconds: i64,
    now: &str,
    open: &mut std::collections::HashSet<String>,
) -> Result<(), StoreError> {
    let t = rec.time_utc.as_str();
    let alert = |subject: String, rule: Rule, step: Step, text: String| Alert {
        terminal,
        subject,
        rule,
        step,
        event_utc: t,
        due_utc: now.to_string(),
        text,
    };
    match event {
        JournalEvent::OutageAlert {
            level,
            outage_id,
            working_minutes,
            detail,
        } => {
            let text = outage_text(*level, terminal, *working_minutes, detail);
            let a = alert(
                format!("outage:{outage_id}"),
                Rule::Outage,
                Step::Opened,
                text,
            );
            outage_alert(sql, a, *level, confirm_seconds, now)?;
        }
        JournalEvent::ServiceLogin {
            succeeded: true, ..
        } => mark_planned(sql, terminal)?,
        JournalEvent::ServiceOperation { operation, .. } if operation != "exit" => {
            mark_planned(sql, terminal)?
        }
        JournalEvent::ServiceStateChanged { state, .. } if state == "maintenance" => {
            mark_planned(sql, terminal)?
        }
        JournalEvent::DeviceStateChanged {
            device,
            state,
            detail,
        } => device_alerts(sql, terminal, t, device, state, detail, now)?,
        _ => receipt_and_note_alerts(sql, terminal, t, event, now, open)?,
    }
    Ok(())
}

/// Fiscal failures (closed by the receipt's registration) and stuck notes (closed by their
/// resolution).
fn receipt_and_note_alerts(
    sql: &mut dyn Sql,
    terminal: &str,
    t: &str,
    event: &JournalEvent,
    now: &str,
    open: &mut std::collections::HashSet<String>,
) -> Result<(), StoreError> {
    let subject = match event {
        JournalEvent::FiscalisationFailed { receipt_id, .. }
        | JournalEvent::ReceiptFiscalised { receipt_id, .. } => format!("fiscal:{receipt_id}"),
        JournalEvent::BillStuck { reference, .. }
        | JournalEvent::StuckNoteResolved { reference, .. } => format!("stuck:{reference}"),
        _ => return Ok(()),
    };
    let closes = matches!(
        event,
        JournalEvent::ReceiptFiscalised { .. } | JournalEvent::StuckNoteResolved { .. }
    );
    if closes && !open.remove(&subject) {
        // No such thread is open: nothing to end.
        return Ok(());
    }
    if !closes {
        open.insert(subject);
    }
    let alert = |subject: String, rule: Rule, step: Step, text: String| Alert {
        terminal,
        subject,
        rule,
        step,
        event_utc: t,
        due_utc: now.to_string(),
        text,
    };
    match event {
        JournalEvent::FiscalisationFailed {
            receipt_id, reason, ..
        } => {
            let subject = format!("fiscal:{receipt_id}");
            queue(
                sql,
                alert(
                    subject,
                    Rule::FiscalWarning,
                    Step::Opened,
                    format!("Терминал {terminal}: чек {receipt_id} не зарегистрирован в ФН ({reason}), повтор на терминале"),
                ),
                false,
                0,
                now,
            )?;
        }
        JournalEvent::ReceiptFiscalised { receipt_id, .. } => queue(
            sql,
            alert(
                format!("fiscal:{receipt_id}"),
                Rule::FiscalWarning,
                Step::Closed,
                format!("Терминал {terminal}: чек {receipt_id} зарегистрирован в ФН"),
            ),
            false,
            0,
            now,
        )?,
        JournalEvent::BillStuck {
            reference,
            denomination_kopecks,
            reason,
            ..
        } => queue(
            sql,
            alert(
                format!("stuck:{reference}"),
                Rule::StuckNote,
                Step::Opened,
                format!(
                    "Терминал {terminal}: застряла купюра {} ₽ ({reference}): {reason}. Нужен техник.",
                    crate::report_out::rubles(*denomination_kopecks)
                ),
            ),
            false,
            0,
            now,
        )?,
        JournalEvent::StuckNoteResolved { reference, outcome, .. } => queue(
            sql,
            alert(
                format!("stuck:{reference}"),
                Rule::StuckNote,
                Step::Closed,
                format!(
                    "Терминал {terminal}: купюра {reference} — {}",
                    crate::stuck_notes::outcome_ru(crate::stuck_notes::outcome_name(*outcome))
                ),
            ),
            false,
            0,
            now,
        )?,
        _ => {}
    }
    Ok(())
}

/// A device's state: down opens its thread, a warning of the printer (paper) or the bill
/// validator (cassette) opens that one, `up` closes both.
fn device_alerts(
    sql: &mut dyn Sql,
    terminal: &str,
    t: &str,
    device: &str,
    state: &str,
    detail: &str,
    now: &str,
) -> Result<(), StoreError> {
    let name = crate::terminal_page::device_ru(device);
    let warning_rule = match device {
        "printer" => Some(Rule::PaperNearEnd),
        "bill_validator" | "bill_acceptor" => Some(Rule::CassetteNearFull),
        _ => None,
    };
    let mk = |subject: String, rule: Rule, step: Step, text: String| Alert {
        terminal,
        subject,
        rule,
        step,
        event_utc: t,
        due_utc: now.to_string(),
        text,
    };
    let down = format!("device:{device}");
    let warn = format!("warning:{device}");
    match state {
        "down" => {
            let text = format!("Терминал {terminal}: {name} неисправен — {detail}");
            queue(
                sql,
                mk(down, Rule::DeviceDown, Step::Opened, text),
                false,
                0,
                now,
            )
        }
        "warning" => match warning_rule {
            Some(rule) => {
                let what = if rule == Rule::PaperNearEnd {
                    "заканчивается бумага"
                } else {
                    "кассета почти заполнена"
                };
                let text = format!("Терминал {terminal}: {what} ({detail})");
                queue(sql, mk(warn, rule, Step::Opened, text), false, 0, now)
            }
            None => Ok(()),
        },
        "up" => {
            let text = format!("Терминал {terminal}: {name} снова исправен");
            queue(
                sql,
                mk(down, Rule::DeviceDown, Step::Closed, text.clone()),
                false,
                0,
                now,
            )?;
            if let Some(rule) = warning_rule {
                queue(sql, mk(warn, rule, Step::Closed, text), false, 0, now)?;
            }
            Ok(())
        }
        // Other notices (a repeated stacked report…) say nothing about the device's health.
        _ => Ok(()),
    }
}

/// Opens a sync-lag thread for every terminal that has sent neither a heartbeat nor a batch for
/// `minutes` (and had sent something before), and closes it when one arrives.
pub fn sweep_sync_lag(sql: &mut dyn Sql, minutes: i64, now: &str) -> Result<(), StoreError> {
    let cutoff = plus_seconds(now, -minutes * 60);
    for r in sql.query(
        "SELECT id, COALESCE(last_sync_utc, ''), COALESCE(last_heartbeat_utc, '') FROM terminals WHERE enabled = 1",
        &[],
    )? {
        let (id, sync, hb) = (r.text(0), r.text(1), r.text(2));
        let last = if sync > hb { sync } else { hb };
        if last.is_empty() {
            continue;
        }
        let lagging = last < cutoff;
        let step = if lagging { Step::Opened } else { Step::Closed };
        let text = if lagging {
            format!("Терминал {id}: нет связи с бэк-офисом больше {minutes} мин (последний раз {last})")
        } else {
            format!("Терминал {id}: связь с бэк-офисом восстановлена")
        };
        let a = Alert {
            terminal: &id,
            subject: "sync_lag".into(),
            rule: Rule::SyncLag,
            step,
            event_utc: now,
            due_utc: now.to_string(),
            text,
        };
        queue(sql, a, false, 0, now)?;
    }
    Ok(())
}

/// The pseudo-terminal the back office's own alerts (the СБП bank) are threaded under.
pub const BACK_OFFICE_SUBJECT_TERMINAL: &str = "back-office";

/// Opens the `sbp_bank_unreachable` thread while `down` holds the bank's last error, closes it
/// when the bank answers again (called by the СБП poller on every pass; cheap when nothing
/// changes).
pub fn sweep_bank(
    sql: &mut dyn Sql,
    bank: &str,
    down: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    let (step, text) = match down {
        Some(e) => (
            Step::Opened,
            format!("Банк СБП ({bank}) не отвечает бэк-офису: оплата по QR-коду на терминалах недоступна ({e})"),
        ),
        None => (
            Step::Closed,
            format!("Банк СБП ({bank}) снова отвечает: оплата по QR-коду доступна"),
        ),
    };
    let a = Alert {
        terminal: BACK_OFFICE_SUBJECT_TERMINAL,
        subject: "sbp_bank".into(),
        rule: Rule::BankUnreachable,
        step,
        event_utc: now,
        due_utc: now.to_string(),
        text,
    };
    queue(sql, a, false, 0, now)
}
