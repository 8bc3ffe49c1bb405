//! Who is asking and what they may reach. Every route outside the terminal API, `/login` and
//! `/healthz` sits behind [`guard`]: it finds the person from the session cookie or an
//! `Authorization: Bearer` API token, checks the route's [`Area`] against their role, and for a
//! state-changing request made with a session checks the CSRF token tied to that session (header
//! `X-CSRF-Token` or form field `csrf`, URL-encoded or multipart). A browser that is not logged in
//! is sent to the login page (303); other callers get 401; a wrong role gets 403 with a Russian page.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use backend_sync::wire::{ErrorCode, ErrorReply};
use subtle::ConstantTimeEq;

use crate::http::AppState;
use crate::users::Role;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "bo_session";
/// The CSRF header for scripts and `fetch` calls made with a session.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The CSRF field of every HTML form.
pub const CSRF_FIELD: &str = "csrf";
/// The largest body a guarded request may carry (the settlement file of a month fits).
const MAX_GUARDED_BODY: usize = 16 * 1024 * 1024;

/// A part of the back office, as routes are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Any logged-in person (the start page, logout, the API description).
    Any,
    /// The fleet, terminal pages and service history.
    Fleet,
    /// Reconciliation, exports and imports.
    Finance,
    /// Terminals, keys, users and the audit log.
    Admin,
}

impl Area {
    pub fn allows(self, role: Role) -> bool {
        matches!(
            (self, role),
            (Area::Any, _)
                | (_, Role::Admin)
                | (Area::Fleet, Role::Technician)
                | (Area::Finance, Role::Finance)
        )
    }
}

/// How a person proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A browser session: its cookie token and its CSRF token.
    Session { token: String, csrf: String },
    /// A per-user API token (no ambient credential, so no CSRF check).
    Token,
}

/// The person behind a request, put into the request's extensions by [`guard`].
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub role: Role,
    pub via: Via,
    pub source: String,
}

impl Identity {
    /// The CSRF token forms must carry (empty for token callers, who send no forms).
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token => "",
        }
    }
}

/// The peer's address, as the server's connection info.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

/// The source address of a request: the peer's address, or — when the peer is one of
/// `trusted_proxies` — the last address its `X-Forwarded-For` names (what the proxy saw).
/// `unknown` when served without connection info, as in tests that call the router directly.
pub fn source_of(
    ext: &axum::http::Extensions,
    headers: &HeaderMap,
    trusted_proxies: &[std::net::IpAddr],
) -> String {
    let Some(peer) = ext
        .get::<axum::extract::ConnectInfo<PeerAddr>>()
        .map(|c| c.0 .0.ip())
    else {
        return "unknown".into();
    };
    if trusted_proxies.contains(&peer) {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            // Only the entry the trusted proxy appended; earlier ones are the client's to invent.
            .next_back()
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok());
        if let Some(client) = forwarded {
            return client.to_string();
        }
    }
    peer.to_string()
}

