//! People and roles over HTTP, as a browser and a script meet them: the login page and its form
//! CSRF, session cookies, lockout, role refusals, CSRF on state-changing requests, expired
//! sessions, API tokens, the audit log, and that a flood of forged terminal requests does not grow
//! the incident tables. On SQLite and (when configured) PostgreSQL.

mod common;

use back_office::http::AppState;
use back_office::users::{self, Role};
use back_office::Store;
use backend_sync::auth;
use common::{add_terminal, all_stores, api_token};
use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode};

const PASSWORD: &str = "correct horse battery";
const HTML: &str = "text/html,application/xhtml+xml";

/// A server with its own state (session length).
struct Srv {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Srv {
    async fn start(state: AppState) -> Srv {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(back_office::serve(listener, state, async {
            let _ = rx.await;
        }));
        Srv {
            url,
            stop: Some(tx),
        }
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn add_user(store: &Store, name: &str, role: Role) {
    let name = name.to_string();
    store
        .run("t", move |sql| -> Result<(), users::UserError> {
            let hash = users::hash_password(PASSWORD)?;
            users::add(sql, &name, role, &hash, &back_office::now_utc())
        })
        .await
        .unwrap();
}

/// The value of cookie `name` set by a response, with its attributes.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// The value of a hidden input `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("hidden field") + marker.len();
    page[start..page[start..].find('"').unwrap() + start].to_string()
}

/// A login attempt through the real form: (status, session cookie as set, body).
async fn login(url: &str, user: &str, password: &str) -> (StatusCode, Option<String>, String) {
    login_via(url, user, password, None).await
}

/// A login attempt that claims to come through a proxy for `forwarded_for`.
async fn login_via(
    url: &str,
    user: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let c = client();
    let form = c.get(format!("{url}/login")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let login_cookie = cookie_value(&set_cookie(&form, "bo_login_csrf").expect("login cookie"));
    let page = form.text().await.unwrap();
    for id in ["id=\"username\"", "id=\"password\"", "id=\"login\""] {
        assert!(page.contains(id), "{id} missing in {page}");
    }
    let csrf = hidden(&page, "csrf");
    let mut post = c.post(format!("{url}/login"));
    if let Some(addr) = forwarded_for {
        post = post.header("x-forwarded-for", addr);
    }
    let resp = post
        .header(COOKIE, format!("bo_login_csrf={login_cookie}"))
        .form(&[
            ("username", user),
            ("password", password),
            ("csrf", csrf.as_str()),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let session = set_cookie(&resp, "bo_session");
    (status, session, resp.text().await.unwrap())
}

/// Logs in and returns the session cookie header value (`bo_session=…`).
async fn session(url: &str, user: &str) -> String {
    let (st, cookie, body) = login(url, user, PASSWORD).await;
    assert_eq!(st, StatusCode::SEE_OTHER, "{body}");
    format!("bo_session={}", cookie_value(&cookie.unwrap()))
}

/// The CSRF token a logged-in page carries.
async fn csrf_of(url: &str, cookie: &str, page: &str) -> String {
    let body = client()
        .get(format!("{url}{page}"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    hidden(&body, "csrf")
}

#[tokio::test]
async fn nothing_but_the_terminal_api_login_and_healthz_is_open() {
    let db = common::sqlite().await;
    let srv = Srv::start(AppState::new(db.store.clone())).await;
    let c = client();
    // A browser is sent to the login page, and comes back where it wanted to go.
    let r = c
        .get(format!("{}/fleet", srv.url))
        .header(ACCEPT, HTML)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/login?next=/fleet");
    // Scripts get 401 on every guarded endpoint.
    let get = [
        "/",
        "/fleet",
        "/fleet/charts/outage.svg",
        "/api/v1/fleet",
        "/api/v1/incidents",
        "/finance",
        "/api/v1/reports/reconciliation?from=2026-11-01&to=2026-11-30",
        "/api/v1/reports/reconciliation.xlsx?from=2026-11-01&to=2026-11-30",
        "/api/v1/reports/reconciliation/days.csv?from=2026-11-01&to=2026-11-30",
        "/api/v1/export/payments.csv?from=2026-11-01&to=2026-11-30",
        "/admin/users",
        "/admin/terminals",
        "/admin/audit",
        "/openapi.json",
    ];
    for path in get {
        let r = c.get(format!("{}{path}", srv.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "GET {path}");
    }
    let post = [
        "/api/v1/settlements",
        "/api/v1/export/credited",
        "/finance/settlement",
        "/admin/users",
        "/admin/terminals",
        "/admin/card-terminals",
        "/logout",
    ];
    for path in post {
        let r = c
            .post(format!("{}{path}", srv.url))
            .body("kind,terminal_id,id\n")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "POST {path}");
    }
    let r = c.get(format!("{}/healthz", srv.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Pages cannot be framed by another site, and plain HTTP sends no HSTS.
    let r = c.get(format!("{}/login", srv.url)).send().await.unwrap();
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(r.headers().get("strict-transport-security").is_none());
    // A made-up session cookie is nobody.
    let r = c
        .get(format!("{}/api/v1/fleet", srv.url))
        .header(COOKIE, format!("bo_session={}", users::random_secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_technician_sees_the_fleet_and_is_refused_finance_which_finance_gets() {
    for db in all_stores().await {
        add_user(&db.store, "tech", Role::Technician).await;
        add_user(&db.store, "fin", Role::Finance).await;
        let srv = Srv::start(AppState::new(db.store.clone())).await;
        let (st, cookie, _) = login(&srv.url, "tech", PASSWORD).await;
        assert_eq!(st, StatusCode::SEE_OTHER, "[{}]", db.label);
        let cookie = cookie.unwrap();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
            assert!(cookie.contains(flag), "{flag} missing: {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
        let tech = format!("bo_session={}", cookie_value(&cookie));
        let c = client();
        let page = c
            .get(format!("{}/fleet", srv.url))
            .header(COOKIE, &tech)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("Парк терминалов") && page.contains("id=\"logout\""));
        assert!(
            !page.contains("/finance\""),
            "no finance link for a technician"
        );
        let xlsx = "/api/v1/reports/reconciliation.xlsx?from=2026-11-01&to=2026-11-30";
        let refused = c
            .get(format!("{}{xlsx}", srv.url))
            .header(COOKIE, &tech)
            .header(ACCEPT, HTML)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.text().await.unwrap().contains("Доступ запрещён"));
        let fin = session(&srv.url, "fin").await;
        let ok = c
            .get(format!("{}{xlsx}", srv.url))
            .header(COOKIE, &fin)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert!(
            ok.bytes().await.unwrap().starts_with(b"PK"),
            "an XLSX (zip)"
        );
        let r = c
            .get(format!("{}/fleet", srv.url))
            .header(COOKIE, &fin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "finance has no fleet");
        // Logout ends the session for good.
        let csrf = csrf_of(&srv.url, &tech, "/fleet").await;
        let out = c
            .post(format!("{}/logout", srv.url))
            .header(COOKIE, &tech)
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        let r = c
            .get(format!("{}/fleet", srv.url))
            .header(COOKIE, &tech)
            .header(ACCEPT, HTML)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "logged out");
        let actions: Vec<String> = db
            .store
            .read(|sql| back_office::audit::latest(sql, 50))
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(actions, ["logout", "login", "login"], "[{}]", db.label);
    }
}

#[tokio::test]
async fn forged_logins_are_refused() {
    let db = common::sqlite().await;
    add_user(&db.store, "tech", Role::Technician).await;
    let srv = Srv::start(AppState::new(db.store.clone())).await;
    let c = client();
    // No login-form cookie: a cross-site form post.
    let r = c
        .post(format!("{}/login", srv.url))
        .form(&[("username", "tech"), ("password", PASSWORD), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "bo_session").is_none());
    // A cookie that does not match the form's token.
    let r = c
        .post(format!("{}/login", srv.url))
        .header(COOKIE, format!("bo_login_csrf={}", users::random_secret()))
        .form(&[
            ("username", "tech"),
            ("password", PASSWORD),
            ("csrf", &users::random_secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&r, "bo_session").is_none());
    // Wrong password, unknown user, disabled user.
    let (st, cookie, body) = login(&srv.url, "tech", "not the password").await;
    assert_eq!((st, cookie), (StatusCode::UNAUTHORIZED, None));
    assert!(body.contains("Неверное имя пользователя или пароль"));
    let (st, cookie, _) = login(&srv.url, "nobody", PASSWORD).await;
    assert_eq!((st, cookie), (StatusCode::UNAUTHORIZED, None));
    db.store
        .run("t", |sql| users::disable(sql, "tech"))
        .await
        .unwrap();
    let (st, cookie, _) = login(&srv.url, "tech", PASSWORD).await;
    assert_eq!((st, cookie), (StatusCode::UNAUTHORIZED, None));
    let failed = db
        .store
        .read(|sql| back_office::audit::latest(sql, 50))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "login_failed")
        .map(|a| a.detail)
        .collect::<Vec<_>>();
    assert_eq!(failed, ["user disabled", "unknown user", "wrong password"]);
}

#[tokio::test]
async fn wrong_passwords_lock_the_user_out_and_admins_see_it_in_the_audit_log() {
    for db in all_stores().await {
        add_user(&db.store, "tech", Role::Technician).await;
        add_user(&db.store, "boss", Role::Admin).await;
        let srv = Srv::start(AppState::new(db.store.clone())).await;
        let boss = session(&srv.url, "boss").await;
        for i in 1..back_office::sessions::USER_FAILURES {
            let (st, _, _) = login(&srv.url, "tech", "wrong password!").await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "attempt {i}");
        }
        let (st, _, body) = login(&srv.url, "tech", "wrong password!").await;
        assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(body.contains("Слишком много неудачных попыток"));
        // Locked: even the right password does not open it now.
        let (st, cookie, _) = login(&srv.url, "tech", PASSWORD).await;
        assert_eq!((st, cookie), (StatusCode::TOO_MANY_REQUESTS, None));
        // A name nobody has locks the same way, so a lockout tells nothing about which names exist.
        for _ in 1..back_office::sessions::USER_FAILURES {
            login(&srv.url, "ghost", "wrong password!").await;
        }
        let (st, _, _) = login(&srv.url, "ghost", "wrong password!").await;
        assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
        // Another user from the same address is not locked by it.
        let (st, _, _) = login(&srv.url, "boss", PASSWORD).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        let audit = client()
            .get(format!("{}/admin/audit", srv.url))
            .header(COOKIE, &boss)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            audit.contains("login_failed") && audit.contains("wrong password; locked out"),
            "[{}] {audit}",
            db.label
        );
        // The audit log is for admins only.
        let r = client()
            .get(format!("{}/admin/audit", srv.url))
            .header(COOKIE, session(&srv.url, "boss").await)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn many_failures_from_one_address_lock_the_address() {
    let db = common::sqlite().await;
    add_user(&db.store, "fin", Role::Finance).await;
    let srv = Srv::start(AppState::new(db.store.clone())).await;
    let mut last = StatusCode::OK;
    for i in 0..back_office::sessions::ADDRESS_FAILURES {
        let (st, _, _) = login(&srv.url, &format!("guess{i}"), "whatever12345").await;
        last = st;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let (st, cookie, _) = login(&srv.url, "fin", PASSWORD).await;
    assert_eq!((st, cookie), (StatusCode::TOO_MANY_REQUESTS, None));
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    let db = common::sqlite().await;
    add_user(&db.store, "fin", Role::Finance).await;
    // Each attempt names another user, so only the address lockout can stop them.
    let fail_from = |url: String, from: String, i: i64| async move {
        login_via(&url, &format!("guess{i}"), "whatever12345", Some(&from))
            .await
            .0
    };
    // Behind a trusted proxy the lockout is the client's, not the proxy's.
    let proxied = Srv::start(
        AppState::new(db.store.clone()).with_trusted_proxies(vec!["127.0.0.1".parse().unwrap()]),
    )
    .await;
    for i in 0..back_office::sessions::ADDRESS_FAILURES {
        fail_from(proxied.url.clone(), "10.0.0.1".into(), i).await;
    }
    let (st, _, _) = login_via(&proxied.url, "fin", PASSWORD, Some("10.0.0.1")).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "10.0.0.1 is locked");
    let (st, _, _) = login_via(&proxied.url, "fin", PASSWORD, Some("10.0.0.2")).await;
    assert_eq!(st, StatusCode::SEE_OTHER, "10.0.0.2 is not");
    // Without trust, a made-up X-Forwarded-For does not dodge the lockout.
    let db2 = common::sqlite().await;
    add_user(&db2.store, "fin", Role::Finance).await;
    let direct = Srv::start(AppState::new(db2.store.clone())).await;
    for i in 0..back_office::sessions::ADDRESS_FAILURES {
        fail_from(direct.url.clone(), format!("10.9.0.{i}"), i).await;
    }
    let (st, _, _) = login_via(&direct.url, "fin", PASSWORD, Some("10.9.9.9")).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    let sources: Vec<String> = db2
        .store
        .read(|sql| back_office::audit::latest(sql, 5))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.source)
        .collect();
    assert!(sources.iter().all(|s| s == "127.0.0.1"), "{sources:?}");
}

#[tokio::test]
async fn state_changing_requests_need_the_sessions_csrf_token() {
    for db in all_stores().await {
        add_user(&db.store, "fin", Role::Finance).await;
        add_user(&db.store, "boss", Role::Admin).await;
        let srv = Srv::start(AppState::new(db.store.clone())).await;
        let fin = session(&srv.url, "fin").await;
        let c = client();
        let csv =
            "date,card_terminal_id,receipt_no,operation,amount\n2026-11-20,CT-X,1,sale,10.00\n";
        let post = |csrf: Option<&str>| {
            let mut r = c
                .post(format!("{}/api/v1/settlements", srv.url))
                .header(COOKIE, &fin)
                .body(csv);
            if let Some(t) = csrf {
                r = r.header("x-csrf-token", t);
            }
            r.send()
        };
        assert_eq!(post(None).await.unwrap().status(), StatusCode::FORBIDDEN);
        let forged = users::random_secret();
        assert_eq!(
            post(Some(&forged)).await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        let stored = |store: Store| async move {
            store
                .read(|sql| sql.query_one("SELECT COUNT(*) FROM settlement", &[]))
                .await
                .unwrap()
                .unwrap()
                .int(0)
        };
        assert_eq!(stored(db.store.clone()).await, 0, "nothing imported");
        let csrf = csrf_of(&srv.url, &fin, "/finance").await;
        assert_eq!(post(Some(&csrf)).await.unwrap().status(), 200);
        assert_eq!(stored(db.store.clone()).await, 1);
        // The finance page's upload form (multipart), with and without its token.
        let upload = |token: String| {
            let form = reqwest::multipart::Form::new().text("csrf", token).part(
                "file",
                reqwest::multipart::Part::bytes(
                    "date,card_terminal_id,receipt_no,operation,amount\n2026-11-20,CT-X,2,sale,5.00\n"
                        .as_bytes()
                        .to_vec(),
                )
                .file_name("settlement.csv"),
            );
            c.post(format!("{}/finance/settlement", srv.url))
                .header(COOKIE, &fin)
                .multipart(form)
                .send()
        };
        assert_eq!(
            upload(users::random_secret()).await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        let ok = upload(csrf.clone()).await.unwrap();
        assert_eq!(ok.status(), 200);
        assert!(ok.text().await.unwrap().contains("новых: 1"));
        assert_eq!(stored(db.store.clone()).await, 2);
        // Another session's token does not fit this session.
        let boss = session(&srv.url, "boss").await;
        let boss_csrf = csrf_of(&srv.url, &boss, "/admin/users").await;
        let add = |token: &str| {
            c.post(format!("{}/admin/users", srv.url))
                .header(COOKIE, &boss)
                .form(&[
                    ("username", "newtech"),
                    ("role", "technician"),
                    ("csrf", token),
                ])
                .send()
        };
        assert_eq!(add(&csrf).await.unwrap().status(), StatusCode::FORBIDDEN);
        let added = add(&boss_csrf).await.unwrap();
        assert_eq!(added.status(), 200);
        let page = added.text().await.unwrap();
        let password = page
            .split("id=\"secret\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .unwrap()
            .to_string();
        let (st, _, _) = login(&srv.url, "newtech", &password).await;
        assert_eq!(st, StatusCode::SEE_OTHER, "the shown password works");
        // A role change through the page is audited.
        let r = c
            .post(format!("{}/admin/users/newtech/role", srv.url))
            .header(COOKIE, &boss)
            .form(&[("role", "finance"), ("csrf", boss_csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let changes: Vec<_> = db
            .store
            .read(|sql| back_office::audit::latest(sql, 50))
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.action == "role_changed")
            .map(|a| (a.actor, a.target, a.detail))
            .collect();
        assert_eq!(
            changes,
            [(
                "boss".to_string(),
                "newtech".to_string(),
                "technician -> finance".to_string()
            )]
        );
    }
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let db = common::sqlite().await;
    add_user(&db.store, "tech", Role::Technician).await;
    let state = AppState::new(db.store.clone()).with_session_ttl(std::time::Duration::from_secs(1));
    let srv = Srv::start(state).await;
    let tech = session(&srv.url, "tech").await;
    let get = |accept: &'static str| {
        client()
            .get(format!("{}/fleet", srv.url))
            .header(COOKIE, &tech)
            .header(ACCEPT, accept)
            .send()
    };
    assert_eq!(get(HTML).await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(get(HTML).await.unwrap().status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get("application/json").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn api_tokens_carry_their_users_role() {
    for db in all_stores().await {
        let tech = api_token(&db.store, "tech", "technician").await;
        let fin = api_token(&db.store, "fin", "finance").await;
        let srv = Srv::start(AppState::new(db.store.clone())).await;
        let status = |token: String, path: &'static str| {
            let url = format!("{}{path}", srv.url);
            async move {
                common::authed(&token)
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        let report = "/api/v1/reports/reconciliation?from=2026-11-01&to=2026-11-30";
        assert_eq!(status(tech.clone(), "/api/v1/fleet").await, 200);
        assert_eq!(status(tech.clone(), report).await, StatusCode::FORBIDDEN);
        assert_eq!(status(fin.clone(), report).await, 200);
        assert_eq!(
            status(fin.clone(), "/api/v1/fleet").await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(format!("bo_{}", users::random_secret()), "/api/v1/fleet").await,
            StatusCode::UNAUTHORIZED
        );
        // A token needs no CSRF token: it is no ambient credential.
        let r = common::authed(&fin)
            .post(format!("{}/api/v1/export/credited", srv.url))
            .body("kind,terminal_id,id\n")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "[{}]", db.label);
        // The role is the user's current one, and a disabled user's token stops working.
        db.store
            .run("t", |sql| users::set_role(sql, "tech", Role::Finance))
            .await
            .unwrap();
        assert_eq!(status(tech.clone(), report).await, 200);
        db.store
            .run("t", |sql| users::disable(sql, "tech"))
            .await
            .unwrap();
        assert_eq!(status(tech, report).await, StatusCode::UNAUTHORIZED);
        let hashes = db
            .store
            .read(|sql| sql.query("SELECT token_hash FROM api_tokens", &[]))
            .await
            .unwrap();
        assert!(
            hashes.iter().all(|r| !r.text(0).starts_with("bo_")),
            "stored hashed"
        );
    }
}

#[tokio::test]
async fn admins_list_and_revoke_api_tokens_on_the_users_page() {
    for db in all_stores().await {
        add_user(&db.store, "boss", Role::Admin).await;
        let keep = api_token(&db.store, "fin", "finance").await;
        let gone = db
            .store
            .run("t", |sql| {
                users::add_token(sql, "fin", "скрипт сверки", &back_office::now_utc())
            })
            .await
            .unwrap();
        let (keep_id, gone_id) = (users::token_id(&keep), users::token_id(&gone));
        let srv = Srv::start(AppState::new(db.store.clone())).await;
        let report = format!(
            "{}/api/v1/reports/reconciliation?from=2026-11-01&to=2026-11-30",
            srv.url
        );
        let status = |token: String| {
            let url = report.clone();
            async move {
                common::authed(&token)
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(status(gone.clone()).await, 200);

        let boss = session(&srv.url, "boss").await;
        let page = client()
            .get(format!("{}/admin/users", srv.url))
            .header(COOKIE, &boss)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for want in [
            keep_id.as_str(),
            gone_id.as_str(),
            "скрипт сверки",
            "Отозвать",
        ] {
            assert!(page.contains(want), "[{}] {want} not listed", db.label);
        }
        assert!(
            !page.contains(&gone) && !page.contains(&keep),
            "a token shown again"
        );
        let revoke = |csrf: String| {
            client()
                .post(format!("{}/admin/tokens/{gone_id}/revoke", srv.url))
                .header(COOKIE, &boss)
                .form(&[("csrf", csrf)])
                .send()
        };
        // Without the page's CSRF token nothing is revoked.
        assert_eq!(
            revoke(users::random_secret()).await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(status(gone.clone()).await, 200);
        let csrf = csrf_of(&srv.url, &boss, "/admin/users").await;
        let r = revoke(csrf.clone()).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("отозван"));
        assert_eq!(
            status(gone).await,
            StatusCode::UNAUTHORIZED,
            "[{}] revoked token works",
            db.label
        );
        assert_eq!(status(keep).await, 200, "the other token was revoked too");
        // Revoking it again, or an id that names nothing, is refused and changes nothing.
        assert_eq!(
            revoke(csrf).await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
        let left = db.store.read(users::list_tokens).await.unwrap();
        assert_eq!(
            left.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            [keep_id.as_str()]
        );
        let audit = db
            .store
            .read(|sql| back_office::audit::latest(sql, 20))
            .await
            .unwrap();
        let e = audit
            .iter()
            .find(|e| e.action == "token_revoked")
            .expect("audited");
        assert_eq!((e.actor.as_str(), e.target.as_str()), ("boss", "fin"));
        assert!(e.detail.starts_with(&gone_id), "{}", e.detail);
        assert_eq!(
            audit.iter().filter(|e| e.action == "token_revoked").count(),
            1
        );
    }
}

#[test]
fn the_cli_lists_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bo.sqlite");
    let bin = env!("CARGO_BIN_EXE_back-office");
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(bin)
            .arg("--database-url")
            .arg(&db)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(
        &[
            "user",
            "add",
            "fin",
            "--role",
            "finance",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(ok, "{err}");
    let (ok, token, err) = run(&["token", "add", "fin", "--label", "billing"], None);
    assert!(ok, "{err}");
    let token = token.trim().to_string();
    let id = users::token_id(&token);
    assert!(err.contains(&id), "the id is not told: {err}");
    let (ok, list, _) = run(&["token", "list"], None);
    assert!(ok);
    let line = list.lines().find(|l| l.starts_with(&id)).expect("listed");
    assert!(
        line.contains("\tfin\tbilling\t") && line.ends_with("never used"),
        "{line}"
    );
    assert!(!list.contains(&token), "the token itself listed");
    let (ok, _, err) = run(&["token", "revoke", "0123456789ab"], None);
    assert!(!ok && err.contains("no API token"), "{err}");
    let (ok, out, err) = run(&["token", "revoke", &id], None);
    assert!(ok && out.contains("revoked"), "{out}{err}");
    let (_, list, _) = run(&["token", "list"], None);
    assert!(!list.contains(&id), "{list}");
    let (ok, _, err) = run(&["token", "revoke", &id], None);
    assert!(!ok, "revoked twice: {err}");
}

#[tokio::test]
async fn a_flood_of_forged_terminal_requests_does_not_grow_the_incident_tables() {
    for db in all_stores().await {
        let key_hex = add_terminal(&db.store, "F1").await;
        let srv = Srv::start(AppState::new(db.store.clone())).await;
        let wrong = auth::decode_key(&auth::generate_key_hex()).unwrap();
        let c = Client::new();
        let path = "/api/v1/heartbeat";
        let send = |terminal: String, key: Vec<u8>| {
            let body = b"{}".to_vec();
            let h = auth::sign(
                &key,
                &terminal,
                chrono::Utc::now().timestamp(),
                "POST",
                path,
                &body,
            );
            c.post(format!("{}{path}", srv.url))
                .header(auth::HEADER_TERMINAL, h.terminal_id)
                .header(auth::HEADER_TIMESTAMP, h.timestamp.to_string())
                .header(auth::HEADER_NONCE, h.nonce)
                .header(auth::HEADER_SIGNATURE, h.signature)
                .body(body)
                .send()
        };
        let flood = 400;
        for i in 0..flood {
            // Every request claims another unregistered terminal, or forges the registered one.
            let r = send(format!("X{i}"), wrong.clone()).await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            let r = send("F1".into(), wrong.clone()).await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        let rows = |sql: &str| {
            let sql = sql.to_string();
            let store = db.store.clone();
            async move { store.read(move |s| s.query(&sql, &[])).await.unwrap() }
        };
        let single = rows("SELECT COUNT(*) FROM incidents").await[0].int(0);
        let agg =
            rows("SELECT code, terminal_id, source, count FROM incident_counts ORDER BY code")
                .await;
        assert_eq!(single, 0, "[{}] no row per refusal", db.label);
        assert!(
            agg.len() <= 4,
            "[{}] one row per source, kind and window: {agg:?}",
            db.label
        );
        let counted = |code: &str| -> i64 {
            agg.iter()
                .filter(|r| r.text(0) == code)
                .map(|r| r.int(3))
                .sum()
        };
        // Counts are exact up to the last unflushed batch (a window boundary may split them).
        for code in ["unknown_terminal", "bad_signature"] {
            let n = counted(code);
            assert!(
                n > flood - 2 * back_office::incidents::FLUSH_EVERY && n <= flood,
                "{code}: {n}"
            );
        }
        assert!(agg.iter().all(|r| r.text(2) == "127.0.0.1"), "{agg:?}");
        assert!(agg
            .iter()
            .filter(|r| r.text(0) == "unknown_terminal")
            .all(|r| r.opt_text(1).is_none()));
        // The real terminal still gets through.
        let ok = send("F1".into(), auth::decode_key(&key_hex).unwrap())
            .await
            .unwrap();
        assert_ne!(ok.status(), StatusCode::UNAUTHORIZED);
        // And the fleet view shows the aggregated incidents with their counts.
        let list = db
            .store
            .read(|sql| back_office::incidents::latest(sql, 10))
            .await
            .unwrap();
        assert!(
            list.iter()
                .any(|i| i.code == "bad_signature" && i.count > 1),
            "{list:?}"
        );
    }
}
