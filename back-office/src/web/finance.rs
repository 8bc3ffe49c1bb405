//! The finance page: download links for the reconciliation report (XLSX, CSV per section) and
//! the billing exports, and upload forms for the acquirer's settlement file and billing's
//! credited-marks file. The uploads are audited; the files' formats are those of
//! [`crate::settlement`] and [`crate::export::mark_credited`].

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;

use super::{csrf_input, esc, message_page, page};
use crate::access::Identity;
use crate::audit::{self, Act};
use crate::http::AppState;
use crate::{export, report_out, settlement};

fn period_inputs(from: &str, to: &str) -> String {
    format!(
        "<label>с <input type=\"date\" name=\"from\" value=\"{}\" required></label>\
<label>по <input type=\"date\" name=\"to\" value=\"{}\" required></label>",
        esc(from),
        esc(to)
    )
}

/// A table of stuck notes (open or resolved) with times in UTC converted per terminal.
pub fn stuck_notes_table(
    sql: &mut dyn crate::db::Sql,
    id: &str,
    notes: &[crate::stuck_notes::StuckNote],
) -> Result<String, crate::StoreError> {
    let mut b = format!(
        "<table id=\"{id}\"><tr><th>Терминал</th><th>Номер</th><th>Время</th><th>Сумма</th><th>Лицевой счёт</th><th>Причина</th><th>Возраст, мин</th><th>Решение</th></tr>"
    );
    if notes.is_empty() {
        b.push_str("<tr><td colspan=\"8\">нет</td></tr>");
    }
    for n in notes {
        let tz = crate::terminals::time_zone(sql, &n.terminal_id)?;
        let resolution = match (&n.outcome, &n.resolved_utc) {
            (Some(o), Some(t)) => format!(
                "{} ({}{})",
                crate::stuck_notes::outcome_ru(o),
                crate::project::local_time(t, tz),
                n.resolution_payment_id
                    .as_deref()
                    .map(|p| format!(", платёж {p}"))
                    .unwrap_or_default()
            ),
            _ => "не решено".into(),
        };
        b.push_str(&format!(
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            if n.outcome.is_none() { "bad" } else { "" },
            esc(&n.terminal_id),
            esc(&n.reference),
            esc(&crate::project::local_time(&n.stuck_utc, tz)),
            crate::fleet::money_ru(n.denomination_kopecks),
            esc(&n.account),
            esc(&crate::terminal_page::detail_ru(&n.reason)),
            n.age_minutes,
            esc(&resolution)
        ));
    }
    b.push_str("</table>");
    Ok(b)
}

/// The stuck-note part of the finance page: every open note, then the latest resolved ones.
async fn stuck_notes_part(state: &AppState) -> Result<String, crate::StoreError> {
    state
        .store
        .read(|sql| {
            let now = crate::now_utc();
            let open = crate::stuck_notes::open(sql, None, &now)?;
            let resolved = crate::stuck_notes::recently_resolved(sql, 50, &now)?;
            let mut b = String::from("<h2>Застрявшие купюры</h2><p>Не решены (не зачислены, пока техник не найдёт купюру):</p>");
            b.push_str(&stuck_notes_table(sql, "stuck-open", &open)?);
            b.push_str("<p>Решены недавно:</p>");
            b.push_str(&stuck_notes_table(sql, "stuck-resolved", &resolved)?);
            Ok(b)
        })
        .await
}

