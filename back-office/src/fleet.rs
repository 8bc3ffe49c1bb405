//! The fleet view for technicians and finance: each terminal's state, outage, SLA breaches, sync,
//! cash and paper; rendered as a server-side HTML page with SVG charts.

use std::collections::HashMap;

use serde::Serialize;

use crate::charts;
use crate::db::{Sql, StoreError};
use crate::params;

/// A heartbeat older than this marks the terminal as not reporting.
pub const HEARTBEAT_STALE_SECS: i64 = 5 * 60;
/// The standard's limit on an outage in working hours.
pub const SLA_OUTAGE_MINUTES: i64 = 60;

/// One terminal's line on the fleet page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetRow {
    pub terminal_id: String,
    /// From the last heartbeat (`in_service`, `degraded`, `out_of_service`…), or `silent` when it is
    /// older than [`HEARTBEAT_STALE_SECS`], or `never_seen`.
    pub state: String,
    pub current_outage_minutes: Option<i64>,
    pub sla_breaches_30d: i64,
    pub outage_minutes_30d: i64,
    pub last_sync_utc: Option<String>,
    pub last_heartbeat_utc: Option<String>,
    pub held_seq: i64,
    pub queue_len: Option<u64>,
    pub sync_lag_seconds: Option<u64>,
    pub cash_in_cassette_kopecks: i64,
    pub bills_in_cassette: i64,
    pub paper: String,
    /// What the fiscal register's FN warns about (wear, memory, documents unsent to the OFD),
    /// as the terminal last reported it; `None` while it is fine.
    pub fiscal_warning: Option<String>,
    /// The terminal's time zone (IANA); the page shows its times in it.
    pub time_zone: String,
}

