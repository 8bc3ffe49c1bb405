//! One terminal's page for technicians: service state, software version, each device's state and
//! last error in Russian, paper, sync (last sync, queue, lag), cash in the cassette by
//! denomination, the last encashment, open stuck notes, outage history in working minutes, fiscal warnings
//! (document-number gaps, unprinted receipts), service history, incidents and the alert delivery
//! log, the e-receipts' delivery (the 5-minute confirmation). Reads projections
//! only; the frame and navigation come from [`crate::web`].

use backend_sync::JournalEvent;

use crate::db::{Sql, StoreError};
use crate::fleet::esc;
use crate::fleet::money_ru;
use crate::params;

/// A stored UTC time as read at the terminal, or `никогда`.
fn when(time_utc: Option<&str>, tz: chrono_tz::Tz) -> String {
    time_utc.map_or_else(
        || "никогда".to_string(),
        |t| crate::project::local_time(t, tz),
    )
}

/// A device's name on the page.
pub fn device_ru(device: &str) -> String {
    match device {
        "bill_acceptor" | "bill_validator" => "Купюроприёмник".into(),
        "card_reader" => "Платёжный терминал (карты)".into(),
        "printer" => "Принтер чеков".into(),
        "fiscal" | "fiscal_module" => "Фискальный регистратор".into(),
        "back_office" => "Связь с бэк-офисом".into(),
        "screen" | "ui" => "Экран".into(),
        "scanner" => "Сканер штрихкодов".into(),
        other => other.into(),
    }
}

/// A device or service state on the page.
pub fn state_ru(state: &str) -> String {
    match state {
        "ok" | "up" => "исправен".into(),
        "warning" => "предупреждение".into(),
        "in_service" => "работает".into(),
        "degraded" => "работает частично".into(),
        "out_of_service" => "не работает".into(),
        "maintenance" => "обслуживание".into(),
        "silent" => "нет связи".into(),
        "never_seen" => "ещё не выходил на связь".into(),
        "jammed" => "замятие".into(),
        "failed" | "failure" | "down" => "неисправен".into(),
        "offline" | "unreachable" => "нет связи".into(),
        "near_end" | "paper_low" => "бумага заканчивается".into(),
        "out" | "paper_out" => "нет бумаги".into(),
        "cassette_full" => "кассета заполнена".into(),
        "cassette_out" | "cassette_removed" => "кассета снята".into(),
        "cover_open" => "открыта крышка".into(),
        "unknown" | "" => "неизвестно".into(),
        other => other.into(),
    }
}

/// The paper supply on the page.
pub fn paper_ru(paper: &str) -> String {
    match paper {
        "ok" => "есть".into(),
        "near_end" | "paper_low" => "заканчивается".into(),
        "out" | "paper_out" => "нет бумаги".into(),
        "unknown" | "" => "неизвестно".into(),
        other => other.into(),
    }
}

/// A device's own words for a fault (English, as the kiosk logs it: `kind: what`) on the page.
/// Known phrases are translated; anything else is shown as the kiosk wrote it.
pub fn detail_ru(detail: &str) -> String {
    let (kind, what) = match detail.split_once(": ") {
        Some((k @ ("communication" | "hardware" | "needs_attendant"), w)) => (Some(k), w),
        _ => (None, detail),
    };
    let what = match what {
        "validator jammed" | "bill jam in the transport" => "замятие купюры",
        "validator jammed after STACK" => "замятие купюры после команды «уложить»",
        "cassette full" => "кассета заполнена",
        "cassette removed" => "кассета снята",
        "cover open" => "открыта крышка",
        "paper near end" => "бумага заканчивается",
        "paper out" => "нет бумаги",
        "no answer on the line" | "no answer" | "timeout" => "нет ответа",
        "no answer / firmware hang" => "нет ответа (зависла прошивка)",
        "port does not open" => "порт не открывается",
        "driver stopped" => "драйвер остановлен",
        "link down" | "link lost" => "нет связи",
        "hardware failure" => "аппаратная неисправность",
        "storage failure" => "сбой хранилища",
        "the back office does not answer" => "бэк-офис не отвечает",
        "the card terminal does not answer" => "платёжный терминал не отвечает",
        "no payment method works" => "не работает ни один способ оплаты",
        "UI frozen" => "экран не отвечает",
        "terminal restarting" => "перезапуск терминала",
        other => other,
    };
    match kind {
        Some("communication") => format!("нет связи: {what}"),
        Some("hardware") => format!("неисправность: {what}"),
        Some(_) => format!("нужен техник: {what}"),
        None => what.to_string(),
    }
}

