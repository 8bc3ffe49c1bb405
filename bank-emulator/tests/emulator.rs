//! The emulated bank over HTTP: tokens refused, every script, the registry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bank_emulator::{token, BankEmulator, EmulatorConfig, Script, Status};
use serde_json::{json, Map, Value};

const KEY: &str = "TestTerminal";
const PASSWORD: &str = "test-password";

async fn bank() -> BankEmulator {
    BankEmulator::start(EmulatorConfig {
        terminal_key: KEY.into(),
        password: PASSWORD.into(),
    })
    .await
    .unwrap()
}

/// Calls `method` with `fields`, signed with `password`.
async fn call(
    bank: &BankEmulator,
    method: &str,
    fields: Value,
    password: &str,
) -> Map<String, Value> {
    let Value::Object(mut map) = fields else {
        panic!("fields must be an object")
    };
    map.insert("TerminalKey".into(), KEY.into());
    token::sign(&mut map, password);
    reqwest::Client::new()
        .post(format!("{}{method}", bank.api_url()))
        .json(&map)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A merchant's notification endpoint: collects the bodies, answers `OK` after `fail_first`
/// failures.
struct Merchant {
    url: String,
    got: Arc<Mutex<Vec<Map<String, Value>>>>,
}

async fn merchant(fail_first: usize) -> Merchant {
    let got: Arc<Mutex<Vec<Map<String, Value>>>> = Arc::default();
    let failures = Arc::new(Mutex::new(fail_first));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/n",
        axum::routing::post(move |axum::Json(body): axum::Json<Map<String, Value>>| {
            let (g, failures) = (g.clone(), failures.clone());
            async move {
                g.lock().unwrap().push(body);
                let mut f = failures.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    "NOT OK"
                } else {
                    "OK"
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/n", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Merchant { url, got }
}

async fn init(bank: &BankEmulator, order: &str, url: Option<&str>) -> String {
    let mut f = json!({"Amount": 15000, "OrderId": order, "Description": "Оплата"});
    if let Some(u) = url {
        f["NotificationURL"] = u.into();
    }
    let r = call(bank, "Init", f, PASSWORD).await;
    assert_eq!(r["Success"], true, "{r:?}");
    assert_eq!(r["Status"], "NEW");
    r["PaymentId"].as_str().unwrap().to_string()
}

async fn state(bank: &BankEmulator, id: &str) -> String {
    let r = call(bank, "GetState", json!({"PaymentId": id}), PASSWORD).await;
    r["Status"].as_str().unwrap_or("").to_string()
}

async fn wait_status(bank: &BankEmulator, id: &str, want: &str) {
    for _ in 0..100 {
        if state(bank, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("payment {id} never reached {want}");
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("condition never held");
}

#[tokio::test]
async fn a_wrong_token_or_terminal_key_is_refused_as_the_bank_does() {
    let bank = bank().await;
    let r = call(
        &bank,
        "Init",
        json!({"Amount": 100, "OrderId": "o1"}),
        "wrong",
    )
    .await;
    assert_eq!(r["Success"], false);
    assert_ne!(r["ErrorCode"], "0");
    assert!(bank.payments().is_empty());
    // Signed right, then a value changed.
    let Value::Object(mut map) = json!({"Amount": 100, "OrderId": "o1", "TerminalKey": KEY}) else {
        unreachable!()
    };
    token::sign(&mut map, PASSWORD);
    map.insert("Amount".into(), 99.into());
    let r: Map<String, Value> = reqwest::Client::new()
        .post(format!("{}Init", bank.api_url()))
        .json(&map)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["Success"].clone(), r["ErrorCode"].clone()),
        (json!(false), json!("204"))
    );
    assert!(bank.payments().is_empty());
}

#[tokio::test]
async fn init_and_get_qr_give_an_nspk_payload_with_the_sum() {
    let bank = bank().await;
    let id = init(&bank, "order-1", None).await;
    let r = call(
        &bank,
        "GetQr",
        json!({"PaymentId": id, "DataType": "PAYLOAD"}),
        PASSWORD,
    )
    .await;
    let data = r["Data"].as_str().unwrap();
    assert!(data.starts_with("https://qr.nspk.ru/"), "{data}");
    assert!(data.contains("&sum=15000&cur=RUB&crc="), "{data}");
    assert_eq!(state(&bank, &id).await, "FORM_SHOWED");
}

#[tokio::test]
async fn paid_after_notifies_with_a_valid_token_and_retries_until_ok() {
    let bank = bank().await;
    let m = merchant(2).await;
    bank.script_next(Script::PaidAfter(Duration::from_millis(100)));
    let id = init(&bank, "order-paid", Some(&m.url)).await;
    wait_status(&bank, &id, "CONFIRMED").await;
    wait_until(|| m.got.lock().unwrap().len() >= 3).await;
    let got = m.got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "two refusals, then OK");
    for n in &got {
        assert!(token::verify(n, PASSWORD), "{n:?}");
        assert_eq!(n["Status"], "CONFIRMED");
        assert_eq!(n["Success"], true);
        assert_eq!(n["OrderId"], "order-paid");
        assert_eq!(n["Amount"], 15000);
    }
    let p = &bank.payments()[0];
    assert_eq!((p.notifications_sent, p.notifications_acked), (3, 1));
}

#[tokio::test]
async fn declined_and_expired_scripts_end_as_the_bank_says() {
    let bank = bank().await;
    bank.script_order("d", Script::DeclinedAfter(Duration::from_millis(50)));
    bank.script_order("e", Script::ExpiresAfter(Duration::from_millis(50)));
    let d = init(&bank, "d", None).await;
    let e = init(&bank, "e", None).await;
    wait_status(&bank, &d, "REJECTED").await;
    wait_status(&bank, &e, "DEADLINE_EXPIRED").await;
    // RedirectDueDate expires a manual one too.
    let due = (chrono::Utc::now() + chrono::Duration::milliseconds(100)).to_rfc3339();
    let r = call(
        &bank,
        "Init",
        json!({"Amount": 100, "OrderId": "due", "RedirectDueDate": due}),
        PASSWORD,
    )
    .await;
    wait_status(&bank, r["PaymentId"].as_str().unwrap(), "DEADLINE_EXPIRED").await;
}

#[tokio::test]
async fn never_answers_hangs_until_given_another_script() {
    let bank = bank().await;
    bank.script_next(Script::NeverAnswers);
    let id = init(&bank, "silent", None).await;
    let Value::Object(mut map) = json!({"PaymentId": id, "TerminalKey": KEY}) else {
        unreachable!()
    };
    token::sign(&mut map, PASSWORD);
    let r = reqwest::Client::new()
        .post(format!("{}GetState", bank.api_url()))
        .json(&map)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
    bank.script_order("silent", Script::Manual);
    assert_eq!(state(&bank, &id).await, "NEW");
}

#[tokio::test]
async fn cancel_revokes_unpaid_refunds_paid_and_paid_after_revoke_answers_confirmed() {
    let bank = bank().await;
    let m = merchant(0).await;
    let open = init(&bank, "open", None).await;
    let r = call(&bank, "Cancel", json!({"PaymentId": open}), PASSWORD).await;
    assert_eq!(
        (r["Success"].clone(), r["Status"].clone()),
        (json!(true), json!("CANCELED"))
    );

    bank.script_next(Script::PaidAfterRevoke);
    let raced = init(&bank, "raced", Some(&m.url)).await;
    let r = call(&bank, "Cancel", json!({"PaymentId": raced}), PASSWORD).await;
    assert_eq!(r["Success"], false);
    assert_ne!(r["ErrorCode"], "0");
    assert_eq!(r["Status"], "CONFIRMED");
    wait_until(|| {
        m.got
            .lock()
            .unwrap()
            .iter()
            .any(|n| n["Status"] == "CONFIRMED")
    })
    .await;
    // A refund asked for explicitly (with the amount) goes through.
    let r = call(
        &bank,
        "Cancel",
        json!({"PaymentId": raced, "Amount": 5000}),
        PASSWORD,
    )
    .await;
    assert_eq!(r["Status"], "PARTIAL_REFUNDED", "{r:?}");
    let r = call(
        &bank,
        "Cancel",
        json!({"PaymentId": raced, "Amount": 20000}),
        PASSWORD,
    )
    .await;
    assert_eq!(r["Success"], false, "more than is left");
    let r = call(
        &bank,
        "Cancel",
        json!({"PaymentId": raced, "Amount": 10000}),
        PASSWORD,
    )
    .await;
    assert_eq!(r["Status"], "REFUNDED");

    let day = chrono::Utc::now().date_naive();
    let csv = bank.registry_csv(day);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "date,time_utc,operation,payment_id,order_id,amount,description"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[1].contains(",payment,") && lines[1].contains(",raced,150.00,"));
    assert!(lines[2].contains(",refund,") && lines[2].contains(",50.00,"));
    assert!(lines[3].contains(",refund,") && lines[3].contains(",100.00,"));
}

#[tokio::test]
async fn lost_and_duplicated_notifications_and_manual_mode() {
    let bank = bank().await;
    let m = merchant(0).await;
    bank.script_order("lost", Script::NotificationLost);
    bank.script_order("dup", Script::NotificationDuplicated);
    let lost = init(&bank, "lost", Some(&m.url)).await;
    let _dup = init(&bank, "dup", Some(&m.url)).await;
    wait_until(|| {
        m.got
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n["OrderId"] == "dup")
            .count()
            == 2
    })
    .await;
    wait_status(&bank, &lost, "CONFIRMED").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!m.got.lock().unwrap().iter().any(|n| n["OrderId"] == "lost"));

    bank.set_default(Script::Manual);
    let a = init(&bank, "manual-a", Some(&m.url)).await;
    let b = init(&bank, "manual-b", None).await;
    assert!(bank.pay("manual-a"));
    assert!(bank.decline("manual-b"));
    assert!(!bank.pay("manual-b"), "no longer open");
    assert_eq!(state(&bank, &a).await, "CONFIRMED");
    assert_eq!(state(&bank, &b).await, "REJECTED");
    let statuses: Vec<Status> = bank.payments().iter().map(|p| p.status).collect();
    assert_eq!(statuses.len(), 4);
}
