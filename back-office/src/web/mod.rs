//! The pages people use in a browser: plain server-rendered HTML in Russian, standard forms with
//! stable `id`/`name` attributes (so a WebDriver test can drive them), every state-changing form
//! carrying its CSRF token. This module owns the page frame, the login page, login, logout and the
//! start page; [`finance`] and [`admin`] own their parts. Who may open what is [`crate::access`].

pub mod admin;
pub mod finance;

use std::collections::HashMap;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::access::{self, Identity, Via, CSRF_FIELD, SESSION_COOKIE};
use crate::audit::{self, Act};
use crate::http::AppState;
use crate::sessions;
use crate::users::{self, Role};

pub use crate::fleet::esc;

/// The login form's own CSRF cookie (double submit: there is no session yet).
const LOGIN_CSRF_COOKIE: &str = "bo_login_csrf";

/// The pages' one style sheet (the fleet page adds its charts' layout).
pub(crate) const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#111}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #999;padding:.3em .6em;text-align:left}th{background:#eee}\
.bad{background:#fdd}.warn{background:#ffe9b3}.ok{background:#dfd}.num{text-align:right}\
nav{background:#eef;padding:.5em;margin-bottom:1em}nav a{margin-right:1em}nav form{display:inline;margin-left:1em}\
label{display:block;margin:.4em 0}input,select,button{font-size:1em;padding:.2em .4em}\
.secret{font-family:monospace;font-size:1.2em;background:#ffe9b3;padding:.3em}";

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The navigation bar of a logged-in person: the parts their role opens, and logout.
pub fn nav(who: &Identity) -> String {
    let mut h = String::from("<nav>");
    let links: &[(&str, &str, access::Area)] = &[
        ("/fleet", "Парк терминалов", access::Area::Fleet),
        ("/finance", "Финансы", access::Area::Finance),
        ("/admin/terminals", "Терминалы и ключи", access::Area::Admin),
        ("/admin/users", "Пользователи", access::Area::Admin),
        ("/admin/audit", "Журнал аудита", access::Area::Admin),
        ("/admin/alerts", "Оповещения", access::Area::Admin),
    ];
    for (href, label, area) in links {
        if area.allows(who.role) {
            h.push_str(&format!("<a href=\"{href}\">{label}</a>"));
        }
    }
    h.push_str(&format!(
        "<span id=\"whoami\">{} ({})</span>",
        esc(&who.user),
        who.role.label_ru()
    ));
    if matches!(who.via, Via::Session { .. }) {
        h.push_str(&format!(
            "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\"><button type=\"submit\" id=\"logout\">Выйти</button></form>",
            esc(who.csrf())
        ));
    }
    h.push_str("</nav>");
    h
}

/// A whole page: title, the navigation bar (when someone is logged in) and `body`.
pub fn page(title: &str, who: Option<&Identity>, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{} — бэк-офис</title><style>{STYLE}</style></head><body>{}<h1>{}</h1>{body}</body></html>",
        esc(title),
        who.map(nav).unwrap_or_default(),
        esc(title)
    )
}

/// A page with one message.
pub fn message_page(who: Option<&Identity>, title: &str, message: &str) -> String {
    page(
        title,
        who,
        &format!("<p id=\"message\">{}</p>", esc(message)),
    )
}

/// Puts the navigation bar at the top of a page rendered elsewhere (the fleet page).
pub fn with_nav(html: &str, who: &Identity) -> String {
    match html.find("<body>") {
        Some(i) => format!("{}{}{}", &html[..i + 6], nav(who), &html[i + 6..]),
        None => html.to_string(),
    }
}

/// A hidden CSRF field for a form.
pub fn csrf_input(who: &Identity) -> String {
    format!(
        "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
        esc(who.csrf())
    )
}

fn cookie_header(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if state.tls { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

fn with_cookies(mut resp: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Where a person lands after login.
fn home_of(role: Role) -> &'static str {
    match role {
        Role::Finance => "/finance",
        Role::Technician | Role::Admin => "/fleet",
    }
}

/// `next` if it is a path on this server, else the role's start page.
fn safe_next(next: Option<&str>, role: Role) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.into()
        }
        _ => home_of(role).into(),
    }
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
    next: &str,
    user: &str,
) -> Response {
    let token = users::random_secret();
    let error = error
        .map(|e| format!("<p id=\"error\" class=\"bad\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "{error}<form method=\"post\" action=\"/login\" id=\"login-form\">\
<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{token}\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
<label for=\"username\">Имя пользователя</label><input id=\"username\" name=\"username\" autocomplete=\"username\" value=\"{}\" required autofocus>\
<label for=\"password\">Пароль</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<p><button type=\"submit\" id=\"login\">Войти</button></p></form>",
        esc(next),
        esc(user)
    );
    let resp = (status, Html(page("Вход в бэк-офис", None, &body))).into_response();
    with_cookies(
        resp,
        &[cookie_header(
            state,
            LOGIN_CSRF_COOKIE,
            &token,
            "/login",
            3600,
        )],
    )
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let next = q.get("next").map(String::as_str).unwrap_or("");
    login_page(&state, StatusCode::OK, None, next, "")
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: checks the form's CSRF cookie, the lockouts and the password; starts a session.
pub async fn login_submit(State(state): State<AppState>, req: Request) -> Response {
    let source = access::source(req.extensions());
    let headers = req.headers().clone();
    let Ok(Form(f)) =
        <Form<LoginForm> as axum::extract::FromRequest<()>>::from_request(req, &()).await
    else {
        return login_page(
            &state,
            StatusCode::BAD_REQUEST,
            Some("Форма входа заполнена неверно."),
            "",
            "",
        );
    };
    let name = f.username.trim().to_lowercase();
    let login_csrf = access::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !access::csrf_matches(&f.csrf, &login_csrf) {
        tracing::warn!(source = %source, "login refused: form CSRF token missing or wrong");
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("Форма устарела. Введите имя и пароль ещё раз."),
            &f.next,
            &name,
        );
    }
    match login_check(&state, &name, &f.password, &source).await {
        Ok(LoginOutcome::Ok(user)) => start_session(&state, &user, &source, &f.next).await,
        Ok(LoginOutcome::Locked(until)) => login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Слишком много неудачных попыток входа. Вход закрыт до {} UTC.",
                until.format("%H:%M")
            )),
            &f.next,
            &name,
        ),
        Ok(LoginOutcome::Refused) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Неверное имя пользователя или пароль."),
            &f.next,
            &name,
        ),
        Err(e) => crate::http::ApiError::from(e).into_response(),
    }
}

