//! Alerts end to end: a simulated terminal goes out of service → exactly one "started" alert
//! reaches a local webhook receiver (after the confirmation delay), an update at 30 working
//! minutes on the same thread, a recovery notice when it is back; a blip shorter than the
//! confirmation delay and an outage during a technician's visit send nothing; a receiver that
//! fails twice gets the alert on the third try. Telegram (a local fake of its HTTP API) gets
//! one message edited by the escalation. On both stores.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Json;
use back_office::alerts::dispatch::{self, Dispatcher};
use back_office::alerts::{AlertConfig, Secret, TelegramConfig, WebhookConfig};
use back_office::ingest::ingest;
use back_office::testkit::JournalWriter;
use back_office::Store;
use backend_sync::event::OutageLevel;
use backend_sync::{JournalEvent, JournalRecord};
use common::{add_terminal, all_stores};

#[derive(Default)]
struct Receiver {
    /// Requests still to refuse with 500.
    fail_next: AtomicUsize,
    requests: AtomicUsize,
    accepted: Mutex<Vec<serde_json::Value>>,
    /// Telegram calls: (method, body).
    telegram: Mutex<Vec<(String, serde_json::Value)>>,
}

async fn hook(State(r): State<Arc<Receiver>>, Json(v): Json<serde_json::Value>) -> StatusCode {
    r.requests.fetch_add(1, Ordering::SeqCst);
    let fail = r
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.accepted.lock().unwrap().push(v);
    StatusCode::OK
}

async fn telegram(
    State(r): State<Arc<Receiver>>,
    axum::extract::Path((bot, method)): axum::extract::Path<(String, String)>,
    Json(v): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    assert_eq!(bot, "botSECRET-TOKEN");
    let mut calls = r.telegram.lock().unwrap();
    calls.push((method, v));
    Json(serde_json::json!({"ok": true, "result": {"message_id": 1000 + calls.len()}}))
}

async fn receiver() -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver::default());
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .route("/tg/{bot}/{method}", post(telegram))
        .with_state(r.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (r, url)
}

fn outage(
    w: &mut JournalWriter,
    level: OutageLevel,
    id: &str,
    minutes: u32,
    step_ms: i64,
) -> JournalRecord {
    w.push(
        &JournalEvent::OutageAlert {
            level,
            outage_id: id.into(),
            working_minutes: minutes,
            detail: "bill validator and card reader down".into(),
        },
        step_ms,
    )
}

async fn send(store: &Store, t: &str, recs: Vec<JournalRecord>) {
    let t = t.to_string();
    store
        .run(&t.clone(), move |sql| {
            ingest(sql, &t, &recs, &back_office::now_utc())
        })
        .await
        .unwrap();
}

/// Waits until the receiver accepted `n` webhook messages (or 10 s passed).
async fn wait_for(r: &Receiver, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        if r.accepted.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.accepted.lock().unwrap().clone()
}

fn closed_office_now() -> back_office::alerts::WorkingHours {
    use chrono::Timelike;
    let h = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Moscow)
        .hour();
    back_office::alerts::WorkingHours {
        start: format!("{:02}:00", (h + 2) % 24),
        end: format!("{:02}:00", (h + 3) % 24),
    }
}

