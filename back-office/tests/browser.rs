//! The back office in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! `chromedriver`. Unauthenticated `/fleet` lands on the login page; a technician logs in through
//! the real form (its CSRF field, the session cookie the server sets) and opens a terminal page;
//! the same technician is refused the reconciliation export; a finance user downloads it; an
//! admin issues a kiosk's enrolment code, which redeems once.
//!
//! Runs when chromedriver is found (`KIOSK_CHROMEDRIVER`, else `/usr/bin/chromedriver`, else on
//! `PATH`). With `KIOSK_BROWSER_TESTS=1` or `CI=true` a missing chromedriver is a failure, not a
//! skip. `KIOSK_SCREENSHOTS=DIR` (relative to the repository root) keeps the login, fleet,
//! terminal and enrolment pages as PNG files there (`docs/screens/back-office`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use back_office::testkit::JournalWriter;
use back_office::users::{self, Role};
use back_office::Store;
use backend_sync::event::OutageLevel;
use backend_sync::wire::Heartbeat;
use backend_sync::{JournalEvent, JournalRecord};
use chrono::{DateTime, Utc};
use fantoccini::{Client, ClientBuilder, Locator};

const PASSWORD: &str = "пароль техника 2026";
const FINANCE_PASSWORD: &str = "пароль финансиста 2026";
const ADMIN_PASSWORD: &str = "пароль администратора 2026";

/// Where chromedriver is, or why the test does not run.
fn chromedriver() -> Option<PathBuf> {
    let required = std::env::var("KIOSK_BROWSER_TESTS").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true");
    let found = std::env::var_os("KIOSK_CHROMEDRIVER")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/bin/chromedriver")])
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join("chromedriver"))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
        .find(|p| p.is_file());
    match found {
        Some(p) => Some(p),
        None if required => panic!(
            "KIOSK_BROWSER_TESTS=1 or CI=true, but chromedriver was not found: apt-get install chromium chromium-driver"
        ),
        None => {
            eprintln!("browser test skipped: no chromedriver (apt-get install chromium chromium-driver)");
            None
        }
    }
}

/// A chromedriver process on a free loopback port, ended when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start(path: &Path) -> anyhow::Result<Driver> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let child = tokio::process::Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = reqwest::get(format!("{url}/status")).await {
                if r.status().is_success() {
                    break;
                }
            }
            ensure!(
                Instant::now() < deadline,
                "chromedriver did not answer on {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Driver { child, url })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A headless Chromium session with its own profile and download folder.
async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> anyhow::Result<Client> {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": std::env::var("KIOSK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000", "--lang=ru-RU",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
            },
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        bail!("capabilities are not an object");
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    Ok(ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await?)
}

// ------------------------------------------------------------------ the fleet shown

fn ago(now: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
    now - chrono::Duration::minutes(minutes)
}

fn device(device: &str, state: &str, detail: &str) -> JournalEvent {
    JournalEvent::DeviceStateChanged {
        device: device.into(),
        state: state.into(),
        detail: detail.into(),
    }
}

/// A day of payments at one kiosk: cash and card, spread from `from` to `to` minutes ago.
fn trading_day(
    w: &mut JournalWriter,
    now: DateTime<Utc>,
    from: i64,
    to: i64,
    n: i64,
) -> Vec<JournalRecord> {
    let accounts = ["1000000001", "1000000028", "1000000036"];
    let bills: [&[i64]; 4] = [
        &[100_000],
        &[50_000, 10_000],
        &[200_000, 50_000],
        &[500_000],
    ];
    let mut out = Vec::new();
    for i in 0..n {
        w.clock = ago(now, from - (from - to) * i / n.max(1));
        let account = accounts[i as usize % accounts.len()];
        if i % 3 == 2 {
            out.extend(w.card_payment(account, 123_456 + i * 10_000).0);
        } else {
            out.extend(w.cash_payment(account, bills[i as usize % bills.len()]));
        }
    }
    out
}

fn beat(
    id: &str,
    now: DateTime<Utc>,
    state: &str,
    devices: &[(&str, &str)],
    paper: &str,
    outage: Option<u32>,
) -> Heartbeat {
    Heartbeat {
        version: backend_sync::wire::WIRE_VERSION,
        terminal_id: id.into(),
        time_utc: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        software_version: "0.1.0".into(),
        service_state: state.into(),
        devices: devices
            .iter()
            .map(|(d, s)| (d.to_string(), s.to_string()))
            .collect(),
        paper: paper.into(),
        queue_len: if state == "in_service" { 0 } else { 3 },
        sync_lag_seconds: if state == "in_service" { 0 } else { 40 },
        outage_working_minutes: outage,
    }
}