enum LoginOutcome {
    Ok(users::User),
    Locked(chrono::DateTime<chrono::Utc>),
    Refused,
}

/// The lockouts, then the password (Argon2id off the async threads); counts and audits failures.
async fn login_check(
    state: &AppState,
    name: &str,
    password: &str,
    source: &str,
) -> Result<LoginOutcome, crate::StoreError> {
    let now = chrono::Utc::now();
    let keys = vec![sessions::user_key(name), sessions::address_key(source)];
    if let Some(until) = state
        .store
        .read(move |sql| sessions::locked_until(sql, &keys, now))
        .await?
    {
        tracing::warn!(user = name, source, "login refused: locked out");
        return Ok(LoginOutcome::Locked(until));
    }
    let n = name.to_string();
    let creds = state
        .store
        .read(move |sql| users::credentials(sql, &n))
        .await?;
    let hash = creds.as_ref().map_or_else(
        || users::decoy_hash().to_string(),
        |c| c.password_hash.clone(),
    );
    let pw = password.to_string();
    let matches = tokio::task::spawn_blocking(move || users::verify_password(&hash, &pw))
        .await
        .unwrap_or(false);
    let reason = match &creds {
        Some(c) if matches && c.user.enabled => return Ok(LoginOutcome::Ok(c.user.clone())),
        Some(c) if matches && !c.user.enabled => "user disabled",
        Some(_) => "wrong password",
        None => "unknown user",
    };
    let locked = state
        .store
        .run("auth", {
            let (n, src) = (name.to_string(), source.to_string());
            move |sql| record_login_failure(sql, &n, &src, reason, now)
        })
        .await?;
    if locked {
        return Ok(LoginOutcome::Locked(
            now + chrono::Duration::seconds(sessions::LOCKOUT_SECS),
        ));
    }
    Ok(LoginOutcome::Refused)
}

