//! Finance's СБП page: the day's QR payments with their state, a refund form per paid one
//! (mandatory reason, CSRF-checked by the guard, audited, sent to the bank's `Cancel` with the
//! amount), and the upload of the bank's registry with the reconciliation it gives; plus the
//! same registry import and the day's list as JSON for scripts.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::Deserialize;

use super::registry::{self, RegistryError, RegistryMatch};
use super::service::SbpError;
use super::store::{self, QrRow};
use crate::access::Identity;
use crate::audit::{self, Act};
use crate::fleet::money_ru;
use crate::http::{ApiError, AppState};
use crate::web::{csrf_input, esc, message_page, page};

fn day_param(q: &HashMap<String, String>) -> Result<String, String> {
    match q.get("day") {
        None => Ok(crate::project::business_day(&crate::now_utc())),
        Some(d) if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => Ok(d.clone()),
        Some(d) => Err(format!("day={d:?} is not YYYY-MM-DD")),
    }
}

fn rows_table(rows: &[QrRow], who: &Identity) -> String {
    let mut b = String::from("<table id=\"sbp-payments\"><tr><th>Платёж</th><th>Терминал</th><th>Лицевой счёт</th><th>Сумма</th><th>Состояние</th><th>Статус банка</th><th>ID в банке</th><th>Отзыв</th><th>Создан (UTC)</th><th>Оплачен (UTC)</th><th>Возвращено</th><th>Возврат</th></tr>");
    if rows.is_empty() {
        b.push_str("<tr><td colspan=\"12\">нет</td></tr>");
    }
    for r in rows {
        let refund = if r.state.is_paid() && r.refunded_kopecks < r.amount_kopecks {
            let left = r.amount_kopecks - r.refunded_kopecks;
            format!(
                "<form method=\"post\" action=\"/finance/sbp/refund\" class=\"refund-form\">{}\
<input type=\"hidden\" name=\"payment_id\" value=\"{}\">\
<label>Сумма, ₽ <input name=\"amount\" value=\"{}.{:02}\" required></label>\
<label>Причина <input name=\"reason\" required></label>\
<button type=\"submit\">Вернуть</button></form>",
                csrf_input(who),
                esc(&r.payment_id),
                left / 100,
                left % 100
            )
        } else {
            String::new()
        };
        let refunded = if r.refunded_kopecks > 0 {
            format!(
                "{} ({}; {})",
                money_ru(r.refunded_kopecks),
                esc(r.refund_reason.as_deref().unwrap_or("")),
                esc(r.refunded_by.as_deref().unwrap_or(""))
            )
        } else {
            String::new()
        };
        b.push_str(&format!(
            "<tr id=\"sbp-{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.payment_id),
            esc(&r.payment_id),
            esc(&r.terminal_id),
            esc(&r.account),
            money_ru(r.amount_kopecks),
            r.state.as_str(),
            esc(&r.bank_status),
            esc(&r.bank_payment_id),
            if r.revoke_requested { "запрошен" } else { "" },
            esc(&r.created_utc),
            esc(r.paid_utc.as_deref().unwrap_or("")),
            refunded,
            refund
        ));
    }
    b.push_str("</table>");
    b
}

fn matches_table(m: &[RegistryMatch]) -> String {
    let mut b = String::from("<table id=\"sbp-reconciliation\"><tr><th>Итог</th><th>Заказ (платёж)</th><th>ID в банке</th><th>Терминал</th><th>День</th><th>Банк</th><th>Возвращено</th><th>Журнал</th></tr>");
    for x in m {
        b.push_str(&format!(
            "<tr class=\"{}\" data-problem=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            if x.is_ok() { "ok" } else { "bad" },
            esc(&x.problem),
            registry::problem_ru(&x.problem),
            esc(&x.order_id),
            esc(x.bank_payment_id.as_deref().unwrap_or("")),
            esc(x.terminal_id.as_deref().unwrap_or("")),
            esc(&x.day),
            money_ru(x.bank_kopecks),
            money_ru(x.refunded_kopecks),
            x.journal_kopecks.map(money_ru).unwrap_or_default()
        ));
    }
    b.push_str("</table>");
    b
}

