//! The admin pages: users (add, change role, disable, issue, list and revoke API tokens), terminals (register,
//! rotate the key, register a card terminal to a kiosk) and the audit log. A new password, key or
//! token is shown once on the page that created it and never again. Every change is audited.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use super::{csrf_input, esc, message_page, page};
use crate::access::Identity;
use crate::audit::{self, Act};
use crate::http::AppState;
use crate::users::{self, Role, UserError};
use crate::{card_terminals, terminals};

fn role_select(id: &str, current: Option<Role>) -> String {
    let mut h = format!("<select name=\"role\" id=\"{id}\">");
    for r in Role::ALL {
        let sel = if Some(r) == current { " selected" } else { "" };
        h.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            r.as_str(),
            r.label_ru()
        ));
    }
    h.push_str("</select>");
    h
}

fn secret_page(who: &Identity, title: &str, what: &str, secret: &str) -> Response {
    Html(page(
        title,
        Some(who),
        &format!(
            "<p>{}</p><p class=\"secret\" id=\"secret\">{}</p><p>Он показан один раз: сохраните его сейчас.</p>",
            esc(what),
            esc(secret)
        ),
    ))
    .into_response()
}

fn refused(who: &Identity, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(message_page(Some(who), "Не выполнено", message)),
    )
        .into_response()
}

fn user_error_ru(e: &UserError) -> String {
    match e {
        UserError::BadName(_) => "Имя: от 1 до 32 символов a–z, 0–9, «.», «-», «_».".into(),
        UserError::Exists(n) => format!("Пользователь {n} уже есть."),
        UserError::NoSuchUser(n) => format!("Пользователя {n} нет."),
        UserError::Disabled(n) => format!("Пользователь {n} отключён."),
        UserError::BadRole(_) => "Роль: техник, финансы или администратор.".into(),
        UserError::WeakPassword => format!(
            "Пароль слишком короткий: нужно не меньше {} символов.",
            users::MIN_PASSWORD_CHARS
        ),
        UserError::NoSuchToken(id) => format!("API-токена {id} нет (уже отозван?)."),
        UserError::Hash(_) | UserError::Store(_) => "Внутренняя ошибка, см. журнал сервера.".into(),
    }
}