/// Three kiosks as a technician meets them on a weekday: one in order (Moscow), one printing on
/// its last metres of paper (Yekaterinburg), one out of service for 45 working minutes with a
/// jammed validator and a stuck note (Moscow).
async fn seed_fleet(store: &Store, now: DateTime<Utc>) {
    let up = [
        ("bill_validator", "up"),
        ("card_reader", "up"),
        ("printer", "up"),
        ("fiscal_module", "up"),
    ];
    let mut kiosks: Vec<(&str, &str, Vec<JournalRecord>, Heartbeat)> = Vec::new();

    let mut w = JournalWriter::new("T-001", ago(now, 600));
    let mut recs = vec![w.push(
        &JournalEvent::TerminalStarted {
            version: "0.1.0".into(),
            terminal_id: "T-001".into(),
        },
        0,
    )];
    recs.extend(trading_day(&mut w, now, 590, 300, 12));
    w.clock = ago(now, 290);
    recs.push(w.push(
        &JournalEvent::ServiceLogin {
            method: "card".into(),
            succeeded: true,
            locked_out: false,
        },
        0,
    ));
    recs.push(w.push(
        &JournalEvent::ServiceOperation {
            operation: "encashment".into(),
            detail: "кассета заменена".into(),
        },
        1_000,
    ));
    recs.extend(w.encashment("T-001-E0042", &[]));
    recs.extend(trading_day(&mut w, now, 280, 10, 9));
    kiosks.push((
        "T-001",
        "Europe/Moscow",
        recs,
        beat("T-001", now, "in_service", &up, "ok", None),
    ));

    let mut w = JournalWriter::new("T-002", ago(now, 500));
    let mut recs = vec![w.push(
        &JournalEvent::TerminalStarted {
            version: "0.1.0".into(),
            terminal_id: "T-002".into(),
        },
        0,
    )];
    recs.extend(trading_day(&mut w, now, 490, 60, 10));
    w.clock = ago(now, 50);
    recs.push(w.push(&device("printer", "warning", "paper near end"), 0));
    recs.push(w.push(
        &JournalEvent::ServiceStateChanged {
            state: "degraded".into(),
            detail: "cash, card, e-receipt".into(),
        },
        10,
    ));
    recs.extend(trading_day(&mut w, now, 45, 5, 3));
    let mut devices = up;
    devices[2].1 = "warning";
    kiosks.push((
        "T-002",
        "Asia/Yekaterinburg",
        recs,
        beat("T-002", now, "degraded", &devices, "near_end", None),
    ));

    let mut w = JournalWriter::new("T-003", ago(now, 400));
    let mut recs = vec![w.push(
        &JournalEvent::TerminalStarted {
            version: "0.1.0".into(),
            terminal_id: "T-003".into(),
        },
        0,
    )];
    recs.extend(trading_day(&mut w, now, 390, 70, 7));
    w.clock = ago(now, 60);
    recs.extend(w.cash_payment_with_stuck_note("1000000028", &[50_000], 100_000, "T-003-S0007"));
    recs.push(w.push(
        &device(
            "bill_validator",
            "down",
            "needs_attendant: validator jammed",
        ),
        1_000,
    ));
    recs.push(w.push(
        &device(
            "card_reader",
            "down",
            "communication: no answer on the line",
        ),
        5_000,
    ));
    recs.push(w.push(
        &JournalEvent::ServiceStateChanged {
            state: "out_of_service".into(),
            detail: "no payment method works".into(),
        },
        10,
    ));
    recs.push(w.push(
        &JournalEvent::OutageAlert {
            level: OutageLevel::Started,
            outage_id: "T-003-O0003".into(),
            working_minutes: 0,
            detail: "no payment method works".into(),
        },
        10,
    ));
    recs.push(w.push(
        &JournalEvent::RecoveryStep {
            device: "bill_validator".into(),
            step: "reopen_port".into(),
            succeeded: false,
        },
        30_000,
    ));
    recs.push(w.push(
        &JournalEvent::RecoveryStep {
            device: "bill_validator".into(),
            step: "protocol_reset".into(),
            succeeded: false,
        },
        30_000,
    ));
    w.clock = ago(now, 45 - 30);
    recs.push(w.push(
        &JournalEvent::OutageAlert {
            level: OutageLevel::Escalated,
            outage_id: "T-003-O0003".into(),
            working_minutes: 30,
            detail: "no payment method works".into(),
        },
        0,
    ));
    w.clock = ago(now, 8);
    recs.push(w.push(
        &JournalEvent::ServiceLogin {
            method: "pin".into(),
            succeeded: false,
            locked_out: false,
        },
        0,
    ));
    let devices = [
        ("bill_validator", "down"),
        ("card_reader", "down"),
        ("printer", "up"),
        ("fiscal_module", "up"),
    ];
    kiosks.push((
        "T-003",
        "Europe/Moscow",
        recs,
        beat("T-003", now, "out_of_service", &devices, "ok", Some(45)),
    ));

    for (id, tz, recs, hb) in kiosks {
        common::add_terminal(store, id).await;
        let (id, tz) = (id.to_string(), tz.to_string());
        store
            .run("t", move |sql| -> anyhow::Result<()> {
                back_office::terminals::set_time_zone(sql, &id, &tz)?;
                let n = back_office::now_utc();
                let reply = back_office::ingest::ingest(sql, &id, &recs, &n)?;
                ensure!(reply.accepted as usize == recs.len(), "{id}: {reply:?}");
                back_office::terminals::heartbeat(sql, &hb, &n)?;
                Ok(())
            })
            .await
            .unwrap();
    }
}