/// `GET /finance/sbp?day=YYYY-MM-DD`.
pub(crate) async fn page_handler(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let day = match day_param(&q) {
        Ok(d) => d,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Html(message_page(Some(&who), "Неверная дата", &e)),
            )
                .into_response()
        }
    };
    let d = day.clone();
    let rows = match state.store.read(move |sql| store::of_day(sql, &d)).await {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let configured = match &state.sbp {
        Some(s) if s.available() => "банк отвечает",
        Some(_) => "банк сейчас не отвечает",
        None => "банк не настроен (--sbp-config)",
    };
    let mut b = format!(
        "<p id=\"sbp-bank\">Банк СБП: {configured}.</p><form method=\"get\" action=\"/finance/sbp\"><label>День <input type=\"date\" name=\"day\" value=\"{}\"></label><button type=\"submit\">Показать</button></form>",
        esc(&day)
    );
    b.push_str(&rows_table(&rows, &who));
    b.push_str(&format!(
        "<h2>Реестр банка</h2><form method=\"post\" action=\"/finance/sbp/registry\" enctype=\"multipart/form-data\" id=\"sbp-registry-form\">{}\
<label for=\"sbp-registry-file\">Реестр операций СБП (CSV)</label><input type=\"file\" id=\"sbp-registry-file\" name=\"file\" accept=\".csv,text/csv\" required>\
<button type=\"submit\" id=\"upload-sbp-registry\">Загрузить и сверить</button></form>",
        csrf_input(&who)
    ));
    Html(page("Платежи СБП", Some(&who), &b)).into_response()
}

#[derive(Deserialize)]
pub(crate) struct RefundForm {
    #[serde(default)]
    payment_id: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

fn refused(who: &Identity, status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(message_page(Some(who), "Возврат не выполнен", message)),
    )
        .into_response()
}

/// `POST /finance/sbp/refund`.
pub(crate) async fn refund(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Form(f): Form<RefundForm>,
) -> Response {
    let Some(sbp) = state.sbp.clone() else {
        return refused(
            &who,
            StatusCode::SERVICE_UNAVAILABLE,
            "Банк СБП не настроен.",
        );
    };
    let Some(amount) = crate::settlement::parse_rubles(f.amount.trim()) else {
        return refused(
            &who,
            StatusCode::BAD_REQUEST,
            "Сумма возврата — рубли с копейками, например 150.00.",
        );
    };
    if f.reason.trim().is_empty() {
        return refused(&who, StatusCode::BAD_REQUEST, "Укажите причину возврата.");
    }
    let r = sbp
        .refund(&f.payment_id, amount, &f.reason, &who.user)
        .await;
    let (action, detail, outcome) = match &r {
        Ok(row) => (
            "sbp_refund",
            format!(
                "{amount} kopecks of {}; reason: {}",
                row.payment_id,
                f.reason.trim()
            ),
            Ok(row.clone()),
        ),
        Err(e) => (
            "sbp_refund_failed",
            format!("{amount} kopecks of {}: {e}", f.payment_id),
            Err(e.to_string()),
        ),
    };
    let (w, target) = (who.clone(), f.payment_id.clone());
    let audited = state
        .store
        .run("audit", move |sql| {
            audit::record(
                sql,
                &Act {
                    actor: &w.user,
                    action,
                    target: &target,
                    source: &w.source,
                    detail: &detail,
                },
                &crate::now_utc(),
            )
        })
        .await;
    if let Err(e) = audited {
        return ApiError::from(e).into_response();
    }
    match (outcome, r) {
        (Ok(row), _) => Html(message_page(
            Some(&who),
            "Возврат выполнен",
            &format!(
                "Платёж {}: возвращено {} (всего {}), состояние {}.",
                row.payment_id,
                money_ru(amount),
                money_ru(row.refunded_kopecks),
                row.state.as_str()
            ),
        ))
        .into_response(),
        (Err(_), Err(SbpError::NotFound)) => {
            refused(&who, StatusCode::NOT_FOUND, "Нет такого платежа СБП.")
        }
        (Err(m), Err(SbpError::Invalid(_))) => refused(&who, StatusCode::BAD_REQUEST, &m),
        (Err(m), _) => refused(
            &who,
            StatusCode::BAD_GATEWAY,
            &format!("Банк не выполнил возврат: {m}"),
        ),
    }
}