/// The fiscal shifts of `from..=to` whose Z-report disagrees with the journal.
async fn shift_part(
    state: &AppState,
    from: String,
    to: String,
) -> Result<String, crate::StoreError> {
    let checks = state
        .store
        .read(move |sql| crate::reconcile::shift_checks(sql, &from, &to))
        .await?;
    let bad: Vec<_> = checks.iter().filter(|c| !c.matches).collect();
    let mut b = format!(
        "<h2>Смены ККТ: Z-отчёт и журнал</h2><p>Закрыто смен за период: {}, расхождений: {}.</p>",
        checks.len(),
        bad.len()
    );
    if bad.is_empty() {
        return Ok(b);
    }
    b.push_str("<table id=\"shift-mismatches\"><tr><th>Терминал</th><th>ФН</th><th>Смена</th><th>День</th>\
<th>Чеков (Z / журнал)</th><th>Итого (Z / журнал)</th><th>Наличные (Z / журнал)</th><th>Карты (Z / журнал)</th></tr>");
    for c in bad {
        b.push_str(&format!(
            "<tr class=\"bad\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{} / {}</td>\
<td class=\"num\">{} / {}</td><td class=\"num\">{} / {}</td><td class=\"num\">{} / {}</td></tr>",
            esc(&c.terminal_id),
            esc(&c.fn_number),
            c.shift_number,
            esc(&c.day),
            c.z_receipts,
            c.journal_receipts,
            crate::fleet::money_ru(c.z_total_kopecks),
            crate::fleet::money_ru(c.journal_total_kopecks),
            crate::fleet::money_ru(c.z_cash_kopecks),
            crate::fleet::money_ru(c.journal_cash_kopecks),
            crate::fleet::money_ru(c.z_card_kopecks),
            crate::fleet::money_ru(c.journal_card_kopecks),
        ));
    }
    b.push_str("</table>");
    Ok(b)
}