fn days_ago(now: &chrono::DateTime<chrono::Utc>, n: u64) -> String {
    crate::project::business_day(
        &(*now - chrono::Days::new(n)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

/// The fleet table at `now`.
pub fn rows(
    sql: &mut dyn Sql,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<FleetRow>, StoreError> {
    let since = days_ago(&now, 30);
    let mut open: HashMap<String, i64> = HashMap::new();
    for r in sql.query(
        "SELECT terminal_id, CAST(MAX(working_minutes) AS BIGINT) FROM outages WHERE level <> 'recovered' GROUP BY terminal_id",
        &[],
    )? {
        open.insert(r.text(0), r.int(1));
    }
    let mut breaches: HashMap<String, (i64, i64)> = HashMap::new();
    for r in sql.query(
        "SELECT terminal_id, CAST(SUM(breach) AS BIGINT), CAST(SUM(working_minutes) AS BIGINT) FROM outages WHERE day >= $1 GROUP BY terminal_id",
        params![&since],
    )? {
        breaches.insert(r.text(0), (r.int(1), r.int(2)));
    }
    let mut printer: HashMap<String, String> = HashMap::new();
    for r in sql.query(
        "SELECT terminal_id, state FROM device_states WHERE device = 'printer'",
        &[],
    )? {
        printer.insert(r.text(0), r.text(1));
    }
    let mut fiscal: HashMap<String, String> = HashMap::new();
    for r in sql.query(
        "SELECT terminal_id, detail FROM device_states WHERE device = 'fiscal_module' AND state <> 'up'",
        &[],
    )? {
        fiscal.insert(r.text(0), r.text(1));
    }
    let mut out = Vec::new();
    for t in crate::terminals::list(sql)? {
        let last_enc = sql
            .query_one(
                "SELECT CAST(MAX(seq) AS BIGINT) FROM encashments WHERE terminal_id = $1",
                params![&t.id],
            )?
            .and_then(|r| r.opt_int(0))
            .unwrap_or(0);
        let cash = sql
            .query_one(
                "SELECT CAST(COALESCE(SUM(denomination_kopecks), 0) AS BIGINT), CAST(COUNT(*) AS BIGINT) FROM bills WHERE terminal_id = $1 AND seq > $2",
                params![&t.id, last_enc],
            )?
            .map(|r| (r.int(0), r.int(1)))
            .unwrap_or((0, 0));
        let hb_age = t
            .last_heartbeat_utc
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|h| (now - h.with_timezone(&chrono::Utc)).num_seconds());
        let state = match (&t.heartbeat, hb_age) {
            (Some(hb), Some(age)) if age <= HEARTBEAT_STALE_SECS => hb.service_state.clone(),
            (_, Some(_)) => "silent".to_string(),
            _ => "never_seen".to_string(),
        };
        let hb_outage = t
            .heartbeat
            .as_ref()
            .and_then(|h| h.outage_working_minutes)
            .map(i64::from);
        let current = match (open.get(&t.id).copied(), hb_outage) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let paper = t
            .heartbeat
            .as_ref()
            .map(|h| h.paper.clone())
            .filter(|p| !p.is_empty())
            .or_else(|| printer.get(&t.id).cloned())
            .unwrap_or_else(|| "unknown".into());
        let (b30, m30) = breaches.get(&t.id).copied().unwrap_or((0, 0));
        out.push(FleetRow {
            current_outage_minutes: current,
            sla_breaches_30d: b30,
            outage_minutes_30d: m30,
            last_sync_utc: t.last_sync_utc.clone(),
            last_heartbeat_utc: t.last_heartbeat_utc.clone(),
            held_seq: t.held_seq,
            queue_len: t.heartbeat.as_ref().map(|h| h.queue_len),
            sync_lag_seconds: t.heartbeat.as_ref().map(|h| h.sync_lag_seconds),
            cash_in_cassette_kopecks: cash.0,
            bills_in_cassette: cash.1,
            paper,
            fiscal_warning: fiscal.get(&t.id).cloned(),
            state,
            time_zone: t.time_zone.name().to_string(),
            terminal_id: t.id,
        });
    }
    Ok(out)
}

/// Cash and card takings per business day over the last `days` days (oldest first).
pub fn takings(
    sql: &mut dyn Sql,
    now: chrono::DateTime<chrono::Utc>,
    days: u64,
) -> Result<Vec<(String, i64, i64)>, StoreError> {
    let mut by_day: std::collections::BTreeMap<String, (i64, i64)> = (0..days)
        .rev()
        .map(|n| (days_ago(&now, n), (0, 0)))
        .collect();
    let since = days_ago(&now, days.saturating_sub(1));
    for r in sql.query(
        "SELECT day, method, CAST(SUM(total_kopecks) AS BIGINT) FROM payments WHERE day >= $1 GROUP BY day, method",
        params![&since],
    )? {
        if let Some(e) = by_day.get_mut(&r.text(0)) {
            if r.text(1) == "cash" {
                e.0 += r.int(2);
            } else {
                e.1 += r.int(2);
            }
        }
    }
    Ok(by_day.into_iter().map(|(d, (c, k))| (d, c, k)).collect())
}

/// A stored UTC time in a terminal's time zone, or `никогда`.
fn local(time_utc: Option<&str>, tz: &str) -> String {
    let tz = tz.parse().unwrap_or(crate::project::DEFAULT_TIME_ZONE);
    time_utc.map_or_else(
        || "никогда".to_string(),
        |t| crate::project::local_time(t, tz),
    )
}

/// Money on a page as a Russian reader writes it: `15 100,00 ₽` (no-break spaces).
pub fn money_ru(kopecks: i64) -> String {
    let sign = if kopecks < 0 { "-" } else { "" };
    let whole = (kopecks / 100).unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, d) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(d);
    }
    format!("{sign}{grouped},{:02}\u{a0}₽", (kopecks % 100).abs())
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The whole fleet page.
/// One technician's login or operation at a kiosk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOp {
    pub time_utc: String,
    pub terminal_id: String,
    /// `login`, `login_refused`, `login_locked_out`, or the operation (`encashment`, …).
    pub operation: String,
    pub detail: String,
}

/// The latest service logins and operations across the fleet, newest first.
pub fn service_log(sql: &mut dyn Sql, limit: i64) -> Result<Vec<ServiceOp>, StoreError> {
    let rows = sql.query(
        "SELECT time_utc, terminal_id, operation, detail FROM service_log ORDER BY time_utc DESC, seq DESC LIMIT $1",
        params![limit],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| ServiceOp {
            time_utc: r.text(0),
            terminal_id: r.text(1),
            operation: r.text(2),
            detail: r.text(3),
        })
        .collect())
}