/// A technician's login or service operation on the page.
pub fn operation_ru(operation: &str) -> String {
    match operation {
        "login" => "вход техника",
        "login_refused" => "вход отклонён",
        "login_locked_out" => "вход заблокирован",
        "encashment" => "инкассация",
        "encashment_slip" => "квитанция инкассации",
        "stuck_note" => "застрявшая купюра",
        "test_bill" => "проверка купюроприёмника",
        "test_card_reader" => "проверка платёжного терминала",
        "test_printer" => "проверка принтера",
        "close_shift" => "закрытие смены",
        "reprint" => "повторная печать чека",
        "journal_export" => "выгрузка журнала",
        "outage_history" => "история простоев",
        "paper_replaced" => "замена бумаги",
        "exit" => "выход из сервисного меню",
        other => other,
    }
    .to_string()
}

fn css(state: &str) -> &'static str {
    match state {
        "ok" | "up" | "in_service" => "ok",
        "degraded" | "near_end" | "paper_low" | "maintenance" | "warning" => "warn",
        _ => "bad",
    }
}

/// The last state other than `ok` each device reported, newest first (bounded look-back).
fn last_errors(
    sql: &mut dyn Sql,
    id: &str,
) -> Result<Vec<(String, String, String, String)>, StoreError> {
    let mut seen = std::collections::BTreeMap::new();
    for r in sql.query(
        "SELECT time_utc, payload FROM journal WHERE terminal_id = $1 AND kind = 'DeviceStateChanged' ORDER BY seq DESC LIMIT 500",
        params![id],
    )? {
        if let Ok(JournalEvent::DeviceStateChanged { device, state, detail }) = serde_json::from_str(&r.text(1)) {
            if state != "ok" && !seen.contains_key(&device) {
                seen.insert(device, (state, detail, r.text(0)));
            }
        }
    }
    Ok(seen
        .into_iter()
        .map(|(d, (s, det, t))| (d, s, det, t))
        .collect())
}

fn devices(
    sql: &mut dyn Sql,
    id: &str,
    row: &crate::terminals::TerminalRow,
    h: &mut String,
) -> Result<(), StoreError> {
    let errors = last_errors(sql, id)?;
    let mut states: std::collections::BTreeMap<String, (String, String, String)> = sql
        .query(
            "SELECT device, state, detail, time_utc FROM device_states WHERE terminal_id = $1",
            params![id],
        )?
        .into_iter()
        .map(|r| (r.text(0), (r.text(1), r.text(2), r.text(3))))
        .collect();
    if let Some(hb) = &row.heartbeat {
        for (d, s) in &hb.devices {
            states
                .entry(d.clone())
                .or_insert_with(|| (s.clone(), String::new(), hb.time_utc.clone()));
        }
    }
    h.push_str("<h2>Устройства</h2><table id=\"devices\"><tr><th>Устройство</th><th>Состояние</th><th>С какого времени</th><th>Последняя ошибка</th></tr>");
    for (d, (s, detail, t)) in &states {
        let last = errors
            .iter()
            .find(|e| &e.0 == d)
            .map(|e| {
                format!(
                    "{} — {} ({})",
                    state_ru(&e.1),
                    detail_ru(&e.2),
                    crate::project::local_time(&e.3, row.time_zone)
                )
            })
            .unwrap_or_else(|| "—".into());
        let shown = if detail.is_empty() {
            state_ru(s)
        } else {
            format!("{} ({})", state_ru(s), detail_ru(detail))
        };
        h.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            css(s),
            esc(&device_ru(d)),
            esc(&shown),
            esc(&crate::project::local_time(t, row.time_zone)),
            esc(&last)
        ));
    }
    h.push_str("</table>");
    Ok(())
}

