//! СБП end to end: the server over HTTP with the real T-Bank adapter against the bank emulator,
//! the kiosk's requests signed as the sync client signs them. Every scripted outcome, idempotent
//! create, forged and replayed requests, forged notifications, a refund from the finance form
//! (with its CSRF token) reaching the bank, and the registry reconciliation naming each planted
//! discrepancy. SQLite always, PostgreSQL when configured.

mod common;

use std::sync::Arc;
use std::time::Duration;

use back_office::http::AppState;
use back_office::sbp::{Sbp, SbpSettings};
use backend_sync::auth;
use backend_sync::sbp::{paths, SbpQrRequest, SbpQrStatus, SbpState};
use backend_sync::wire::{ErrorCode, ErrorReply, WIRE_VERSION};
use bank_emulator::{BankEmulator, EmulatorConfig, Script};
use common::{add_terminal, all_stores, TestDb};

const TK: &str = "KioskTerminalKey";
const PW: &str = "bank-password";

struct Rig {
    bank: BankEmulator,
    url: String,
    keys: Vec<(String, Vec<u8>)>,
    sbp: Arc<Sbp>,
    label: &'static str,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn rig(db: &TestDb) -> Rig {
    let bank = BankEmulator::start(EmulatorConfig {
        terminal_key: TK.into(),
        password: PW.into(),
    })
    .await
    .unwrap();
    let mut keys = Vec::new();
    for t in ["T1", "T2"] {
        let k = add_terminal(&db.store, t).await;
        keys.push((t.to_string(), auth::decode_key(&k).unwrap()));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut s = SbpSettings::tbank(&bank.api_url(), TK, PW);
    s.tbank.notification_url = Some(format!("http://{addr}/bank/tbank/notification"));
    s.tbank.timeout = Duration::from_millis(400);
    s.poll_interval = Duration::from_millis(100);
    s.stale_after = Duration::from_millis(100);
    let sbp = Sbp::new(db.store.clone(), s).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sbp.clone().run_poller(async {
        let _ = rx.await;
    }));
    let state = AppState::new(db.store.clone()).with_sbp(sbp.clone());
    tokio::spawn(back_office::serve(listener, state, std::future::pending()));
    Rig {
        bank,
        url: format!("http://{addr}"),
        keys,
        sbp,
        label: db.label,
        _stop: tx,
    }
}