pub fn page(sql: &mut dyn Sql, now: chrono::DateTime<chrono::Utc>) -> Result<String, StoreError> {
    let rows = rows(sql, now)?;
    let takings = takings(sql, now, 14)?;
    let incidents = crate::incidents::latest(sql, 20)?;
    let outage_svg = charts::outage_bars(
        &rows
            .iter()
            .map(|r| (r.terminal_id.clone(), r.outage_minutes_30d))
            .collect::<Vec<_>>(),
    );
    let takings_svg = charts::takings_lines(&takings);
    // Times are shown as read at the terminal; those of no terminal in UTC.
    let zones: std::collections::HashMap<String, String> = rows
        .iter()
        .map(|r| (r.terminal_id.clone(), r.time_zone.clone()))
        .collect();
    let zone_of =
        |id: Option<&str>| -> &str { id.and_then(|i| zones.get(i)).map_or("UTC", String::as_str) };
    let mut h = String::with_capacity(16 * 1024);
    h.push_str("<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>Терминалы — парк</title>\
<meta http-equiv=\"refresh\" content=\"60\"><style>");
    h.push_str(crate::web::STYLE);
    h.push_str(".charts{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>");
    h.push_str(&format!(
        "<h1>Парк терминалов</h1><p>Обновлено {} UTC. Норматив: не более {} рабочих минут простоя.</p>",
        esc(&now.format("%Y-%m-%d %H:%M").to_string()),
        SLA_OUTAGE_MINUTES
    ));
    h.push_str("<table><tr><th>Терминал</th><th>Состояние</th><th>Простой сейчас, раб. мин</th><th>Нарушения SLA (30 дн.)</th>\
<th>Последняя синхронизация (время терминала)</th><th>Очередь</th><th>Наличные в кассете</th><th>Купюр</th><th>Бумага</th><th>ФН</th></tr>");
    for r in &rows {
        let class = match (r.state.as_str(), r.current_outage_minutes) {
            (_, Some(m)) if m >= SLA_OUTAGE_MINUTES => "bad",
            ("out_of_service" | "silent" | "never_seen", _) => "bad",
            (_, Some(_)) | ("degraded", _) => "warn",
            _ if r.fiscal_warning.is_some() => "warn",
            _ => "ok",
        };
        h.push_str(&format!(
            "<tr class=\"{class}\"><td><a href=\"/terminals/{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.terminal_id),
            esc(&r.terminal_id),
            esc(&crate::terminal_page::state_ru(&r.state)),
            r.current_outage_minutes.map(|m| m.to_string()).unwrap_or_else(|| "—".into()),
            r.sla_breaches_30d,
            esc(&local(r.last_sync_utc.as_deref(), &r.time_zone)),
            r.queue_len.map(|q| q.to_string()).unwrap_or_else(|| "—".into()),
            money_ru(r.cash_in_cassette_kopecks),
            r.bills_in_cassette,
            esc(&crate::terminal_page::paper_ru(&r.paper)),
            esc(r.fiscal_warning.as_deref().unwrap_or("в порядке")),
        ));
    }
    h.push_str("</table><div class=\"charts\">");
    h.push_str(&outage_svg);
    h.push_str(&takings_svg);
    h.push_str("</div>");
    h.push_str("<h2>Инциденты безопасности и целостности</h2><table><tr><th>Время</th><th>Терминал</th><th>Код</th><th>Источник</th><th>Раз</th><th>Подробности</th></tr>");
    for i in &incidents {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&local(Some(&i.time_utc), zone_of(i.terminal_id.as_deref()))),
            esc(i.terminal_id.as_deref().unwrap_or("—")),
            esc(&i.code),
            esc(i.source.as_deref().unwrap_or("—")),
            i.count,
            esc(&i.detail)
        ));
    }
    h.push_str("</table><h2>Сервисные операции</h2><table><tr><th>Время</th><th>Терминал</th><th>Операция</th><th>Подробности</th></tr>");
    for op in service_log(sql, 30)? {
        let class = if op.operation.starts_with("login_") {
            " class=\"warn\""
        } else {
            ""
        };
        h.push_str(&format!(
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&local(Some(&op.time_utc), zone_of(Some(&op.terminal_id)))),
            esc(&op.terminal_id),
            esc(&crate::terminal_page::operation_ru(&op.operation)),
            esc(&op.detail)
        ));
    }
    h.push_str("</table><p><a href=\"/openapi.json\">OpenAPI</a></p></body></html>");
    Ok(h)
}