fn cash(sql: &mut dyn Sql, id: &str, tz: chrono_tz::Tz, h: &mut String) -> Result<(), StoreError> {
    let last = sql.query_one(
        "SELECT seq, time_utc, counted_total_kopecks, terminal_expected_total_kopecks FROM encashments WHERE terminal_id = $1 ORDER BY seq DESC LIMIT 1",
        params![id],
    )?;
    let since = last.as_ref().map_or(0, |r| r.int(0));
    h.push_str("<h2>Наличные в кассете</h2><table id=\"cassette\"><tr><th>Номинал</th><th>Купюр</th><th>Сумма</th></tr>");
    let mut total = 0;
    for r in sql.query(
        "SELECT denomination_kopecks, CAST(COUNT(*) AS BIGINT) FROM bills WHERE terminal_id = $1 AND seq > $2 GROUP BY denomination_kopecks ORDER BY denomination_kopecks",
        params![id, since],
    )? {
        total += r.int(0) * r.int(1);
        h.push_str(&format!(
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            money_ru(r.int(0)),
            r.int(1),
            money_ru(r.int(0) * r.int(1))
        ));
    }
    h.push_str(&format!(
        "<tr><th>Итого</th><th></th><th class=\"num\">{}</th></tr></table>",
        money_ru(total)
    ));
    match last {
        Some(r) => h.push_str(&format!(
            "<p id=\"last-encashment\">Последняя инкассация: {}, пересчитано {} (по данным терминала {}).</p>",
            esc(&crate::project::local_time(&r.text(1), tz)),
            money_ru(r.int(2)),
            money_ru(r.int(3))
        )),
        None => h.push_str("<p id=\"last-encashment\">Инкассаций ещё не было.</p>"),
    }
    Ok(())
}

fn outages(
    sql: &mut dyn Sql,
    id: &str,
    tz: chrono_tz::Tz,
    h: &mut String,
) -> Result<(), StoreError> {
    h.push_str("<h2>Простои (рабочие минуты)</h2><table id=\"outages\"><tr><th>Начало</th><th>Последнее</th><th>Уровень</th><th>Раб. мин</th><th>Нарушение</th><th>Причина</th></tr>");
    for r in sql.query(
        "SELECT started_utc, last_utc, level, working_minutes, breach, detail FROM outages WHERE terminal_id = $1 ORDER BY started_utc DESC LIMIT 50",
        params![id],
    )? {
        let level = match r.text(2).as_str() {
            "started" => "начался",
            "escalated" => "эскалирован",
            "breach" => "нарушен норматив",
            "recovered" => "восстановлен",
            _ => "—",
        };
        h.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{level}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            if r.int(4) == 1 { "bad" } else { "" },
            esc(&crate::project::local_time(&r.text(0), tz)),
            esc(&crate::project::local_time(&r.text(1), tz)),
            r.int(3),
            if r.int(4) == 1 { "да" } else { "нет" },
            esc(&detail_ru(&r.text(5)))
        ));
    }
    h.push_str("</table>");
    Ok(())
}

fn fiscal(sql: &mut dyn Sql, id: &str, h: &mut String) -> Result<(), StoreError> {
    h.push_str("<h2>Фискальные предупреждения</h2><ul id=\"fiscal\">");
    let mut any = false;
    // What the FN itself warns about (wear, memory, documents unsent to the OFD), as the
    // terminal's health desk last reported it.
    for r in sql.query(
        "SELECT state, detail FROM device_states WHERE terminal_id = $1 AND device = 'fiscal_module' AND state <> 'up'",
        params![id],
    )? {
        any = true;
        h.push_str(&format!(
            "<li>{}: {}</li>",
            state_ru(&r.text(0)),
            esc(&r.text(1))
        ));
    }
    for r in sql.query(
        "SELECT fn_number, missing_from, missing_to, day FROM fd_gaps WHERE terminal_id = $1 ORDER BY day DESC LIMIT 20",
        params![id],
    )? {
        any = true;
        h.push_str(&format!(
            "<li>ФН {}: нет документов № {}–{} ({})</li>",
            esc(&r.text(0)),
            r.int(1),
            r.int(2),
            esc(&r.text(3))
        ));
    }
    let unprinted = sql
        .query_one(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM receipts WHERE terminal_id = $1 AND printed = 0",
            params![id],
        )?
        .map_or(0, |r| r.int(0));
    if unprinted > 0 {
        any = true;
        h.push_str(&format!("<li>Не напечатано чеков: {unprinted}</li>"));
    }
    if !any {
        h.push_str("<li>нет</li>");
    }
    h.push_str("</ul>");
    Ok(())
}