/// The delivery log on the terminal page and the admins' alerts page.
async fn check_pages(store: &Store) {
    let server = common::Server::start(store.clone()).await;
    let admin = common::authed(&common::api_token(store, "adm", "admin").await);
    let get = |path: &str| {
        let admin = admin.clone();
        let url = format!("{}{path}", server.url());
        async move { admin.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let term = get("terminals/A4").await;
    let table = term
        .split("id=\"alerts\"")
        .nth(1)
        .expect("alert log on the terminal page");
    assert!(
        table.contains("webhook1") && table.contains("доставлено"),
        "{table}"
    );
    assert!(
        !table.contains(">A1<"),
        "only this terminal's alerts: {table}"
    );
    let all = get("admin/alerts").await;
    assert!(
        all.contains("id=\"alert-log\"") && all.contains(">A2<") && all.contains("плановые работы"),
        "{all}"
    );
    server.kill();
}

fn writer(t: &str) -> JournalWriter {
    JournalWriter::new(t, chrono::Utc::now())
}

#[tokio::test]
async fn one_thread_per_outage_nothing_for_blips_and_planned_work_and_retries_until_delivered() {
    for db in all_stores().await {
        let (r, url) = receiver().await;
        for t in ["A1", "A2", "A3", "A4", "B1", "Q1"] {
            add_terminal(&db.store, t).await;
        }
        let config = AlertConfig {
            confirm_seconds: 2,
            first_retry_ms: 100,
            tick_ms: 50,
            webhooks: vec![WebhookConfig {
                url: format!("{url}/hook"),
                bearer: None,
            }],
            telegram: Some(TelegramConfig {
                base_url: format!("{url}/tg"),
                bot_token: Secret::new("SECRET-TOKEN"),
                chat_id: "-100".into(),
            }),
            // Office hours that exclude now: non-urgent alerts wait, outages do not.
            working_hours: Some(closed_office_now()),
            ..AlertConfig::default()
        };
        let d = Dispatcher::new(db.store.clone(), config).await.unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(d.run(async {
            let _ = stop_rx.await;
        }));

        // A blip: back within the confirmation delay.
        let mut b = writer("B1");
        let blip = vec![
            outage(&mut b, OutageLevel::Started, "B1-O1", 0, 0),
            outage(&mut b, OutageLevel::Recovered, "B1-O1", 0, 400),
        ];
        send(&db.store, "B1", blip).await;
        // A technician's visit: logged in, then the kiosk is out of service while he works.
        let mut a2 = writer("A2");
        let visit = vec![
            a2.push(
                &JournalEvent::ServiceLogin {
                    method: "pin".into(),
                    succeeded: true,
                    locked_out: false,
                },
                0,
            ),
            outage(&mut a2, OutageLevel::Started, "A2-O1", 0, 60_000),
        ];
        send(&db.store, "A2", visit).await;
        // An outage the technician came to during its confirmation delay.
        let mut a3 = writer("A3");
        let during = vec![
            outage(&mut a3, OutageLevel::Started, "A3-O1", 0, 0),
            a3.push(
                &JournalEvent::ServiceOperation {
                    operation: "test_printer".into(),
                    detail: String::new(),
                },
                300,
            ),
        ];
        send(&db.store, "A3", during).await;

        // A stuck note is not urgent: it waits for the office to open.
        let mut q1 = writer("Q1");
        let stuck = q1.cash_payment_with_stuck_note("100000001", &[], 50_000, "Q1-N1");
        send(&db.store, "Q1", stuck).await;

        // The real outage.
        let mut a1 = writer("A1");
        send(
            &db.store,
            "A1",
            vec![outage(&mut a1, OutageLevel::Started, "A1-O1", 0, 0)],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(
            r.accepted.lock().unwrap().is_empty(),
            "[{}] sent within the confirmation delay",
            db.label
        );
        let got = wait_for(&r, 1).await;
        assert_eq!(got.len(), 1, "[{}] {got:?}", db.label);
        assert_eq!(
            (
                got[0]["terminal_id"].as_str(),
                got[0]["rule"].as_str(),
                got[0]["step"].as_str()
            ),
            (Some("A1"), Some("outage"), Some("opened")),
            "{got:?}"
        );
        let thread = got[0]["thread_id"].clone();

        // 30 working minutes later the terminal escalates; then it is back.
        send(
            &db.store,
            "A1",
            vec![outage(
                &mut a1,
                OutageLevel::Escalated,
                "A1-O1",
                30,
                30 * 60_000,
            )],
        )
        .await;
        let got = wait_for(&r, 2).await;
        assert_eq!(got.len(), 2, "[{}] {got:?}", db.label);
        assert_eq!(got[1]["step"], "updated");
        assert_eq!(got[1]["thread_id"], thread);
        assert!(got[1]["text"]
            .as_str()
            .unwrap()
            .contains("30 рабочих минут"));
        send(
            &db.store,
            "A1",
            vec![outage(
                &mut a1,
                OutageLevel::Recovered,
                "A1-O1",
                41,
                11 * 60_000,
            )],
        )
        .await;
        let got = wait_for(&r, 3).await;
        assert_eq!(got.len(), 3, "[{}] {got:?}", db.label);
        assert_eq!(
            (got[2]["step"].as_str(), &got[2]["thread_id"]),
            (Some("closed"), &thread)
        );
        assert!(got[2]["text"].as_str().unwrap().contains("снова работает"));

        // A receiver that fails twice gets it on the third try.
        r.fail_next.store(2, Ordering::SeqCst);
        let before = r.requests.load(Ordering::SeqCst);
        let mut a4 = writer("A4");
        send(
            &db.store,
            "A4",
            vec![outage(&mut a4, OutageLevel::Started, "A4-O1", 0, 0)],
        )
        .await;
        let got = wait_for(&r, 4).await;
        assert_eq!(got.len(), 4, "[{}] {got:?}", db.label);
        assert_eq!(got[3]["terminal_id"], "A4");
        assert_eq!(r.requests.load(Ordering::SeqCst) - before, 3);

        // Nothing more comes: not for the blip, not for the planned work.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let all = r.accepted.lock().unwrap().clone();
        assert_eq!(all.len(), 4, "[{}] {all:?}", db.label);
        let log = db
            .store
            .read(|sql| dispatch::log(sql, None, 100))
            .await
            .unwrap();
        let a4_hook = log
            .iter()
            .find(|l| l.terminal_id == "A4" && l.channel.as_deref() == Some("webhook1"))
            .unwrap();
        assert_eq!(
            (a4_hook.attempts, a4_hook.channel_status.as_deref()),
            (3, Some("delivered"))
        );
        assert!(a4_hook.last_error.is_none());
        for t in ["A2", "A3", "B1"] {
            let rows: Vec<_> = log.iter().filter(|l| l.terminal_id == t).collect();
            assert!(!rows.is_empty(), "[{}] {t} logged", db.label);
            assert!(
                rows.iter()
                    .all(|l| l.status == "suppressed" && l.channel.is_none()),
                "[{}] {t}: {rows:?}",
                db.label
            );
        }

        let q1_rows: Vec<_> = log.iter().filter(|l| l.terminal_id == "Q1").collect();
        assert!(
            q1_rows.len() == 1 && q1_rows[0].status == "pending" && q1_rows[0].channel.is_none(),
            "[{}] the stuck note waits for working hours: {q1_rows:?}",
            db.label
        );
        check_pages(&db.store).await;

        // Telegram: A1's message sent once, edited by the escalation, answered at recovery.
        let tg = r.telegram.lock().unwrap().clone();
        let methods: Vec<&str> = tg.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(
            methods,
            [
                "sendMessage",
                "editMessageText",
                "editMessageText",
                "sendMessage",
                "sendMessage"
            ],
            "[{}] {tg:?}",
            db.label
        );
        assert_eq!(tg[1].1["message_id"], 1001);
        assert_eq!(tg[3].1["reply_to_message_id"], 1001);
        assert!(log.iter().all(|l| !l
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("SECRET-TOKEN")));
        let _ = stop_tx.send(());
        task.await.unwrap();
    }
}

/// `back-office alerts test` sends one message through each configured channel, says how each
/// went, fails when one failed, and prints no secret.
#[tokio::test]
async fn the_alerts_test_command_reaches_every_channel() {
    let (r, url) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alerts.json");
    let write = |hook: &str| {
        std::fs::write(
            &cfg,
            serde_json::json!({
                "webhooks": [{"url": format!("{url}{hook}"), "bearer": "HOOK-SECRET"}],
                "telegram": {"base_url": format!("{url}/tg"), "bot_token": "SECRET-TOKEN", "chat_id": "-100"}
            })
            .to_string(),
        )
        .unwrap();
    };
    let (db_path, cfg_path) = (dir.path().join("bo.sqlite"), cfg.clone());
    let run = move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_back-office"))
            .args(["--database-url"])
            .arg(&db_path)
            .arg("--alerts-config")
            .arg(&cfg_path)
            .args(["alerts", "test"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains("SECRET"), "{text}");
        (out.status.success(), text)
    };
    write("/hook");
    let (ok, text) = tokio::task::spawn_blocking(run.clone()).await.unwrap();
    assert!(ok, "{text}");
    assert!(
        text.contains("webhook1: sent") && text.contains("telegram: sent"),
        "{text}"
    );
    assert_eq!(r.accepted.lock().unwrap()[0]["step"], "test");
    assert_eq!(r.telegram.lock().unwrap()[0].0, "sendMessage");
    write("/nowhere");
    let (ok, text) = tokio::task::spawn_blocking(run).await.unwrap();
    assert!(!ok && text.contains("webhook1: FAILED"), "{text}");
}

/// A minimal SMTP server on 127.0.0.1: accepts every message and keeps its text.
async fn smtp_fake() -> (Arc<Mutex<Vec<String>>>, u16) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mails = Arc::new(Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let keep = mails.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let keep = keep.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = sock.into_split();
                let mut rd = BufReader::new(rd);
                wr.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let (mut line, mut data, mut in_data) = (String::new(), String::new(), false);
                while rd.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            keep.lock().unwrap().push(std::mem::take(&mut data));
                            b"250 queued\r\n"
                        } else {
                            data.push_str(&line);
                            b""
                        }
                    } else {
                        match line.get(..4).unwrap_or("").to_ascii_uppercase().as_str() {
                            "EHLO" | "HELO" => b"250 fake\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go on\r\n"
                            }
                            "QUIT" => b"221 bye\r\n",
                            _ => b"250 ok\r\n",
                        }
                    };
                    wr.write_all(reply).await.unwrap();
                    line.clear();
                }
            });
        }
    });
    (mails, port)
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