async fn add_user(store: &Store, name: &str, role: Role, password: &str) {
    let (name, password) = (name.to_string(), password.to_string());
    store
        .run("t", move |sql| -> Result<(), users::UserError> {
            let hash = users::hash_password(&password)?;
            users::add(sql, &name, role, &hash, &back_office::now_utc())
        })
        .await
        .unwrap();
}

// ------------------------------------------------------------------ the walk

/// The page's visible text.
async fn text(c: &Client) -> anyhow::Result<String> {
    Ok(c.find(Locator::Css("body")).await?.text().await?)
}

/// Fills in the login form and sends it, as a person would.
async fn submit_login(c: &Client, user: &str, password: &str) -> anyhow::Result<()> {
    c.find(Locator::Id("username"))
        .await?
        .send_keys(user)
        .await?;
    c.find(Locator::Id("password"))
        .await?
        .send_keys(password)
        .await?;
    c.find(Locator::Id("login")).await?.click().await?;
    Ok(())
}

/// Logs in through the form; returns the path the browser landed on.
async fn log_in(c: &Client, user: &str, password: &str) -> anyhow::Result<String> {
    submit_login(c, user, password).await?;
    wait_path(c, |p| p != "/login")
        .await
        .context("the login form did not lead anywhere")
}

/// Waits (up to 10 s) until the browser's path satisfies `want`; returns the path.
async fn wait_path(c: &Client, want: impl Fn(&str) -> bool) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let at = c.current_url().await?;
        if want(at.path()) {
            return Ok(at.path().to_string());
        }
        ensure!(Instant::now() < deadline, "still at {at}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What `fetch(path)` with the browser's own cookies answers: (status, content type).
async fn fetch_status(c: &Client, path: &str) -> anyhow::Result<(u64, String)> {
    let v = c
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(arguments[0], {credentials: 'same-origin', redirect: 'manual'})\
               .then(r => done([r.status, r.headers.get('content-type') || '']))\
               .catch(e => done([0, String(e)]));",
            vec![serde_json::json!(path)],
        )
        .await?;
    let status = v[0].as_u64().ok_or_else(|| anyhow!("no status in {v}"))?;
    Ok((status, v[1].as_str().unwrap_or_default().to_string()))
}

/// The page as a PNG, the window made as tall as the page (up to 2400 px) for the picture.
async fn screenshot(c: &Client, dir: &Path, name: &str) -> anyhow::Result<()> {
    let height = c
        .execute("return document.documentElement.scrollHeight", vec![])
        .await?
        .as_u64()
        .unwrap_or(1000)
        .clamp(700, 2400);
    c.set_window_size(1280, height as u32 + 140).await?;
    let png = c.screenshot().await?;
    c.set_window_size(1280, 1000).await?;
    ensure!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png)?;
    Ok(())
}

/// A finished download in `dir` whose name starts with `prefix`.
async fn downloaded(dir: &Path, prefix: &str) -> anyhow::Result<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with(prefix) && !name.ends_with(".crdownload") && !name.starts_with(".")
            {
                return Ok(p);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "no {prefix}* downloaded into {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn files_in(dir: &Path) -> anyhow::Result<Vec<String>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect())
}