/// `GET /admin/users`.
pub async fn users_page(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let data = state
        .store
        .read(|sql| -> Result<_, crate::StoreError> {
            Ok((users::list(sql)?, users::list_tokens(sql)?))
        })
        .await;
    let (list, tokens) = match data {
        Ok(x) => x,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let mut b = String::from("<table id=\"users\"><tr><th>Имя</th><th>Роль</th><th>Состояние</th><th>Создан</th><th>Действия</th></tr>");
    for u in &list {
        let n = esc(&u.name);
        b.push_str(&format!(
            "<tr><td>{n}</td><td>{}</td><td>{}</td><td>{}</td><td>",
            u.role.label_ru(),
            if u.enabled {
                "активен"
            } else {
                "отключён"
            },
            esc(&u.created_utc)
        ));
        if u.enabled {
            b.push_str(&format!(
                "<form method=\"post\" action=\"/admin/users/{n}/role\">{}{}<button type=\"submit\" id=\"set-role-{n}\">Сменить роль</button></form>\
<form method=\"post\" action=\"/admin/users/{n}/token\">{}<input name=\"label\" placeholder=\"для чего\" id=\"token-label-{n}\"><button type=\"submit\" id=\"add-token-{n}\">Выдать API-токен</button></form>\
<form method=\"post\" action=\"/admin/users/{n}/disable\">{}<button type=\"submit\" id=\"disable-{n}\">Отключить</button></form>",
                csrf_input(&who),
                role_select(&format!("role-{n}"), Some(u.role)),
                csrf_input(&who),
                csrf_input(&who)
            ));
        }
        b.push_str("</td></tr>");
    }
    b.push_str("</table>");
    b.push_str(&tokens_table(&who, &tokens));
    b.push_str(&format!(
        "<h2>Новый пользователь</h2><form method=\"post\" action=\"/admin/users\" id=\"add-user\">{}\
<label for=\"new-username\">Имя</label><input id=\"new-username\" name=\"username\" required>\
<label for=\"new-role\">Роль</label>{}\
<label for=\"new-password\">Пароль (пусто — сгенерировать)</label><input id=\"new-password\" name=\"password\" type=\"password\" autocomplete=\"new-password\">\
<p><button type=\"submit\" id=\"add-user-submit\">Добавить</button></p></form>",
        csrf_input(&who),
        role_select("new-role", Some(Role::Technician))
    ));
    Html(page("Пользователи", Some(&who), &b)).into_response()
}

#[derive(Deserialize)]
pub struct NewUser {
    username: String,
    role: String,
    #[serde(default)]
    password: String,
}

/// `POST /admin/users`.
pub async fn user_add(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Form(f): Form<NewUser>,
) -> Response {
    let Some(role) = Role::parse(&f.role) else {
        return refused(&who, &user_error_ru(&UserError::BadRole(f.role)));
    };
    let name = f.username.trim().to_string();
    let generated = f.password.is_empty().then(users::generate_password);
    let password = generated.clone().unwrap_or(f.password);
    let hash = match tokio::task::spawn_blocking(move || users::hash_password(&password)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return refused(&who, &user_error_ru(&e)),
        Err(_) => return refused(&who, "Внутренняя ошибка, см. журнал сервера."),
    };
    let (w, n) = (who.clone(), name.clone());
    let r = state
        .store
        .run("users", move |sql| -> Result<(), UserError> {
            let now = crate::now_utc();
            users::add(sql, &n, role, &hash, &now)?;
            audit::record(
                sql,
                &Act {
                    actor: &w.user,
                    action: "user_added",
                    target: &n,
                    source: &w.source,
                    detail: role.as_str(),
                },
                &now,
            )?;
            Ok(())
        })
        .await;
    match (r, generated) {
        (Err(e), _) => refused(&who, &user_error_ru(&e)),
        (Ok(()), Some(pw)) => secret_page(
            &who,
            "Пользователь добавлен",
            &format!("Пароль пользователя {name} ({}):", role.label_ru()),
            &pw,
        ),
        (Ok(()), None) => Html(message_page(
            Some(&who),
            "Пользователь добавлен",
            &format!("Пользователь {name} ({}) добавлен.", role.label_ru()),
        ))
        .into_response(),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /admin/users/{name}/role`.
pub async fn user_set_role(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    Form(f): Form<RoleForm>,
) -> Response {
    let Some(role) = Role::parse(&f.role) else {
        return refused(&who, &user_error_ru(&UserError::BadRole(f.role)));
    };
    let (w, n) = (who.clone(), name.clone());
    let r = state
        .store
        .run("users", move |sql| {
            set_role_audited(sql, &w.user, &w.source, &n, role)
        })
        .await;
    match r {
        Ok(old) => Html(message_page(
            Some(&who),
            "Роль изменена",
            &format!("{name}: {} → {}.", old.label_ru(), role.label_ru()),
        ))
        .into_response(),
        Err(e) => refused(&who, &user_error_ru(&e)),
    }
}

/// Changes a role and audits it (the page and the command line share it).
pub fn set_role_audited(
    sql: &mut dyn crate::db::Sql,
    actor: &str,
    source: &str,
    name: &str,
    role: Role,
) -> Result<Role, UserError> {
    crate::db::transaction(sql, |sql| {
        let old = users::set_role(sql, name, role)?;
        let detail = format!("{} -> {}", old.as_str(), role.as_str());
        audit::record(
            sql,
            &Act {
                actor,
                action: "role_changed",
                target: name,
                source,
                detail: &detail,
            },
            &crate::now_utc(),
        )?;
        Ok(old)
    })
}

/// `POST /admin/users/{name}/disable`.
pub async fn user_disable(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
) -> Response {
    let (w, n) = (who.clone(), name.clone());
    let r = state
        .store
        .run("users", move |sql| -> Result<(), UserError> {
            users::disable(sql, &n)?;
            audit::record(
                sql,
                &Act {
                    actor: &w.user,
                    action: "user_disabled",
                    target: &n,
                    source: &w.source,
                    detail: "",
                },
                &crate::now_utc(),
            )?;
            Ok(())
        })
        .await;
    match r {
        Ok(()) => Html(message_page(
            Some(&who),
            "Пользователь отключён",
            &format!("{name} больше не может войти; его сеансы и токены закрыты."),
        ))
        .into_response(),
        Err(e) => refused(&who, &user_error_ru(&e)),
    }
}

/// The API tokens that work, each with a revoke button. Ids only: a token is never shown again.
fn tokens_table(who: &Identity, tokens: &[users::TokenInfo]) -> String {
    let mut b = String::from("<h2>API-токены</h2><table id=\"tokens\"><tr><th>Номер</th><th>Пользователь</th><th>Для чего</th><th>Выдан (UTC)</th><th>Последнее использование (UTC)</th><th></th></tr>");
    if tokens.is_empty() {
        b.push_str("<tr><td colspan=\"6\">нет</td></tr>");
    }
    for t in tokens {
        let id = esc(&t.id);
        b.push_str(&format!(
            "<tr><td><code>{id}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
<form method=\"post\" action=\"/admin/tokens/{id}/revoke\">{}<button type=\"submit\" id=\"revoke-token-{id}\">Отозвать</button></form></td></tr>",
            esc(&t.user),
            esc(&t.label),
            esc(&t.created_utc),
            esc(t.last_used_utc.as_deref().unwrap_or("не использовался")),
            csrf_input(who)
        ));
    }
    b.push_str("</table>");
    b
}

/// Revokes API token `id` and records who did it (the CLI and the users page).
pub fn revoke_token_audited(
    sql: &mut dyn crate::db::Sql,
    actor: &str,
    source: &str,
    id: &str,
) -> Result<users::TokenInfo, UserError> {
    crate::db::transaction(sql, |sql| {
        let t = users::revoke_token(sql, id)?;
        audit::record(
            sql,
            &Act {
                actor,
                action: "token_revoked",
                target: &t.user,
                source,
                detail: &format!("{} {}", t.id, t.label),
            },
            &crate::now_utc(),
        )?;
        Ok(t)
    })
}

/// Issues an API token for `user` and records who did it; returns the token (shown once).
pub fn add_token_audited(
    sql: &mut dyn crate::db::Sql,
    actor: &str,
    source: &str,
    user: &str,
    label: &str,
) -> Result<String, UserError> {
    crate::db::transaction(sql, |sql| {
        let now = crate::now_utc();
        let token = users::add_token(sql, user, label, &now)?;
        audit::record(
            sql,
            &Act {
                actor,
                action: "token_added",
                target: user,
                source,
                detail: &format!("{} {label}", users::token_id(&token)),
            },
            &now,
        )?;
        Ok(token)
    })
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn token_revoke(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let (w, i) = (who.clone(), id.clone());
    let r = state
        .store
        .run("users", move |sql| {
            revoke_token_audited(sql, &w.user, &w.source, &i)
        })
        .await;
    match r {
        Ok(t) => Html(message_page(
            Some(&who),
            "API-токен отозван",
            &format!(
                "Токен {} пользователя {} больше не действует.",
                t.id, t.user
            ),
        ))
        .into_response(),
        Err(e) => refused(&who, &user_error_ru(&e)),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    label: String,
}

/// `POST /admin/users/{name}/token`.
pub async fn token_add(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(name): Path<String>,
    Form(f): Form<TokenForm>,
) -> Response {
    let (w, n) = (who.clone(), name.clone());
    let r = state
        .store
        .run("users", move |sql| {
            add_token_audited(sql, &w.user, &w.source, &n, &f.label)
        })
        .await;
    match r {
        Ok(token) => secret_page(
            &who,
            "API-токен выдан",
            &format!(
                "Токен пользователя {name} номер {} (заголовок Authorization: Bearer …):",
                users::token_id(&token)
            ),
            &token,
        ),
        Err(e) => refused(&who, &user_error_ru(&e)),
    }
}

/// `GET /admin/terminals`.
pub async fn terminals_page(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let data = state
        .store
        .read(|sql| -> Result<_, crate::StoreError> {
            Ok((terminals::list(sql)?, card_terminals::list(sql)?))
        })
        .await;
    let (list, cards) = match data {
        Ok(x) => x,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let mut b = String::from("<table id=\"terminals\"><tr><th>Терминал</th><th>Записей журнала</th><th>Последняя синхронизация</th><th>Часовой пояс</th><th>Ключ</th></tr>");
    for t in &list {
        let id = esc(&t.id);
        b.push_str(&format!(
            "<tr><td><a href=\"/terminals/{id}\">{id}</a></td><td class=\"num\">{}</td><td>{}</td>\
<td><form method=\"post\" action=\"/admin/terminals/{id}/time-zone\">{}<input name=\"time_zone\" id=\"time-zone-{id}\" value=\"{}\"><button type=\"submit\" id=\"set-time-zone-{id}\">Сменить</button></form></td>\
<td>{}<form method=\"post\" action=\"/admin/terminals/{id}/rotate\">{}<button type=\"submit\" id=\"rotate-{id}\">Выдать новый ключ</button></form></td></tr>",
            t.held_seq,
            esc(&t.last_sync_utc.as_deref().map_or_else(|| "никогда".to_string(), |s| crate::project::local_time(s, t.time_zone))),
            csrf_input(&who),
            esc(t.time_zone.name()),
            enrol_form(&who, &t.id),
            csrf_input(&who)
        ));
    }
    b.push_str(&format!(
        "</table><form method=\"post\" action=\"/admin/terminals\" id=\"add-terminal\">{}<label for=\"terminal-id\">Новый терминал</label>\
<input id=\"terminal-id\" name=\"id\" required><button type=\"submit\" id=\"add-terminal-submit\">Зарегистрировать</button></form>",
        csrf_input(&who)
    ));
    b.push_str("<h2>Платёжные терминалы (ZVT, поле 29)</h2><table id=\"card-terminals\"><tr><th>Платёжный терминал</th><th>Киоск</th><th>С</th><th>Как</th></tr>");
    for c in &cards {
        b.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.card_terminal_id),
            esc(&c.terminal_id),
            esc(&c.registered_utc),
            if c.how == "admin" {
                "администратором"
            } else {
                "первое появление"
            }
        ));
    }
    b.push_str(&format!(
        "</table><form method=\"post\" action=\"/admin/card-terminals\" id=\"register-card-terminal\">{}\
<label for=\"card-terminal-id\">Платёжный терминал</label><input id=\"card-terminal-id\" name=\"card_terminal_id\" required>\
<label for=\"card-kiosk\">Киоск</label><input id=\"card-kiosk\" name=\"terminal_id\" required>\
<button type=\"submit\" id=\"register-card-terminal-submit\">Закрепить</button></form>",
        csrf_input(&who)
    ));
    Html(page("Терминалы и ключи", Some(&who), &b)).into_response()
}

#[derive(Deserialize)]
pub struct TerminalForm {
    id: String,
}

async fn issue_key(state: &AppState, who: &Identity, id: String, rotate: bool) -> Response {
    let (w, i) = (who.clone(), id.clone());
    let r = state
        .store
        .run(
            "admin",
            move |sql| -> Result<String, terminals::TerminalError> {
                let now = crate::now_utc();
                let key = terminals::add(sql, &i, rotate, &now)?;
                let action = if rotate {
                    "key_rotated"
                } else {
                    "terminal_added"
                };
                audit::record(
                    sql,
                    &Act {
                        actor: &w.user,
                        action,
                        target: &i,
                        source: &w.source,
                        detail: "",
                    },
                    &now,
                )?;
                Ok(key)
            },
        )
        .await;
    match r {
        Ok(key) => secret_page(
            who,
            if rotate { "Новый ключ выдан" } else { "Терминал зарегистрирован" },
            &format!("Ключ терминала {id} (в файл [back_office] key_file его конфигурации; прежний ключ больше не действует):"),
            &key,
        ),
        Err(e) => terminal_refused(who, e),
    }
}

fn terminal_refused(who: &Identity, e: terminals::TerminalError) -> Response {
    use terminals::TerminalError as E;
    match e {
        E::Exists(id) => refused(who, &format!("Терминал {id} уже зарегистрирован.")),
        E::BadId(_) => refused(who, "Номер терминала: 1–32 символа A–Z, a–z, 0–9, «-», «_»."),
        E::NotRegistered(id) => refused(who, &format!("Терминала {id} нет.")),
        E::BadTimeZone(tz) => refused(
            who,
            &format!("Часовой пояс «{tz}» неизвестен: нужно имя IANA, например Europe/Moscow или Asia/Yekaterinburg."),
        ),
        E::Store(e) => crate::http::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct TimeZoneForm {
    time_zone: String,
}

/// `POST /admin/terminals/{id}/time-zone`: the terminal's business days and times move to it
/// (the projections are rebuilt).
pub async fn terminal_time_zone(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Form(f): Form<TimeZoneForm>,
) -> Response {
    let (w, i, tz) = (who.clone(), id.clone(), f.time_zone.trim().to_string());
    let r = state
        .store
        .run("admin", move |sql| {
            set_time_zone_audited(sql, &w.user, &w.source, &i, &tz)
        })
        .await;
    match r {
        Ok(tz) => Html(message_page(
            Some(&who),
            "Часовой пояс изменён",
            &format!("Терминал {id}: {}. Рабочие дни пересчитаны.", tz.name()),
        ))
        .into_response(),
        Err(e) => terminal_refused(&who, e),
    }
}

/// Sets a terminal's time zone, rebuilds the projections (its business days move) and audits it.
pub fn set_time_zone_audited(
    sql: &mut dyn crate::db::Sql,
    actor: &str,
    source: &str,
    id: &str,
    tz: &str,
) -> Result<chrono_tz::Tz, terminals::TerminalError> {
    let now = crate::now_utc();
    let tz = terminals::set_time_zone(sql, id, tz)?;
    crate::project::rebuild(sql, &now)?;
    audit::record(
        sql,
        &Act {
            actor,
            action: "time_zone_set",
            target: id,
            source,
            detail: tz.name(),
        },
        &now,
    )?;
    Ok(tz)
}

/// `POST /admin/terminals`.
pub async fn terminal_add(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Form(f): Form<TerminalForm>,
) -> Response {
    issue_key(&state, &who, f.id.trim().to_string(), false).await
}

/// The «Код подключения» button, for ids a kiosk can use.
fn enrol_form(who: &Identity, id: &str) -> String {
    if !backend_sync::wire::is_kiosk_terminal_id(id) {
        return String::new();
    }
    let id = esc(id);
    format!(
        "<form method=\"post\" action=\"/admin/terminals/{id}/enrol\">{}<button type=\"submit\" id=\"enrol-{id}\">Код подключения</button></form>",
        csrf_input(who)
    )
}

/// `POST /admin/terminals/{id}/enrol`: a one-time code the kiosk enrols with (`terminal enrol`).
pub async fn terminal_enrol(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    // The address the admin reached this server by is, most likely, the one kiosks reach.
    let server = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or("АДРЕС-ЭТОГО-СЕРВЕРА")
        .to_string();
    let (w, i) = (who.clone(), id.clone());
    let r = state
        .store
        .run("admin", move |sql| {
            crate::enrolment::issue(
                sql,
                &i,
                crate::enrolment::DEFAULT_VALIDITY,
                &w.user,
                &w.source,
                chrono::Utc::now(),
            )
        })
        .await;
    match r {
        Ok(issued) => secret_page(
            &who,
            "Код подключения выдан",
            &format!(
                "Код подключения киоска {id}: действует один раз, до {} UTC. На киоске от root: terminal enrol --back-office https://{server} --code {}",
                issued.expires.format("%d.%m.%Y %H:%M"),
                issued.code
            ),
            &issued.code,
        ),
        Err(crate::enrolment::EnrolError::Terminal(e)) => terminal_refused(&who, e),
        Err(crate::enrolment::EnrolError::NotAKioskId(_)) => refused(
            &who,
            "Код подключения выдаётся только киоску с номером из 1–16 символов A–Z, 0–9.",
        ),
        Err(crate::enrolment::EnrolError::Store(e)) => {
            crate::http::ApiError::from(e).into_response()
        }
        Err(e) => refused(&who, &e.to_string()),
    }
}

/// `POST /admin/terminals/{id}/rotate`.
pub async fn terminal_rotate(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let i = id.clone();
    match state
        .store
        .read(move |sql| terminals::key_of(sql, &i))
        .await
    {
        Ok(Some(_)) => issue_key(&state, &who, id, true).await,
        Ok(None) => refused(&who, &format!("Терминала {id} нет.")),
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct CardTerminalForm {
    card_terminal_id: String,
    terminal_id: String,
}

/// `POST /admin/card-terminals`.
pub async fn card_terminal_register(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Form(f): Form<CardTerminalForm>,
) -> Response {
    let (w, card, kiosk) = (
        who.clone(),
        f.card_terminal_id.trim().to_string(),
        f.terminal_id.trim().to_string(),
    );
    let (c2, k2) = (card.clone(), kiosk.clone());
    let r = state
        .store
        .run(
            "settlement",
            move |sql| -> Result<Option<String>, card_terminals::CardTerminalError> {
                let now = crate::now_utc();
                let prev = card_terminals::register(sql, &c2, &k2, &now)?;
                let detail = format!("previous owner {}", prev.as_deref().unwrap_or("-"));
                audit::record(
                    sql,
                    &Act {
                        actor: &w.user,
                        action: "card_terminal_registered",
                        target: &format!("{c2} -> {k2}"),
                        source: &w.source,
                        detail: &detail,
                    },
                    &now,
                )?;
                Ok(prev)
            },
        )
        .await;
    match r {
        Ok(_) => Html(message_page(
            Some(&who),
            "Платёжный терминал закреплён",
            &format!("{card} закреплён за киоском {kiosk}; сверка его операций пересчитана."),
        ))
        .into_response(),
        Err(card_terminals::CardTerminalError::Store(e)) => {
            crate::http::ApiError::from(e).into_response()
        }
        Err(card_terminals::CardTerminalError::NoSuchKiosk(k)) => {
            refused(&who, &format!("Киоска {k} нет."))
        }
        Err(card_terminals::CardTerminalError::BadId(_)) => refused(
            &who,
            "Номер платёжного терминала: 1–32 печатных символа ASCII.",
        ),
    }
}

/// `GET /admin/audit`.
pub async fn audit_page(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let entries = match state.store.read(|sql| audit::latest(sql, 500)).await {
        Ok(e) => e,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let mut b = String::from("<table id=\"audit\"><tr><th>Время (UTC)</th><th>Кто</th><th>Действие</th><th>Над кем / чем</th><th>Адрес</th><th>Подробности</th></tr>");
    for e in &entries {
        let class = if e.action == "login_failed" {
            " class=\"warn\""
        } else {
            ""
        };
        b.push_str(&format!(
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.time_utc),
            esc(&e.actor),
            esc(&e.action),
            esc(&e.target),
            esc(&e.source),
            esc(&e.detail)
        ));
    }
    b.push_str("</table>");
    Html(page("Журнал аудита", Some(&who), &b)).into_response()
}

fn alert_status_ru(s: &str) -> &'static str {
    match s {
        "pending" => "ждёт отправки",
        "sent" => "отправлено",
        "suppressed" => "не отправлялось (плановые работы или короткий сбой)",
        "expired" => "устарело, не отправлено",
        "delivered" => "доставлено",
        "failed" => "не доставлено",
        _ => "—",
    }
}

/// The alert delivery log as a table (`id`): every alert, its thread, and each channel's
/// attempts and outcome.
/// An alert rule's name on the page.
fn rule_ru(rule: &str) -> &str {
    match rule {
        "outage" => "простой",
        "device_down" => "устройство неисправно",
        "cassette_near_full" => "кассета почти полна",
        "paper_near_end" => "бумага заканчивается",
        "fiscal_warning" => "фискальный сбой",
        "stuck_note" => "застрявшая купюра",
        "sync_lag" => "нет связи",
        "test" => "проверка",
        other => other,
    }
}

/// A step of an alert thread on the page.
fn step_ru(step: &str) -> &str {
    match step {
        "opened" => "начало",
        "updated" => "обновление",
        "closed" => "завершение",
        other => other,
    }
}

pub fn alert_log_table(id: &str, rows: &[crate::alerts::dispatch::LogRow]) -> String {
    let mut b = format!(
        "<table id=\"{id}\"><tr><th>Время</th><th>Терминал</th><th>Правило</th><th>Шаг</th><th>Нить</th><th>Текст</th><th>Состояние</th><th>Канал</th><th>Попыток</th><th>Ошибка</th></tr>"
    );
    if rows.is_empty() {
        b.push_str("<tr><td colspan=\"10\">оповещений не было</td></tr>");
    }
    for r in rows {
        let class = match r.channel_status.as_deref() {
            Some("failed") => " class=\"bad\"",
            Some("pending") => " class=\"warn\"",
            _ => "",
        };
        b.push_str(&format!(
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            esc(&crate::project::local_time(&r.event_utc, chrono_tz::UTC)),
            esc(&r.terminal_id),
            esc(rule_ru(&r.rule)),
            esc(step_ru(&r.step)),
            r.thread_id,
            esc(&r.text),
            alert_status_ru(r.channel_status.as_deref().unwrap_or(&r.status)),
            esc(r.channel.as_deref().unwrap_or("—")),
            r.attempts,
            esc(r.last_error.as_deref().unwrap_or(""))
        ));
    }
    b.push_str("</table>");
    b
}

/// `GET /admin/alerts`: the delivery log of the whole fleet.
pub async fn alerts_page(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let rows = match state
        .store
        .read(|sql| crate::alerts::dispatch::log(sql, None, 500))
        .await
    {
        Ok(r) => r,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let b = alert_log_table("alert-log", &rows);
    Html(page("Оповещения", Some(&who), &b)).into_response()
}
