//! E-receipts delivered for real: SMS through an HTTP gateway (a local axum receiver) and e-mail
//! over SMTP (a local fake server), on both stores. Each message arrives exactly once — with two
//! workers claiming at once, with a worker that died mid-send, with a gateway that fails and
//! then accepts — and one that cannot be delivered ends `failed` with its error on the
//! terminal's page. Time is a fake clock the test moves: no test waits for a back-off.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use back_office::db::Store;
use back_office::messages::config::MessagesConfig;
use back_office::messages::dispatch::{self, Clock, Dispatcher};
use back_office::messages::{self, Status};
use chrono::{DateTime, Utc};

/// One request the gateway got.
#[derive(Debug, Clone)]
struct GatewayHit {
    uri: String,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    body: String,
}

/// What the fake gateway answers: the n-th request (from 0) gets `answer(n)`.
type Answer = Arc<dyn Fn(usize) -> (StatusCode, String) + Send + Sync>;

#[derive(Clone)]
struct Gateway {
    hits: Arc<Mutex<Vec<GatewayHit>>>,
    n: Arc<AtomicUsize>,
    answer: Answer,
}

async fn gateway_handler(
    State(g): State<Gateway>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let n = g.n.fetch_add(1, Ordering::SeqCst);
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    g.hits.lock().unwrap().push(GatewayHit {
        uri: uri.to_string(),
        authorization: h("authorization"),
        idempotency_key: h("idempotency-key"),
        body,
    });
    (g.answer)(n)
}

/// A local SMS gateway; returns its hits and base URL.
async fn gateway(answer: Answer) -> (Arc<Mutex<Vec<GatewayHit>>>, String) {
    let g = Gateway {
        hits: Arc::new(Mutex::new(Vec::new())),
        n: Arc::new(AtomicUsize::new(0)),
        answer,
    };
    let hits = g.hits.clone();
    let app = axum::Router::new()
        .route("/send", axum::routing::post(gateway_handler))
        .with_state(g);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (hits, url)
}

fn ok_answer() -> Answer {
    Arc::new(|_| (StatusCode::OK, r#"{"status":"ok"}"#.to_string()))
}

/// A gateway configuration as an operator writes it: JSON body, basic auth, JSON check.
fn sms_config(base: &str, extra: &str) -> MessagesConfig {
    let text = format!(
        r#"{{"first_retry_ms": 5000, "max_retry_ms": 60000, "max_attempts": 3, {extra}
            "sms": {{"url": "{base}/send?sender=KIOSK&ref={{id}}",
                     "body": "{{\"to\": \"{{phone}}\", \"text\": \"{{text}}\"}}",
                     "basic": {{"username": "kiosk", "password": "gw-secret"}},
                     "success_json": {{"pointer": "/status", "equals": "ok"}}}}}}"#
    );
    let c: MessagesConfig = serde_json::from_str(&text).expect(&text);
    c.check().unwrap();
    c
}

fn email_config(port: u16) -> MessagesConfig {
    let text = format!(
        r#"{{"first_retry_ms": 5000, "max_attempts": 3,
            "email": {{"smtp_host": "127.0.0.1", "smtp_port": {port}, "security": "none",
                       "from": "receipts@kiosk.example"}}}}"#
    );
    let c: MessagesConfig = serde_json::from_str(&text).unwrap();
    c.check().unwrap();
    c
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A clock the test moves.
fn fake_clock() -> (Arc<Mutex<DateTime<Utc>>>, Clock) {
    let now = Arc::new(Mutex::new(t0()));
    let n = now.clone();
    (now, Arc::new(move || *n.lock().unwrap()))
}

fn advance(now: &Mutex<DateTime<Utc>>, secs: i64) {
    let mut t = now.lock().unwrap();
    *t += chrono::Duration::seconds(secs);
}

async fn queue(store: &Store, terminal: &str, receipt: &str, channel: &str, address: &str) {
    let (t, r, c, a) = (
        terminal.to_string(),
        receipt.to_string(),
        channel.to_string(),
        address.to_string(),
    );
    store
        .run("t", move |sql| {
            messages::queue_receipt(sql, &t, &r, &c, &a, &stamp(t0()))
        })
        .await
        .unwrap();
}