async fn walk(c: &Client, base: &str, shots: &Path, downloads: &Path) -> anyhow::Result<()> {
    // Not logged in: the fleet page sends the browser to the login form, remembering where to.
    c.goto(&format!("{base}/fleet")).await?;
    let at = c.current_url().await?;
    ensure!(
        at.path() == "/login",
        "unauthenticated /fleet ended at {at}"
    );
    ensure!(
        at.query() == Some("next=%2Ffleet") || at.query() == Some("next=/fleet"),
        "next lost: {at}"
    );
    ensure!(
        text(c).await?.contains("Вход в бэк-офис"),
        "not the login page"
    );
    let csrf = c
        .find(Locator::Css("#login-form input[name=csrf]"))
        .await?
        .attr("value")
        .await?;
    ensure!(
        csrf.is_some_and(|v| v.len() >= 32),
        "the login form has no CSRF token"
    );
    screenshot(c, shots, "login").await?;

    // A wrong password is refused with a Russian message and no session.
    submit_login(c, "ivanov", "не тот пароль").await?;
    let error = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("error"))
        .await
        .context("no refusal shown for a wrong password")?;
    ensure!(
        error.text().await?.contains("Неверное"),
        "refusal: {}",
        error.text().await?
    );
    ensure!(
        c.current_url().await?.path() == "/login",
        "a wrong password got in"
    );
    ensure!(
        c.get_named_cookie("bo_session").await.is_err(),
        "a wrong password got a session"
    );

    // The technician logs in and lands where they were going.
    c.goto(&format!("{base}/fleet")).await?;
    let at = log_in(c, "ivanov", PASSWORD).await?;
    ensure!(at == "/fleet", "after login: {at}");
    let session = c
        .get_named_cookie("bo_session")
        .await
        .context("no session cookie")?;
    ensure!(
        session.http_only() == Some(true),
        "session cookie readable by scripts"
    );
    let same_site = format!("{:?}", session.same_site());
    ensure!(
        same_site == "Some(Strict)",
        "session cookie SameSite {same_site}"
    );
    let js_cookies = c.execute("return document.cookie", vec![]).await?;
    ensure!(
        !js_cookies
            .as_str()
            .unwrap_or_default()
            .contains("bo_session"),
        "document.cookie shows the session"
    );
    let fleet = text(c).await?;
    for want in ["Парк терминалов", "T-001", "T-002", "T-003", "ivanov"] {
        ensure!(fleet.contains(want), "fleet page lacks {want:?}");
    }
    screenshot(c, shots, "fleet").await?;

    // The terminal page, through the fleet page's link.
    c.find(Locator::Css("a[href='/terminals/T-003']"))
        .await?
        .click()
        .await?;
    wait_path(c, |p| p == "/terminals/T-003").await?;
    let page = text(c).await?;
    for want in ["Купюроприёмник", "Застрявшие", "T-003-S0007", "Простои"]
    {
        ensure!(page.contains(want), "terminal page lacks {want:?}");
    }
    screenshot(c, shots, "terminal").await?;

    // The technician may not have the reconciliation: not the page, not the file.
    let (from, to) = (
        (Utc::now() - chrono::Days::new(7))
            .format("%Y-%m-%d")
            .to_string(),
        (Utc::now() + chrono::Days::new(1))
            .format("%Y-%m-%d")
            .to_string(),
    );
    let export = format!("/api/v1/reports/reconciliation.xlsx?from={from}&to={to}");
    ensure!(
        fetch_status(c, &export).await?.0 == 403,
        "technician got the export"
    );
    c.goto(&format!("{base}/finance")).await?;
    ensure!(
        text(c).await?.contains("Доступ запрещён"),
        "technician saw /finance: {}",
        text(c).await?
    );
    c.goto(&format!("{base}{export}")).await?;
    ensure!(
        text(c).await?.contains("Доступ запрещён"),
        "no refusal page for the export"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(
        files_in(downloads)?.is_empty(),
        "technician downloaded {:?}",
        files_in(downloads)?
    );

    // Logging out ends the session: the fleet page wants a login again.
    c.goto(&format!("{base}/fleet")).await?;
    c.find(Locator::Id("logout")).await?.click().await?;
    wait_path(c, |p| p == "/login").await?;
    c.goto(&format!("{base}/fleet")).await?;
    ensure!(
        c.current_url().await?.path() == "/login",
        "the session outlived logout"
    );

    // Finance logs in, lands on /finance and downloads the workbook with its button.
    c.goto(&format!("{base}/login")).await?;
    let at = log_in(c, "petrova", FINANCE_PASSWORD).await?;
    ensure!(at == "/finance", "finance landed at {at}");
    ensure!(
        fetch_status(c, &export).await?.0 == 200,
        "finance refused the export"
    );
    c.find(Locator::Id("download-xlsx")).await?.click().await?;
    let file = downloaded(downloads, "reconciliation").await?;
    let bytes = std::fs::read(&file)?;
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("the download is no XLSX")?;
    ensure!(
        zip.by_name("xl/workbook.xml").is_ok(),
        "{} has no workbook",
        file.display()
    );
    c.find(Locator::Id("logout")).await?.click().await?;
    wait_path(c, |p| p == "/login").await?;
    enrol_as_admin(c, base, shots).await
}