fn history(
    sql: &mut dyn Sql,
    id: &str,
    tz: chrono_tz::Tz,
    h: &mut String,
) -> Result<(), StoreError> {
    h.push_str("<h2>Сервисные операции</h2><table id=\"service\"><tr><th>Время</th><th>Операция</th><th>Подробности</th></tr>");
    for r in sql.query(
        "SELECT time_utc, operation, detail FROM service_log WHERE terminal_id = $1 ORDER BY time_utc DESC, seq DESC LIMIT 50",
        params![id],
    )? {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&crate::project::local_time(&r.text(0), tz)),
            esc(&operation_ru(&r.text(1))),
            esc(&r.text(2))
        ));
    }
    h.push_str("</table><h2>Инциденты</h2><table id=\"incidents\"><tr><th>Время</th><th>Код</th><th>Раз</th><th>Подробности</th></tr>");
    for i in crate::incidents::latest(sql, 200)?
        .into_iter()
        .filter(|i| i.terminal_id.as_deref() == Some(id))
        .take(20)
    {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&crate::project::local_time(&i.time_utc, tz)),
            esc(&i.code),
            i.count,
            esc(&i.detail)
        ));
    }
    h.push_str("</table>");
    Ok(())
}

fn message_table(
    table_id: &str,
    rows: &[crate::messages::MessageRow],
    tz: chrono_tz::Tz,
    h: &mut String,
) {
    h.push_str(&format!("<table id=\"{table_id}\"><tr><th>Поставлено в очередь</th><th>Канал</th><th>Кому</th><th>Чек</th><th>Состояние</th><th>Попыток</th><th>Доставлено</th><th>За, с</th><th>Последняя ошибка</th></tr>"));
    for r in rows {
        let class = match r.status {
            crate::messages::Status::Failed => "bad",
            _ if r.late => "warn",
            crate::messages::Status::Delivered => "ok",
            _ => "",
        };
        h.push_str(&format!(
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&crate::project::local_time(&r.queued_utc, tz)),
            if r.channel == "sms" { "СМС" } else { "эл. почта" },
            esc(&r.address),
            esc(&r.receipt_id),
            r.status.ru(),
            if r.late { " (позже 5 минут)" } else { "" },
            r.attempts,
            esc(&when(r.delivered_utc.as_deref(), tz)),
            r.latency_seconds.map_or_else(|| "—".into(), |s| s.to_string()),
            esc(r.last_error.as_deref().unwrap_or("")),
        ));
    }
    h.push_str("</table>");
}

/// The e-receipts: the 5-minute confirmation figures, the late ones, the latest ones.
fn messages(
    sql: &mut dyn Sql,
    id: &str,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
    h: &mut String,
) -> Result<(), StoreError> {
    let s = crate::messages::stats(sql, Some(id), now)?;
    let secs = |v: Option<i64>| v.map_or_else(|| "—".to_string(), |v| format!("{v} с"));
    h.push_str(&format!(
        "<h2>Электронные чеки</h2><table id=\"messages-summary\">\
<tr><th>Доставлено</th><td>{}</td></tr><tr><th>Из них за 5 минут</th><td>{}</td></tr>\
<tr><th>Не уложились в 5 минут</th><td class=\"{}\">{}</td></tr>\
<tr><th>В очереди / отправляется</th><td>{} / {}</td></tr><tr><th>Не доставлено</th><td class=\"{}\">{}</td></tr>\
<tr><th>Время доставки: медиана / 95% / максимум</th><td>{} / {} / {}</td></tr></table>",
        s.delivered,
        s.delivered_in_time,
        if s.late > 0 { "warn" } else { "ok" },
        s.late,
        s.queued,
        s.sending,
        if s.failed > 0 { "bad" } else { "ok" },
        s.failed,
        secs(s.median_seconds),
        secs(s.p95_seconds),
        secs(s.max_seconds),
    ));
    let late = crate::messages::late_rows(sql, Some(id), 50, now)?;
    h.push_str("<h3>Не уложились в 5 минут</h3>");
    message_table("messages-late", &late, tz, h);
    let latest = crate::messages::list(sql, Some(id), 50, now)?;
    h.push_str("<h3>Последние</h3>");
    message_table("messages", &latest, tz, h);
    Ok(())
}