fn dispatcher(store: &Store, config: &MessagesConfig, clock: &Clock) -> Dispatcher {
    Dispatcher::new(store.clone(), config.routes().unwrap(), config.policy())
        .with_clock(clock.clone())
}

async fn rows(store: &Store) -> Vec<messages::MessageRow> {
    let mut v = store
        .read(|sql| messages::list(sql, None, 1000, t0()))
        .await
        .unwrap();
    v.sort_by_key(|r| r.id);
    v
}

/// Two workers on two connections claim at once: 40 SMS, each sent once, with the configured
/// auth, the phone and the text where the templates put them.
#[tokio::test]
async fn two_workers_deliver_each_sms_exactly_once() {
    for db in common::all_stores().await {
        let (hits, base) = gateway(ok_answer()).await;
        let config = sms_config(&base, "\"batch\": 7, \"concurrency\": 3,");
        for i in 0..40 {
            queue(
                &db.store,
                "S1",
                &format!("S1-R{i:03}"),
                "sms",
                &format!("+7999000{i:04}"),
            )
            .await;
        }
        let (_, clock) = fake_clock();
        let other = db.reopen().await;
        let a = dispatcher(&db.store, &config, &clock);
        let b = dispatcher(&other, &config, &clock);
        let mut delivered = 0;
        for _ in 0..40 {
            let (ra, rb) = tokio::join!(a.tick(), b.tick());
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            assert_eq!(ra.lost_claims + rb.lost_claims, 0, "[{}]", db.label);
            delivered += ra.delivered + rb.delivered;
            if delivered == 40 {
                break;
            }
        }
        assert_eq!(delivered, 40, "[{}]", db.label);
        assert_eq!(
            a.tick().await.unwrap().claimed,
            0,
            "[{}] nothing left",
            db.label
        );
        let hits = hits.lock().unwrap().clone();
        assert_eq!(hits.len(), 40, "[{}] one request each", db.label);
        let mut phones: Vec<String> = hits
            .iter()
            .map(|h| {
                let v: serde_json::Value = serde_json::from_str(&h.body).unwrap();
                assert!(v["text"].as_str().unwrap().starts_with("Платёж"), "{v}");
                v["to"].as_str().unwrap().to_string()
            })
            .collect();
        phones.sort();
        phones.dedup();
        assert_eq!(phones.len(), 40, "[{}] each phone once", db.label);
        use base64::Engine;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("kiosk:gw-secret")
        );
        for h in &hits {
            assert_eq!(h.authorization.as_deref(), Some(basic.as_str()));
            assert!(h.uri.starts_with("/send?sender=KIOSK&ref="), "{}", h.uri);
            let id = h.uri.rsplit('=').next().unwrap();
            assert_eq!(
                h.idempotency_key.as_deref(),
                Some(format!("kiosk-message-{id}").as_str())
            );
        }
        let rows = rows(&db.store).await;
        assert!(rows.iter().all(|r| r.status == Status::Delivered
            && r.attempts == 1
            && r.last_error.is_none()
            && r.delivered_utc.is_some()));
        assert!(
            rows.iter().all(|r| r.address.contains("***")),
            "addresses masked"
        );
    }
}