/// Counts a failed login against the address and the user name, and audits it; true when this
/// failure locked one of them out. Unknown names are counted too, so a lockout does not tell
/// which names exist (their rows are bounded by the address lockout).
fn record_login_failure(
    sql: &mut dyn crate::db::Sql,
    n: &str,
    src: &str,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, crate::StoreError> {
    let now_s = crate::now_utc();
    let mut locked = sessions::record_failure(
        sql,
        &sessions::address_key(src),
        sessions::ADDRESS_FAILURES,
        now,
    )?;
    locked |= sessions::record_failure(sql, &sessions::user_key(n), sessions::USER_FAILURES, now)?;
    let detail = if locked {
        format!("{reason}; locked out")
    } else {
        reason.to_string()
    };
    audit::record(
        sql,
        &Act {
            actor: "-",
            action: "login_failed",
            target: n,
            source: src,
            detail: &detail,
        },
        &now_s,
    )?;
    Ok(locked)
}

async fn start_session(state: &AppState, user: &users::User, source: &str, next: &str) -> Response {
    let (u, src, ttl) = (user.clone(), source.to_string(), state.session_ttl);
    let created = state
        .store
        .run("auth", move |sql| -> Result<String, crate::StoreError> {
            let now = chrono::Utc::now();
            sessions::clear(sql, &sessions::user_key(&u.name))?;
            let (token, _csrf) = sessions::create(sql, &u, ttl, &src, now)?;
            audit::record(
                sql,
                &Act {
                    actor: &u.name,
                    action: "login",
                    target: &u.name,
                    source: &src,
                    detail: u.role.as_str(),
                },
                &crate::now_utc(),
            )?;
            Ok(token)
        })
        .await;
    let token = match created {
        Ok(t) => t,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let to = safe_next(Some(next).filter(|n| !n.is_empty()), user.role);
    let max_age = i64::try_from(state.session_ttl.as_secs()).unwrap_or(i64::MAX);
    with_cookies(
        Redirect::to(&to).into_response(),
        &[
            cookie_header(state, SESSION_COOKIE, &token, "/", max_age),
            cookie_header(state, LOGIN_CSRF_COOKIE, "", "/login", 0),
        ],
    )
}

/// `POST /logout` (behind the guard, so its CSRF token was checked).
pub async fn logout(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    if let Via::Session { token, .. } = &who.via {
        let (token, who2) = (token.clone(), who.clone());
        let r = state
            .store
            .run("auth", move |sql| -> Result<(), crate::StoreError> {
                sessions::delete(sql, &token)?;
                audit::record(
                    sql,
                    &Act {
                        actor: &who2.user,
                        action: "logout",
                        target: &who2.user,
                        source: &who2.source,
                        detail: "",
                    },
                    &crate::now_utc(),
                )
            })
            .await;
        if let Err(e) = r {
            return crate::http::ApiError::from(e).into_response();
        }
    }
    with_cookies(
        Redirect::to("/login").into_response(),
        &[cookie_header(&state, SESSION_COOKIE, "", "/", 0)],
    )
}

/// `GET /`: the role's start page.
pub async fn home(Extension(who): Extension<Identity>) -> Redirect {
    Redirect::to(home_of(who.role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/fleet?x=1"), Role::Finance), "/fleet?x=1");
        assert_eq!(
            safe_next(Some("//evil.example/"), Role::Finance),
            "/finance"
        );
        assert_eq!(
            safe_next(Some("https://evil.example/"), Role::Technician),
            "/fleet"
        );
        assert_eq!(safe_next(None, Role::Admin), "/fleet");
        assert_eq!(safe_next(Some("/\t/evil.example/"), Role::Admin), "/fleet");
        assert_eq!(safe_next(Some("/\\evil.example/"), Role::Admin), "/fleet");
        assert_eq!(url_encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
        assert_eq!(esc("<a href=\"x\">"), "&lt;a href=&quot;x&quot;&gt;");
    }
}