/// The body of terminal `id`'s page, or `None` when no such terminal is registered.
pub fn body(
    sql: &mut dyn Sql,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, StoreError> {
    let Some(row) = crate::fleet::rows(sql, now)?
        .into_iter()
        .find(|r| r.terminal_id == id)
    else {
        return Ok(None);
    };
    let Some(t) = crate::terminals::list(sql)?
        .into_iter()
        .find(|t| t.id == id)
    else {
        return Ok(None);
    };
    let hb = t.heartbeat.as_ref();
    let mut h = String::with_capacity(8 * 1024);
    h.push_str(&format!(
        "<table id=\"summary\"><tr><th>Состояние</th><td class=\"{}\">{}</td></tr>\
<tr><th>Простой сейчас, раб. мин</th><td>{}</td></tr><tr><th>Версия ПО</th><td>{}</td></tr>\
<tr><th>Часовой пояс</th><td>{}</td></tr>\
<tr><th>Бумага</th><td>{}</td></tr><tr><th>Последняя синхронизация</th><td>{}</td></tr>\
<tr><th>Последний сигнал</th><td>{}</td></tr><tr><th>Записей получено</th><td>{}</td></tr>\
<tr><th>Очередь на терминале</th><td>{}</td></tr><tr><th>Отставание синхронизации</th><td>{}</td></tr></table>",
        css(&row.state),
        esc(&state_ru(&row.state)),
        row.current_outage_minutes.map_or_else(|| "—".into(), |m| m.to_string()),
        esc(hb.map_or("—", |h| h.software_version.as_str())),
        esc(t.time_zone.name()),
        esc(&paper_ru(&row.paper)),
        esc(&when(row.last_sync_utc.as_deref(), t.time_zone)),
        esc(&when(row.last_heartbeat_utc.as_deref(), t.time_zone)),
        row.held_seq,
        row.queue_len.map_or_else(|| "—".into(), |q| q.to_string()),
        row.sync_lag_seconds.map_or_else(|| "—".into(), |s| format!("{s} с")),
    ));
    let tz = t.time_zone;
    devices(sql, id, &t, &mut h)?;
    cash(sql, id, tz, &mut h)?;
    let open = crate::stuck_notes::open(sql, Some(id), &crate::now_utc())?;
    h.push_str("<h2>Застрявшие купюры (не решены)</h2>");
    h.push_str(&crate::web::finance::stuck_notes_table(
        sql,
        "stuck-notes",
        &open,
    )?);
    outages(sql, id, tz, &mut h)?;
    fiscal(sql, id, &mut h)?;
    history(sql, id, tz, &mut h)?;
    messages(sql, id, tz, now, &mut h)?;
    h.push_str("<h2>Оповещения</h2>");
    let log = crate::alerts::dispatch::log(sql, Some(id), 50)?;
    h.push_str(&crate::web::admin::alert_log_table("alerts", &log));
    Ok(Some(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_the_kiosks_words_read_as_russian() {
        assert_eq!(money_ru(1_510_000), "15\u{a0}100,00\u{a0}₽");
        assert_eq!(money_ru(123_456_789), "1\u{a0}234\u{a0}567,89\u{a0}₽");
        assert_eq!(money_ru(5), "0,05\u{a0}₽");
        assert_eq!(money_ru(-100_050), "-1\u{a0}000,50\u{a0}₽");
        assert_eq!(
            detail_ru("needs_attendant: validator jammed"),
            "нужен техник: замятие купюры"
        );
        assert_eq!(
            detail_ru("communication: no answer on the line"),
            "нет связи: нет ответа"
        );
        // What is not known is shown as the kiosk wrote it, not lost.
        assert_eq!(detail_ru("hardware: motor 2"), "неисправность: motor 2");
        assert_eq!(
            detail_ru("bill jammed at the stacker"),
            "bill jammed at the stacker"
        );
        assert_eq!(state_ru("up"), "исправен");
        assert_eq!(paper_ru("near_end"), "заканчивается");
        assert_eq!(operation_ru("login_refused"), "вход отклонён");
        assert_eq!(operation_ru("something_new"), "something_new");
    }
}