/// A gateway that refuses twice (a 503, then a 200 whose JSON says no) and then accepts: the
/// message is delivered once, on the third attempt, after the back-off; its latency counts from
/// queueing.
#[tokio::test]
async fn a_gateway_failing_twice_then_accepting_gets_the_message_once() {
    for db in common::all_stores().await {
        let (hits, base) = gateway(Arc::new(|n| match n {
            0 => (StatusCode::SERVICE_UNAVAILABLE, "busy".into()),
            1 => (
                StatusCode::OK,
                r#"{"status":"error","reason":"throttled"}"#.into(),
            ),
            _ => (StatusCode::OK, r#"{"status":"ok"}"#.into()),
        }))
        .await;
        let config = sms_config(&base, "");
        queue(&db.store, "S2", "S2-R1", "sms", "+79991234567").await;
        let (now, clock) = fake_clock();
        let d = dispatcher(&db.store, &config, &clock);
        let r = d.tick().await.unwrap();
        assert_eq!((r.claimed, r.retrying), (1, 1), "[{}]", db.label);
        let row = &rows(&db.store).await[0];
        assert_eq!(row.status, Status::Queued);
        assert!(
            row.last_error.as_deref().unwrap().contains("503"),
            "{row:?}"
        );
        assert_eq!(
            d.tick().await.unwrap().claimed,
            0,
            "not before its back-off"
        );
        advance(&now, 5);
        assert_eq!(d.tick().await.unwrap().retrying, 1);
        let row = &rows(&db.store).await[0];
        assert!(
            row.last_error.as_deref().unwrap().contains("/status"),
            "{row:?}"
        );
        advance(&now, 5);
        assert_eq!(d.tick().await.unwrap().claimed, 0, "the back-off doubled");
        advance(&now, 5);
        assert_eq!(d.tick().await.unwrap().delivered, 1);
        advance(&now, 3600);
        assert_eq!(d.tick().await.unwrap().claimed, 0);
        assert_eq!(hits.lock().unwrap().len(), 3, "[{}]", db.label);
        let row = &rows(&db.store).await[0];
        assert_eq!(
            (row.status, row.attempts, row.last_error.clone()),
            (Status::Delivered, 3, None),
            "[{}]",
            db.label
        );
        assert_eq!(
            row.latency_seconds,
            Some(15),
            "fake clock: 15 s after queueing"
        );
        assert!(!row.late);
    }
}

/// A gateway that always fails: after `max_attempts` the message is `failed`, its error is on
/// the terminal's page, in the late list and in /metrics; `messages retry` queues it again.
#[tokio::test]
async fn a_permanently_failing_gateway_ends_failed_with_the_error_shown() {
    for db in common::all_stores().await {
        let (hits, base) = gateway(Arc::new(|_| {
            (StatusCode::INTERNAL_SERVER_ERROR, "quota exceeded".into())
        }))
        .await;
        let config = sms_config(&base, "");
        common::add_terminal(&db.store, "S3").await;
        queue(&db.store, "S3", "S3-R1", "sms", "+79991234567").await;
        let (now, clock) = fake_clock();
        let d = dispatcher(&db.store, &config, &clock);
        let mut outcomes = Vec::new();
        for _ in 0..10 {
            let r = d.tick().await.unwrap();
            outcomes.push((r.retrying, r.failed));
            advance(&now, 120);
        }
        assert_eq!(hits.lock().unwrap().len(), 3, "[{}] max_attempts", db.label);
        assert_eq!(&outcomes[..3], &[(1, 0), (1, 0), (0, 1)]);
        let row = &rows(&db.store).await[0];
        assert_eq!((row.status, row.attempts), (Status::Failed, 3));
        let err = row.last_error.clone().unwrap();
        assert!(
            err.contains("500") && err.contains("quota exceeded"),
            "{err}"
        );
        assert!(
            !err.contains("gw-secret") && !err.contains("127.0.0.1"),
            "{err}"
        );

        let later = t0() + chrono::Duration::minutes(30);
        let page = db
            .store
            .read(move |sql| back_office::terminal_page::body(sql, "S3", later))
            .await
            .unwrap()
            .unwrap();
        assert!(
            page.contains("Электронные чеки")
                && page.contains("не доставлено")
                && page.contains("quota exceeded")
                && page.contains("+799******67")
                && !page.contains("+79991234567"),
            "{page}"
        );
        let late = db
            .store
            .read(move |sql| messages::late_rows(sql, Some("S3"), 10, later))
            .await
            .unwrap();
        assert_eq!(late.len(), 1);
        let metrics = db
            .store
            .read(move |sql| messages::metrics(sql, later))
            .await
            .unwrap();
        assert!(
            metrics.contains("back_office_messages{channel=\"sms\",status=\"failed\"} 1")
                && metrics.contains("back_office_messages_late 1"),
            "{metrics}"
        );

        let id = row.id;
        assert!(db
            .store
            .run("m", move |sql| dispatch::requeue(sql, id))
            .await
            .unwrap());
        let row = &rows(&db.store).await[0];
        assert_eq!((row.status, row.attempts), (Status::Queued, 0));
    }
}

/// A worker that claimed a message and died: nobody sends it while its lease holds; after,
/// another worker does, once. A late outcome of the dead worker records nothing.
#[tokio::test]
async fn a_message_claimed_by_a_worker_that_died_is_sent_by_another_once() {
    for db in common::all_stores().await {
        let (hits, base) = gateway(ok_answer()).await;
        let config = sms_config(&base, "\"lease_seconds\": 60,");
        queue(&db.store, "S4", "S4-R1", "sms", "+79991234567").await;
        let (now, clock) = fake_clock();
        let lease = Duration::from_secs(60);
        let dead = db
            .store
            .run("m", move |sql| {
                dispatch::claim(sql, &["sms"], 10, t0(), lease)
            })
            .await
            .unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(rows(&db.store).await[0].status, Status::Sending);
        let d = dispatcher(&db.store, &config, &clock);
        advance(&now, 30);
        assert_eq!(
            d.tick().await.unwrap().claimed,
            0,
            "[{}] lease holds",
            db.label
        );
        advance(&now, 31);
        let r = d.tick().await.unwrap();
        assert_eq!((r.claimed, r.delivered), (1, 1), "[{}]", db.label);
        assert_eq!(hits.lock().unwrap().len(), 1);
        let row = &rows(&db.store).await[0];
        assert_eq!((row.status, row.attempts), (Status::Delivered, 2));
        // The dead worker's outcome arrives after all: its claim is gone.
        let policy = config.policy();
        let c = dead[0].clone();
        let o = db
            .store
            .run("m", move |sql| {
                dispatch::record(
                    sql,
                    &c,
                    &Err(messages::SendError::Transient("late".into())),
                    t0(),
                    &policy,
                )
            })
            .await
            .unwrap();
        assert_eq!(o, dispatch::Outcome::LostClaim);
        assert_eq!(rows(&db.store).await[0].status, Status::Delivered);
    }
}

/// E-mail over SMTP: each receipt once, to its address, with its own Message-ID and the text;
/// a 451 is retried, a 550 for a mailbox fails at once.
#[tokio::test]
async fn e_mail_receipts_go_over_smtp_once_and_refusals_are_told_apart() {
    for db in common::all_stores().await {
        let smtp = common::smtp::FakeSmtp::start(1, Some("nobody")).await;
        let config = email_config(smtp.port);
        for (i, to) in [
            "ivanov@mail.example",
            "petrova@mail.example",
            "nobody@mail.example",
        ]
        .iter()
        .enumerate()
        {
            queue(&db.store, "E1", &format!("E1-R{i}"), "email", to).await;
        }
        let (now, clock) = fake_clock();
        let d = dispatcher(&db.store, &config, &clock);
        let mut total = dispatch::TickReport::default();
        for _ in 0..5 {
            let r = d.tick().await.unwrap();
            total.delivered += r.delivered;
            total.failed += r.failed;
            total.retrying += r.retrying;
            advance(&now, 60);
        }
        assert_eq!(
            (total.delivered, total.retrying, total.failed),
            (2, 1, 1),
            "[{}]",
            db.label
        );
        let mails = smtp.mails();
        assert_eq!(mails.len(), 2, "[{}] {mails:?}", db.label);
        let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
        to.sort();
        assert_eq!(to, ["ivanov@mail.example", "petrova@mail.example"]);
        for m in &mails {
            assert_eq!(m.from, "receipts@kiosk.example");
            let id = m.header("Message-ID").unwrap();
            assert!(
                id.starts_with("<receipt-E1-") && id.ends_with("@kiosk.example>"),
                "{id}"
            );
            assert!(m.text().contains("Платёж"), "{}", m.text());
        }
        let rows = rows(&db.store).await;
        let nobody = rows.iter().find(|r| r.receipt_id == "E1-R2").unwrap();
        assert_eq!((nobody.status, nobody.attempts), (Status::Failed, 1));
        assert!(
            nobody.last_error.as_deref().unwrap().contains("550"),
            "{nobody:?}"
        );
        assert_eq!(nobody.address, "no***@mail.example");
        let retried: i64 = rows.iter().map(|r| r.attempts).sum();
        assert_eq!(retried, 4, "one of the two was refused once with 451");
    }
}

/// `/metrics` and `/api/v1/messages` over HTTP: for a technician's token, never anonymous.
#[tokio::test]
async fn metrics_and_the_message_list_are_served_to_the_fleet_role() {
    let db = common::sqlite().await;
    let (_, base) = gateway(ok_answer()).await;
    let config = sms_config(&base, "");
    queue(&db.store, "H1", "H1-R1", "sms", "+79991234567").await;
    let (_, clock) = fake_clock();
    dispatcher(&db.store, &config, &clock).tick().await.unwrap();
    let server = common::Server::start(db.store.clone()).await;
    let anon = reqwest::get(format!("{}metrics", server.url()))
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    let tech = common::authed(&common::api_token(&db.store, "tech", "technician").await);
    let m = tech
        .get(format!("{}metrics", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(m.status(), 200);
    let text = m.text().await.unwrap();
    for want in [
        "back_office_messages{channel=\"sms\",status=\"delivered\"} 1",
        "back_office_message_delivery_seconds_bucket{channel=\"sms\",le=\"+Inf\"} 1",
        "back_office_message_delivery_seconds_count{channel=\"sms\"} 1",
        "back_office_message_confirmation_limit_seconds 300",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    let list: serde_json::Value = tech
        .get(format!("{}api/v1/messages?terminal=H1", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["stats"]["delivered"], 1, "{list}");
    assert_eq!(list["messages"][0]["status"], "delivered");
    assert_eq!(list["messages"][0]["address"], "+799******67");
    let bad = tech
        .get(format!("{}api/v1/messages?late=maybe", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    server.kill();
}

/// A database of schema version 1 (messages without delivery columns) migrates to 2: its sent
/// messages count as delivered, its unsent ones are queued.
#[tokio::test]
async fn a_version_1_messages_table_migrates() {
    for db in common::all_stores().await {
        db.store
            .run("x", |sql| -> Result<(), back_office::StoreError> {
                let id = match sql.backend() {
                    back_office::Backend::Sqlite => "INTEGER PRIMARY KEY",
                    back_office::Backend::Postgres => "BIGSERIAL PRIMARY KEY",
                };
                sql.batch(&format!(
                    "DROP TABLE messages;
                     CREATE TABLE messages (
                        id {id}, terminal_id TEXT NOT NULL, receipt_id TEXT NOT NULL, channel TEXT NOT NULL,
                        address TEXT NOT NULL, body TEXT NOT NULL, queued_utc TEXT NOT NULL, sent_utc TEXT,
                        attempts BIGINT NOT NULL DEFAULT 0, last_error TEXT,
                        UNIQUE (terminal_id, receipt_id, channel, address));
                     INSERT INTO messages (terminal_id, receipt_id, channel, address, body, queued_utc, sent_utc, attempts)
                       VALUES ('V1', 'R1', 'sms', '+79990000001', 'x', '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:05.000Z', 1),
                              ('V1', 'R2', 'sms', '+79990000002', 'y', '2026-11-01T00:00:00.000Z', NULL, 0);
                     DELETE FROM schema_version WHERE version = 2;"
                ))
            })
            .await
            .unwrap();
        let again = db.reopen().await;
        let v = again.read(back_office::schema::version).await.unwrap();
        let newest = back_office::schema::MIGRATIONS.last().map(|m| m.0);
        assert_eq!(Some(v), newest, "[{}] migration 2 applied again", db.label);
        let r = rows(&again).await;
        assert_eq!(
            r.iter().map(|r| r.status).collect::<Vec<_>>(),
            [Status::Delivered, Status::Queued],
            "[{}]",
            db.label
        );
    }
}