/// `GET /finance`.
pub async fn finance_page(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let stuck = match stuck_notes_part(&state).await {
        Ok(s) => s,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let now = chrono::Utc::now();
    let to = crate::project::business_day(&crate::now_utc());
    let from = crate::project::business_day(
        &(now - chrono::Days::new(30)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    let mut b = String::new();
    b.push_str("<h2>Сверка</h2><form method=\"get\" action=\"/api/v1/reports/reconciliation.xlsx\" id=\"report-xlsx\">");
    b.push_str(&period_inputs(&from, &to));
    b.push_str("<button type=\"submit\" id=\"download-xlsx\">Скачать XLSX</button></form>");
    b.push_str("<form method=\"get\" id=\"report-csv\" action=\"/api/v1/reports/reconciliation/days.csv\">");
    b.push_str(&period_inputs(&from, &to));
    b.push_str("<label>Формат CSV <select name=\"dialect\" id=\"dialect\"><option value=\"excel-ru\">Excel (русский: «;», запятая в числах)</option><option value=\"standard\">стандартный (RFC 4180)</option></select></label>");
    b.push_str("<button type=\"submit\" id=\"download-csv\">Скачать CSV по дням</button></form><p>Разделы CSV за последние 30 дней: ");
    for s in report_out::SECTIONS {
        b.push_str(&format!(
            "<a href=\"/api/v1/reports/reconciliation/{s}.csv?from={}&amp;to={}&amp;dialect=excel-ru\">{s}</a> ",
            esc(&from),
            esc(&to)
        ));
    }
    b.push_str("</p><p><a id=\"sbp-link\" href=\"/finance/sbp\">Платежи СБП: состояние, возвраты, сверка с реестром банка</a></p><h2>Выгрузка в биллинг</h2><p>");
    for (name, label) in [("payments", "Платежи"), ("readings", "Показания")] {
        b.push_str(&format!(
            "<a id=\"export-{name}\" href=\"/api/v1/export/{name}.csv?from={}&amp;to={}\">{label} (CSV)</a> ",
            esc(&from),
            esc(&to)
        ));
    }
    b.push_str("</p><h2>Загрузка файлов</h2>");
    b.push_str(&format!(
        "<form method=\"post\" action=\"/finance/settlement\" enctype=\"multipart/form-data\" id=\"settlement-form\">{}\
<label for=\"settlement-file\">Файл расчётов эквайера (CSV)</label><input type=\"file\" id=\"settlement-file\" name=\"file\" accept=\".csv,text/csv\" required>\
<button type=\"submit\" id=\"upload-settlement\">Загрузить расчёты</button></form>",
        csrf_input(&who)
    ));
    b.push_str(&format!(
        "<form method=\"post\" action=\"/finance/credited\" enctype=\"multipart/form-data\" id=\"credited-form\">{}\
<label for=\"credited-file\">Отметки биллинга о зачислении (CSV kind,terminal_id,id)</label><input type=\"file\" id=\"credited-file\" name=\"file\" accept=\".csv,text/csv\" required>\
<button type=\"submit\" id=\"upload-credited\">Загрузить отметки</button></form>",
        csrf_input(&who)
    ));
    match shift_part(&state, from, to).await {
        Ok(shifts) => b.push_str(&shifts),
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    }
    b.push_str(&stuck);
    Html(page("Финансы", Some(&who), &b)).into_response()
}

/// The `file` part of an upload form.
async fn uploaded_file(mut mp: Multipart) -> Result<Vec<u8>, String> {
    loop {
        match mp.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => {
                return field
                    .bytes()
                    .await
                    .map(|b| b.to_vec())
                    .map_err(|e| format!("файл не получен целиком: {e}"));
            }
            Ok(Some(_)) => continue,
            Ok(None) => return Err("в форме нет файла".into()),
            Err(e) => return Err(format!("форма не читается: {e}")),
        }
    }
}

fn refused(who: &Identity, message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(message_page(Some(who), "Файл не принят", &message)),
    )
        .into_response()
}

/// `POST /finance/settlement`.
pub async fn settlement_upload(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    mp: Multipart,
) -> Response {
    let data = match uploaded_file(mp).await {
        Ok(d) => d,
        Err(e) => return refused(&who, e),
    };
    let lines = match settlement::parse(&data) {
        Ok(l) => l,
        Err(e) => return refused(&who, format!("Ничего не загружено. {e}")),
    };
    let total = lines.len();
    let w = who.clone();
    let r = state
        .store
        .run("settlement", move |sql| -> Result<u64, crate::StoreError> {
            let now = crate::now_utc();
            let new = settlement::import(sql, &lines, &now)?;
            let detail = format!("{total} lines, {new} new");
            audit::record(
                sql,
                &Act {
                    actor: &w.user,
                    action: "settlement_imported",
                    target: "settlement",
                    source: &w.source,
                    detail: &detail,
                },
                &now,
            )?;
            Ok(new)
        })
        .await;
    match r {
        Ok(new) => Html(message_page(
            Some(&who),
            "Расчёты загружены",
            &format!("Строк в файле: {total}, новых: {new}. Сверка пересчитана."),
        ))
        .into_response(),
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}

/// `POST /finance/credited`.
pub async fn credited_upload(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    mp: Multipart,
) -> Response {
    let data = match uploaded_file(mp).await {
        Ok(d) => d,
        Err(e) => return refused(&who, e),
    };
    let w = who.clone();
    let r = state
        .store
        .run(
            "credited",
            move |sql| -> Result<(u64, u64), export::ExportError> {
                let now = crate::now_utc();
                let (p, r) = export::mark_credited(sql, &data, &now)?;
                let detail = format!("{p} payments, {r} readings");
                audit::record(
                    sql,
                    &Act {
                        actor: &w.user,
                        action: "credited_imported",
                        target: "credited",
                        source: &w.source,
                        detail: &detail,
                    },
                    &now,
                )?;
                Ok((p, r))
            },
        )
        .await;
    match r {
        Ok((p, r)) => Html(message_page(
            Some(&who),
            "Отметки загружены",
            &format!("Отмечено зачисленными: платежей {p}, показаний {r}."),
        ))
        .into_response(),
        Err(export::ExportError::Store(e)) => crate::http::ApiError::from(e).into_response(),
        Err(e) => refused(&who, format!("Ничего не отмечено. {e}")),
    }
}