/// An admin issues a kiosk's enrolment code on the terminals page; the code redeems once.
async fn enrol_as_admin(c: &Client, base: &str, shots: &Path) -> anyhow::Result<()> {
    c.goto(&format!("{base}/admin/terminals")).await?;
    log_in(c, "sidorova", ADMIN_PASSWORD).await?;
    // A new kiosk is registered through the form; its id is one a kiosk can use (T-001 is not).
    c.goto(&format!("{base}/admin/terminals")).await?;
    ensure!(
        c.find(Locator::Id("enrol-T-001")).await.is_err(),
        "an enrolment code offered for an id no kiosk can use"
    );
    c.find(Locator::Id("terminal-id"))
        .await?
        .send_keys("0042")
        .await?;
    c.find(Locator::Id("add-terminal-submit"))
        .await?
        .click()
        .await?;
    // The key page, not the list the click was made on: the POST is through.
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("secret"))
        .await
        .context("registering 0042 showed no key")?;
    c.goto(&format!("{base}/admin/terminals")).await?;
    c.find(Locator::Id("enrol-0042")).await?.click().await?;
    wait_path(c, |p| p == "/admin/terminals/0042/enrol").await?;
    let code = c.find(Locator::Id("secret")).await?.text().await?;
    ensure!(
        code.len() == 23 && code.matches('-').count() == 3,
        "not an enrolment code: {code:?}"
    );
    ensure!(
        text(c).await?.contains("terminal enrol --back-office"),
        "the page does not say what to run on the kiosk"
    );
    screenshot(c, shots, "enrolment").await?;
    let redeem = |code: String| async move {
        let v = c
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 fetch('/api/v1/enrol', {method: 'POST', headers: {'content-type': 'application/json'},\
                   body: JSON.stringify({code: arguments[0]})})\
                   .then(r => r.json().then(b => done([r.status, b])))\
                   .catch(e => done([0, String(e)]));",
                vec![serde_json::json!(code)],
            )
            .await?;
        anyhow::Ok((v[0].as_u64().unwrap_or(0), v[1].clone()))
    };
    let (status, body) = redeem(code.clone()).await?;
    ensure!(
        status == 200 && body["terminal_id"] == "0042",
        "the code did not enrol 0042: {status} {body}"
    );
    let (status, body) = redeem(code).await?;
    ensure!(
        status == 403 && body["error"] == "enrolment_refused",
        "a used code worked again: {status} {body}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn technician_and_finance_in_a_real_browser() {
    let Some(driver_path) = chromedriver() else {
        return;
    };
    let started = Instant::now();
    let db = common::sqlite().await;
    seed_fleet(&db.store, Utc::now()).await;
    add_user(&db.store, "ivanov", Role::Technician, PASSWORD).await;
    add_user(&db.store, "petrova", Role::Finance, FINANCE_PASSWORD).await;
    add_user(&db.store, "sidorova", Role::Admin, ADMIN_PASSWORD).await;
    eprintln!(
        "fleet and users ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let server = common::Server::start(db.store.clone()).await;
    let base = format!("http://{}", server.addr);

    let tmp = tempfile::tempdir().unwrap();
    let (profile, downloads) = (tmp.path().join("profile"), tmp.path().join("downloads"));
    std::fs::create_dir_all(&downloads).unwrap();
    // A relative KIOSK_SCREENSHOTS is taken from the repository root, not this crate's folder.
    let shots = std::env::var_os("KIOSK_SCREENSHOTS")
        .map(|d| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(d))
        .unwrap_or_else(|| tmp.path().join("screens"));
    std::fs::create_dir_all(&shots).unwrap();

    let driver = Driver::start(&driver_path).await.unwrap();
    let client = browser(&driver, &profile, &downloads).await.unwrap();
    eprintln!("browser up after {:.1} s", started.elapsed().as_secs_f64());
    let result = walk(&client, &base, &shots, &downloads).await;
    let closed = client.close().await;
    drop(driver);
    result.unwrap();
    closed.unwrap();
    for name in ["login", "fleet", "terminal", "enrolment"] {
        assert!(shots.join(format!("{name}.png")).is_file());
    }
    eprintln!("browser walk took {:.1} s", started.elapsed().as_secs_f64());
}