/// The source address [`crate::http`] put into a request's extensions.
pub fn source(ext: &axum::http::Extensions) -> String {
    ext.get::<crate::http::Source>()
        .map(|s| s.0.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Whether the caller reads HTML (a browser) rather than JSON.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Finds the person behind a request. A bearer token, when present, decides alone.
async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    source: String,
) -> Result<Option<Identity>, crate::StoreError> {
    let now = chrono::Utc::now();
    if let Some(token) = bearer(headers) {
        let token = token.to_string();
        let user = state
            .store
            .run("tokens", move |sql| {
                crate::users::token_user(sql, &token, &crate::now_utc())
            })
            .await?;
        return Ok(user.map(|u| Identity {
            user: u.name,
            role: u.role,
            via: Via::Token,
            source,
        }));
    }
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let t = token.clone();
    let session = state
        .store
        .read(move |sql| crate::sessions::lookup(sql, &t, now))
        .await?;
    Ok(session.map(|s| Identity {
        user: s.user,
        role: s.role,
        via: Via::Session {
            token,
            csrf: s.csrf,
        },
        source,
    }))
}

fn refusal(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    (
        status,
        Json(ErrorReply {
            error: code,
            message: message.into(),
        }),
    )
        .into_response()
}

/// Nobody logged in: the login page for a browser, 401 for a script.
fn unauthenticated(headers: &HeaderMap, path_and_query: &str) -> Response {
    if wants_html(headers) {
        let next = crate::web::url_encode(path_and_query);
        return Redirect::to(&format!("/login?next={next}")).into_response();
    }
    refusal(
        StatusCode::UNAUTHORIZED,
        ErrorCode::MissingAuth,
        "log in (session cookie) or send Authorization: Bearer <API token>",
    )
}

/// A logged-in person outside their role, or a form without its CSRF token: 403.
fn forbidden(html: bool, who: &Identity, title: &str, message: &str) -> Response {
    if html {
        return (
            StatusCode::FORBIDDEN,
            Html(crate::web::message_page(Some(who), title, message)),
        )
            .into_response();
    }
    refusal(StatusCode::FORBIDDEN, ErrorCode::MissingAuth, message)
}

/// The route guard: authentication, role, CSRF.
pub async fn guard(
    State((state, area)): State<(AppState, Area)>,
    req: Request,
    next: Next,
) -> Response {
    let source = source(req.extensions());
    let html = wants_html(req.headers());
    let who = match identify(&state, req.headers(), source).await {
        Ok(Some(who)) => who,
        Ok(None) => {
            let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
            return unauthenticated(req.headers(), pq);
        }
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    if !area.allows(who.role) {
        tracing::info!(user = %who.user, role = who.role.as_str(), path = req.uri().path(), "refused: role");
        return forbidden(
            html,
            &who,
            "Доступ запрещён",
            &format!(
                "Эта страница не для роли «{}». Обратитесь к администратору, если она нужна вам для работы.",
                who.role.label_ru()
            ),
        );
    }
    let req = match &who.via {
        Via::Session { csrf, .. } if !is_safe(req.method()) => match check_csrf(req, csrf).await {
            Ok(req) => req,
            Err(()) => {
                tracing::warn!(user = %who.user, source = %who.source, "refused: CSRF token missing or wrong");
                return forbidden(
                    html,
                    &who,
                    "Форма устарела",
                    "Запрос отклонён: нет проверочного кода формы (CSRF) или он неверен. Обновите страницу и отправьте форму снова.",
                );
            }
        },
        _ => req,
    };
    let mut req = req;
    req.extensions_mut().insert(who);
    next.run(req).await
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Constant-time comparison of a presented CSRF token with the session's.
pub fn csrf_matches(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// Checks the CSRF token of a state-changing request and gives the request back intact.
async fn check_csrf(req: Request, expected: &str) -> Result<Request, ()> {
    if let Some(h) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return csrf_matches(h, expected).then_some(req).ok_or(());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_GUARDED_BODY)
        .await
        .map_err(|_| ())?;
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let presented = form_field(&ct, bytes.clone(), CSRF_FIELD).await;
    match presented {
        Some(p) if csrf_matches(&p, expected) => Ok(Request::from_parts(parts, Body::from(bytes))),
        _ => Err(()),
    }
}

/// One text field of a URL-encoded or multipart form body.
pub async fn form_field(content_type: &str, body: axum::body::Bytes, name: &str) -> Option<String> {
    let tmp = Request::builder()
        .method(Method::POST)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .ok()?;
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let axum::Form(map) =
            axum::Form::<std::collections::HashMap<String, String>>::from_request(tmp, &())
                .await
                .ok()?;
        return map.get(name).cloned();
    }
    if content_type.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(tmp, &()).await.ok()?;
        while let Ok(Some(field)) = mp.next_field().await {
            if field.name() == Some(name) {
                return field.text().await.ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_follow_roles() {
        assert!(Area::Fleet.allows(Role::Technician));
        assert!(!Area::Finance.allows(Role::Technician));
        assert!(!Area::Admin.allows(Role::Technician));
        assert!(Area::Finance.allows(Role::Finance));
        assert!(!Area::Fleet.allows(Role::Finance));
        assert!(!Area::Admin.allows(Role::Finance));
        for a in [Area::Any, Area::Fleet, Area::Finance, Area::Admin] {
            assert!(a.allows(Role::Admin));
        }
    }

    #[test]
    fn cookies_and_csrf_tokens_are_read_exactly() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; bo_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "bo"), None);
        assert!(csrf_matches("abc", "abc"));
        assert!(!csrf_matches("abd", "abc") && !csrf_matches("", ""));
    }
}