impl Rig {
    /// A signed request of terminal `t` (0 = T1, 1 = T2); returns (status, body).
    async fn signed(&self, t: usize, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let (id, key) = &self.keys[t];
        let h = auth::sign(key, id, chrono::Utc::now().timestamp(), method, path, body);
        self.send(method, path, body, &h).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        h: &auth::SignedHeaders,
    ) -> (u16, Vec<u8>) {
        let c = reqwest::Client::new();
        let req = match method {
            "GET" => c.get(format!("{}{path}", self.url)),
            _ => c.post(format!("{}{path}", self.url)).body(body.to_vec()),
        };
        let r = req
            .header(auth::HEADER_TERMINAL, &h.terminal_id)
            .header(auth::HEADER_TIMESTAMP, h.timestamp.to_string())
            .header(auth::HEADER_NONCE, &h.nonce)
            .header(auth::HEADER_SIGNATURE, &h.signature)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    fn qr_body(id: &str, amount: i64) -> Vec<u8> {
        serde_json::to_vec(&SbpQrRequest {
            version: WIRE_VERSION,
            payment_id: id.into(),
            amount_kopecks: amount,
            account: "1000000001".into(),
        })
        .unwrap()
    }

    async fn create(&self, id: &str, amount: i64) -> SbpQrStatus {
        let (st, b) = self
            .signed(0, "POST", paths::QR, &Self::qr_body(id, amount))
            .await;
        assert_eq!(st, 200, "{}: {}", self.label, String::from_utf8_lossy(&b));
        serde_json::from_slice(&b).unwrap()
    }

    async fn status(&self, id: &str) -> SbpQrStatus {
        let (st, b) = self.signed(0, "GET", &paths::status(id), b"").await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        serde_json::from_slice(&b).unwrap()
    }

    async fn revoke(&self, id: &str) -> SbpQrStatus {
        let (st, b) = self.signed(0, "POST", &paths::revoke(id), b"").await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        serde_json::from_slice(&b).unwrap()
    }

    /// Polls the status until it is `want` (a few seconds at most).
    async fn wait_state(&self, id: &str, want: SbpState) -> SbpQrStatus {
        let mut last = None;
        for _ in 0..60 {
            let s = self.status(id).await;
            if s.state == want {
                return s;
            }
            last = Some(s);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{}: {id} never became {want:?}: {last:?}", self.label);
    }

    fn payment(&self, order: &str) -> bank_emulator::EmulatedPayment {
        self.bank
            .payments()
            .into_iter()
            .find(|p| p.order_id == order)
            .expect("the bank has the payment")
    }
}

fn code(b: &[u8]) -> ErrorCode {
    serde_json::from_slice::<ErrorReply>(b).unwrap().error
}

#[tokio::test]
async fn every_scripted_outcome_reaches_the_kiosk_as_the_bank_decided() {
    for db in all_stores().await {
        let r = rig(&db).await;
        let ms = Duration::from_millis;

        r.bank.script_order("P-PAID", Script::PaidAfter(ms(300)));
        let s = r.create("P-PAID", 15_000).await;
        assert_eq!(s.state, SbpState::Pending);
        assert!(s.payload.as_deref().unwrap().contains("sum=15000"));
        let paid = r.wait_state("P-PAID", SbpState::Paid).await;
        assert!(paid.payload.is_none(), "a paid QR is no longer shown");
        assert_eq!(
            paid.bank_payment_id.as_deref(),
            Some(r.payment("P-PAID").payment_id.as_str())
        );

        r.bank
            .script_order("P-DECL", Script::DeclinedAfter(ms(200)));
        r.create("P-DECL", 100).await;
        r.wait_state("P-DECL", SbpState::Declined).await;

        r.bank.script_order("P-EXP", Script::ExpiresAfter(ms(200)));
        r.create("P-EXP", 100).await;
        r.wait_state("P-EXP", SbpState::Expired).await;

        // Lost notification: only the poller's GetState can tell.
        r.bank.script_order("P-LOST", Script::NotificationLost);
        r.create("P-LOST", 100).await;
        r.wait_state("P-LOST", SbpState::Paid).await;
        assert_eq!(r.payment("P-LOST").notifications_sent, 0);

        // Duplicated notification: both answered OK, one state change.
        r.bank.script_order("P-DUP", Script::NotificationDuplicated);
        r.create("P-DUP", 100).await;
        r.wait_state("P-DUP", SbpState::Paid).await;
        for _ in 0..50 {
            if r.payment("P-DUP").notifications_acked >= 2 {
                break;
            }
            tokio::time::sleep(ms(50)).await;
        }
        assert_eq!(r.payment("P-DUP").notifications_acked, 2);
        let paid_at = |db: &TestDb| {
            let store = db.store.clone();
            async move {
                store
                    .read(|sql| {
                        sql.query(
                            "SELECT paid_utc, state FROM sbp_qrs WHERE payment_id = 'P-DUP'",
                            &[],
                        )
                    })
                    .await
                    .unwrap()
            }
        };
        let first = paid_at(&db).await;
        tokio::time::sleep(ms(300)).await;
        assert_eq!(paid_at(&db).await, first);

        // Paid just as the kiosk revoked it: the bank's CONFIRMED wins.
        r.bank.script_order("P-RACE", Script::PaidAfterRevoke);
        r.create("P-RACE", 100).await;
        let s = r.revoke("P-RACE").await;
        assert_eq!(s.state, SbpState::Paid, "{s:?}");
        assert!(s.revoke_requested);
        assert_eq!(
            r.payment("P-RACE").refunded_kopecks,
            0,
            "a revoke never refunds"
        );

        // A plain revoke of an unpaid QR.
        r.bank.script_order("P-REV", Script::Manual);
        r.create("P-REV", 100).await;
        assert_eq!(r.revoke("P-REV").await.state, SbpState::Revoked);

        // The bank stops answering for this payment: pending, then revoke_requested, until it
        // answers again and the poller's Cancel goes through.
        r.bank.script_order("P-SILENT", Script::NeverAnswers);
        r.create("P-SILENT", 100).await;
        assert_eq!(r.status("P-SILENT").await.state, SbpState::Pending);
        let s = r.revoke("P-SILENT").await;
        assert_eq!((s.state, s.revoke_requested), (SbpState::Pending, true));
        assert_eq!(r.status("P-SILENT").await.state, SbpState::Pending);
        r.bank.script_order("P-SILENT", Script::Manual);
        let s = r.wait_state("P-SILENT", SbpState::Revoked).await;
        assert!(s.revoke_requested);
    }
}

#[tokio::test]
async fn create_is_idempotent_and_bad_replayed_or_foreign_requests_change_nothing() {
    for db in all_stores().await {
        let r = rig(&db).await;
        let a = r.create("P-1", 5_000).await;
        let b = r.create("P-1", 5_000).await;
        assert_eq!(a, b, "the same QR again");
        assert_eq!(r.bank.payments().len(), 1, "registered once at the bank");

        let (st, body) = r
            .signed(0, "POST", paths::QR, &Rig::qr_body("P-1", 6_000))
            .await;
        assert_eq!((st, code(&body)), (409, ErrorCode::Conflict));
        let (st, body) = r
            .signed(1, "POST", paths::QR, &Rig::qr_body("P-1", 5_000))
            .await;
        assert_eq!((st, code(&body)), (409, ErrorCode::Conflict));
        for (id, amount) in [
            ("bad id", 100),
            ("P-2", 0),
            ("P-3", -5),
            ("P-4", 100_000_001),
        ] {
            let (st, body) = r
                .signed(0, "POST", paths::QR, &Rig::qr_body(id, amount))
                .await;
            assert_eq!(
                (st, code(&body)),
                (400, ErrorCode::BadRequest),
                "{id} {amount}"
            );
        }
        let (st, _) = r.signed(0, "POST", paths::QR, b"{not json").await;
        assert_eq!(st, 400);
        assert_eq!(r.bank.payments().len(), 1, "nothing reached the bank");

        // Another terminal sees nothing of it.
        let (st, body) = r.signed(1, "GET", &paths::status("P-1"), b"").await;
        assert_eq!((st, code(&body)), (404, ErrorCode::NotFound));
        let (st, _) = r.signed(1, "POST", &paths::revoke("P-1"), b"").await;
        assert_eq!(st, 404);

        // Replayed, forged, unsigned.
        let body = Rig::qr_body("P-5", 100);
        let (id, key) = &r.keys[0];
        let h = auth::sign(
            key,
            id,
            chrono::Utc::now().timestamp(),
            "POST",
            paths::QR,
            &body,
        );
        assert_eq!(r.send("POST", paths::QR, &body, &h).await.0, 200);
        let (st, b) = r.send("POST", paths::QR, &body, &h).await;
        assert_eq!((st, code(&b)), (409, ErrorCode::Replay));
        let wrong = auth::decode_key(&auth::generate_key_hex()).unwrap();
        let h = auth::sign(
            &wrong,
            id,
            chrono::Utc::now().timestamp(),
            "POST",
            paths::QR,
            &Rig::qr_body("P-6", 100),
        );
        let (st, b) = r
            .send("POST", paths::QR, &Rig::qr_body("P-6", 100), &h)
            .await;
        assert_eq!((st, code(&b)), (401, ErrorCode::BadSignature));
        let st = reqwest::Client::new()
            .post(format!("{}{}", r.url, paths::QR))
            .body(Rig::qr_body("P-7", 100))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(st, 401);
        assert_eq!(r.bank.payments().len(), 2, "only P-1 and P-5");

        // The heartbeat says СБП is available once the bank answered.
        assert!(r.sbp.available(), "{}", r.label);
    }
}

#[tokio::test]
async fn forged_notifications_are_refused_counted_and_change_nothing() {
    for db in all_stores().await {
        let r = rig(&db).await;
        r.bank.script_order("P-N", Script::Manual);
        let s = r.create("P-N", 100).await;
        let bank_id: u64 = s.bank_payment_id.unwrap().parse().unwrap();
        let Ok(serde_json::Value::Object(mut n)) = serde_json::from_value(serde_json::json!({
            "TerminalKey": TK, "OrderId": "P-N", "Success": true, "Status": "CONFIRMED",
            "PaymentId": bank_id, "ErrorCode": "0", "Amount": 100,
        })) else {
            unreachable!()
        };
        bank_emulator::token::sign(&mut n, "not-the-password");
        let resp = reqwest::Client::new()
            .post(format!("{}/bank/tbank/notification", r.url))
            .json(&n)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_ne!(resp.text().await.unwrap(), "OK");
        assert_eq!(r.status("P-N").await.state, SbpState::Pending);
        let refused = db
            .store
            .read(|sql| {
                sql.query(
                    "SELECT count FROM incident_counts WHERE code = 'sbp_notification_refused'",
                    &[],
                )
            })
            .await
            .unwrap();
        assert_eq!(refused.len(), 1, "{}", r.label);
        // Signed right, it is taken.
        n.remove("Token");
        bank_emulator::token::sign(&mut n, PW);
        let resp = reqwest::Client::new()
            .post(format!("{}/bank/tbank/notification", r.url))
            .json(&n)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "OK");
        let st = db
            .store
            .read(|sql| sql.query("SELECT state FROM sbp_qrs WHERE payment_id = 'P-N'", &[]))
            .await
            .unwrap();
        assert_eq!(st[0].text(0), "paid");
    }
}

/// A finance user's browser session: (cookie, CSRF token).
async fn finance_session(db: &TestDb) -> (String, String) {
    db.store
        .run(
            "t",
            |sql| -> Result<(String, String), back_office::users::UserError> {
                let hash = back_office::users::hash_password("a long test password")?;
                back_office::users::add(
                    sql,
                    "fin",
                    back_office::users::Role::Finance,
                    &hash,
                    &back_office::now_utc(),
                )?;
                let user = back_office::users::credentials(sql, "fin")?
                    .expect("user")
                    .user;
                let (token, csrf) = back_office::sessions::create(
                    sql,
                    &user,
                    Duration::from_secs(3600),
                    "127.0.0.1",
                    chrono::Utc::now(),
                )?;
                Ok((format!("bo_session={token}"), csrf))
            },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refund_from_the_finance_form_reaches_the_bank_and_is_audited() {
    for db in all_stores().await {
        let r = rig(&db).await;
        r.bank.script_order("P-R", Script::Manual);
        r.create("P-R", 15_000).await;
        assert!(r.bank.pay("P-R"));
        r.wait_state("P-R", SbpState::Paid).await;
        let (cookie, csrf) = finance_session(&db).await;
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = c
            .get(format!("{}/finance/sbp", r.url))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("id=\"sbp-P-R\"") && page.contains("refund-form"),
            "{page}"
        );
        let post = |form: Vec<(&'static str, String)>| {
            c.post(format!("{}/finance/sbp/refund", r.url))
                .header("cookie", &cookie)
                .form(&form)
                .send()
        };
        // Without the CSRF token, or without a reason: refused, nothing at the bank.
        let st = post(vec![
            ("payment_id", "P-R".into()),
            ("amount", "50.00".into()),
            ("reason", "x".into()),
        ])
        .await
        .unwrap()
        .status();
        assert_eq!(st, 403);
        let st = post(vec![
            ("csrf", csrf.clone()),
            ("payment_id", "P-R".into()),
            ("amount", "50.00".into()),
            ("reason", " ".into()),
        ])
        .await
        .unwrap()
        .status();
        assert_eq!(st, 400);
        let st = post(vec![
            ("csrf", csrf.clone()),
            ("payment_id", "P-R".into()),
            ("amount", "500.00".into()),
            ("reason", "ошибка".into()),
        ])
        .await
        .unwrap()
        .status();
        assert_eq!(st, 400, "more than was paid");
        assert_eq!(r.payment("P-R").refunded_kopecks, 0);

        let resp = post(vec![
            ("csrf", csrf.clone()),
            ("payment_id", "P-R".into()),
            ("amount", "150.00".into()),
            ("reason", "двойная оплата".into()),
        ])
        .await
        .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        assert_eq!(r.payment("P-R").refunded_kopecks, 15_000);
        assert_eq!(r.payment("P-R").status, bank_emulator::Status::Refunded);
        let s = r.status("P-R").await;
        assert_eq!(s.state, SbpState::Refunded);
        let audit = db
            .store
            .read(|sql| {
                sql.query(
                    "SELECT actor, target, detail FROM audit WHERE action = 'sbp_refund'",
                    &[],
                )
            })
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].text(0), "fin");
        assert!(audit[0].text(2).contains("двойная оплата"));
    }
}