/// E-mail: the escalation and the recovery answer the outage's first message.
#[tokio::test]
async fn e_mail_alerts_of_one_outage_are_one_thread() {
    let db = common::sqlite().await;
    add_terminal(&db.store, "E1").await;
    let (mails, port) = smtp_fake().await;
    let config = AlertConfig {
        confirm_seconds: 0,
        tick_ms: 50,
        email: Some(back_office::alerts::EmailConfig {
            smtp: back_office::smtp::SmtpConfig {
                smtp_host: "127.0.0.1".into(),
                smtp_port: Some(port),
                security: back_office::alerts::SmtpSecurity::None,
                username: None,
                password: None,
                from: "alerts@kiosk.example".into(),
            },
            to: vec!["duty@kiosk.example".into()],
        }),
        ..AlertConfig::default()
    };
    let d = Dispatcher::new(db.store.clone(), config).await.unwrap();
    let mut w = writer("E1");
    send(
        &db.store,
        "E1",
        vec![outage(&mut w, OutageLevel::Started, "E1-O1", 0, 0)],
    )
    .await;
    d.tick().await.unwrap();
    send(
        &db.store,
        "E1",
        vec![outage(
            &mut w,
            OutageLevel::Escalated,
            "E1-O1",
            30,
            1_800_000,
        )],
    )
    .await;
    d.tick().await.unwrap();
    send(
        &db.store,
        "E1",
        vec![outage(&mut w, OutageLevel::Recovered, "E1-O1", 35, 300_000)],
    )
    .await;
    d.tick().await.unwrap();
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 3, "{mails:?}");
    let first_id = header(&mails[0], "Message-ID")
        .expect("Message-ID")
        .to_string();
    assert!(header(&mails[0], "In-Reply-To").is_none());
    for m in &mails[1..] {
        assert_eq!(header(m, "In-Reply-To"), Some(first_id.as_str()), "{m}");
        assert_eq!(header(m, "References"), Some(first_id.as_str()), "{m}");
    }
    assert!(header(&mails[0], "To").is_some_and(|t| t.contains("duty@kiosk.example")));
}