async fn import_registry(
    state: &AppState,
    who: &Identity,
    data: &[u8],
) -> Result<(u64, Vec<RegistryMatch>), RegistryError> {
    let lines = registry::parse(data)?;
    let (from, to) = registry::days_of(&lines).ok_or(RegistryError::Empty)?;
    let n = lines.len();
    let w = who.clone();
    let r = state
        .store
        .run("sbp", move |sql| -> Result<_, StoreError2> {
            let now = crate::now_utc();
            let new = registry::import(sql, &lines, &now)?;
            audit::record(
                sql,
                &Act {
                    actor: &w.user,
                    action: "sbp_registry_imported",
                    target: "sbp_registry",
                    source: &w.source,
                    detail: &format!("{n} lines, {new} new, {from}..{to}"),
                },
                &now,
            )?;
            Ok((new, registry::reconcile(sql, &from, &to)?))
        })
        .await?;
    Ok(r)
}

type StoreError2 = crate::StoreError;

/// `POST /finance/sbp/registry` (multipart `file`).
pub(crate) async fn registry_upload(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    mut mp: Multipart,
) -> Response {
    let mut data = None;
    while let Ok(Some(field)) = mp.next_field().await {
        if field.name() == Some("file") {
            data = field.bytes().await.ok();
            break;
        }
    }
    let Some(data) = data else {
        return (
            StatusCode::BAD_REQUEST,
            Html(message_page(
                Some(&who),
                "Реестр не принят",
                "В форме нет файла.",
            )),
        )
            .into_response();
    };
    match import_registry(&state, &who, &data).await {
        Ok((new, m)) => {
            let bad = m.iter().filter(|x| !x.is_ok()).count();
            let body = format!(
                "<p id=\"message\">Новых строк: {new}. Платежей: {}, расхождений: {bad}.</p>{}",
                m.len(),
                matches_table(&m)
            );
            Html(page("Сверка с реестром СБП", Some(&who), &body)).into_response()
        }
        Err(RegistryError::Store(e)) => ApiError::from(e).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Html(message_page(
                Some(&who),
                "Реестр не принят",
                &format!("Ничего не загружено. {e}"),
            )),
        )
            .into_response(),
    }
}

/// `POST /api/v1/sbp/registry` (the CSV as the body): `{"imported", "payments": [...]}`.
pub(crate) async fn registry_api(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    match import_registry(&state, &who, &body).await {
        Ok((new, m)) => Ok(Json(serde_json::json!({"imported": new, "payments": m}))),
        Err(RegistryError::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            backend_sync::wire::ErrorCode::BadRequest,
            e.to_string(),
        )),
    }
}

/// `GET /api/v1/sbp/payments?day=YYYY-MM-DD`.
pub(crate) async fn payments_api(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let day = day_param(&q).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            backend_sync::wire::ErrorCode::BadRequest,
            e,
        )
    })?;
    let rows = state
        .store
        .read(move |sql| store::of_day(sql, &day))
        .await?;
    Ok(Json(
        rows.iter()
            .map(|r| {
                serde_json::json!({
                    "payment_id": r.payment_id, "terminal_id": r.terminal_id, "account": r.account,
                    "amount_kopecks": r.amount_kopecks, "state": r.state, "bank_status": r.bank_status,
                    "bank_payment_id": r.bank_payment_id, "revoke_requested": r.revoke_requested,
                    "created_utc": r.created_utc, "paid_utc": r.paid_utc,
                    "refunded_kopecks": r.refunded_kopecks, "refund_reason": r.refund_reason,
                    "refunded_by": r.refunded_by,
                })
            })
            .collect(),
    ))
}