/// A payment the kiosk journaled as completed by СБП (the `payments` projection).
async fn journal_sbp(db: &TestDb, id: &str, kopecks: i64, day: &str) {
    let (id, day) = (id.to_string(), day.to_string());
    db.store
        .run("t", move |sql| {
            sql.exec(
                "INSERT INTO payments (terminal_id, payment_id, seq, time_utc, day, account, method, total_kopecks, allocations)
                 VALUES ('T1', $1, 1, $2, $2, '1000000001', 'sbp', $3, '[]')",
                back_office::params![&id, &day, kopecks],
            )
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_bank_registry_against_the_journal_names_each_discrepancy() {
    for db in all_stores().await {
        let r = rig(&db).await;
        // One real payment through the emulator: paid and credited.
        r.bank.script_order("P-OK", Script::Manual);
        r.create("P-OK", 10_000).await;
        assert!(r.bank.pay("P-OK"));
        r.wait_state("P-OK", SbpState::Paid).await;
        let today = chrono::Utc::now().date_naive();
        let day = today.format("%Y-%m-%d").to_string();
        journal_sbp(&db, "P-OK", 10_000, &day).await;
        let mut csv = r.bank.registry_csv(today);
        // Planted: refunded, paid but not credited, credited but not paid, amounts differ.
        let t = format!("{day}T10:00:00Z");
        csv.push_str(&format!("{day},{t},payment,9001,P-REFUND,50.00,\"\"\n{day},{day}T11:00:00Z,refund,9001,P-REFUND,50.00,\"\"\n"));
        csv.push_str(&format!("{day},{t},payment,9002,P-UNCREDITED,70.00,\"\"\n"));
        csv.push_str(&format!("{day},{t},payment,9003,P-DIFF,80.00,\"\"\n"));
        journal_sbp(&db, "P-REFUND", 5_000, &day).await;
        journal_sbp(&db, "P-DIFF", 8_100, &day).await;
        journal_sbp(&db, "P-UNPAID", 3_000, &day).await;

        let token = common::api_token(&db.store, "fin2", "finance").await;
        let resp = common::authed(&token)
            .post(format!("{}/api/v1/sbp/registry", r.url))
            .body(csv.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = resp.json().await.unwrap();
        let named: std::collections::BTreeMap<String, String> = v["payments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["order_id"].as_str().unwrap().to_string(),
                    p["problem"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: std::collections::BTreeMap<String, String> = [
            ("P-OK", "paid_and_credited"),
            ("P-REFUND", "refunded"),
            ("P-UNCREDITED", "paid_not_credited"),
            ("P-UNPAID", "credited_not_paid"),
            ("P-DIFF", "amount_mismatch"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(named, want, "{}", r.label);
        // The same file again stores nothing new; a broken one is refused whole.
        let v: serde_json::Value = common::authed(&token)
            .post(format!("{}/api/v1/sbp/registry", r.url))
            .body(csv.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["imported"], 0);
        let broken = format!("{csv}{day},{t},payment,9004,P-X,abc,\"\"\n");
        let resp = common::authed(&token)
            .post(format!("{}/api/v1/sbp/registry", r.url))
            .body(broken)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert!(resp.text().await.unwrap().contains("line 7"));
    }
}
