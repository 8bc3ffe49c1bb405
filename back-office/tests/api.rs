//! Ingest semantics, security refusals, the terminal-facing client calls, messages and the fleet
//! page — each on SQLite and (when configured) PostgreSQL.

mod common;

use back_office::ingest::{ingest, IngestError};
use back_office::{now_utc, params};
use backend_sync::auth;
use backend_sync::event::ReceiptContact;
use backend_sync::wire::{ErrorCode, ErrorReply, Heartbeat, IngestBatch, WIRE_VERSION};
use backend_sync::{JournalEvent, JournalRecord};
use common::{add_terminal, all_stores, chain, Server};
use sync_client::SyncClient;

async fn ingest_direct(
    store: &back_office::Store,
    t: &str,
    recs: &[JournalRecord],
) -> Result<backend_sync::IngestReply, IngestError> {
    let (t, recs) = (t.to_string(), recs.to_vec());
    store
        .run(&t.clone(), move |sql| ingest(sql, &t, &recs, &now_utc()))
        .await
}

#[tokio::test]
async fn ingest_is_idempotent_reports_gaps_and_refuses_forks() {
    for db in all_stores().await {
        let s = &db.store;
        add_terminal(s, "T1").await;
        let recs = chain("T1", 30);
        let r = ingest_direct(s, "T1", &recs[..10]).await.unwrap();
        assert_eq!(
            (r.held_up_to, r.accepted, r.duplicates),
            (10, 10, 0),
            "{}",
            db.label
        );
        // The same batch again: nothing new, all duplicates.
        let r = ingest_direct(s, "T1", &recs[..10]).await.unwrap();
        assert_eq!((r.held_up_to, r.accepted, r.duplicates), (10, 0, 10));
        // Overlapping batch: only the new part is stored.
        let r = ingest_direct(s, "T1", &recs[5..15]).await.unwrap();
        assert_eq!((r.held_up_to, r.accepted, r.duplicates), (15, 5, 5));
        // A batch beyond the tip is not stored; the gap is reported.
        let r = ingest_direct(s, "T1", &recs[20..25]).await.unwrap();
        assert_eq!((r.held_up_to, r.accepted), (15, 0));
        assert_eq!(r.gaps.len(), 1);
        assert_eq!((r.gaps[0].from, r.gaps[0].to), (16, 20));
        // A forged history under held numbers is refused.
        let mut forged = recs[..12].to_vec();
        forged[11] = JournalRecord::new(
            12,
            forged[11].time_utc.clone(),
            "ServiceOperation".into(),
            r#"{"detail":"x","kind":"ServiceOperation","operation":"y"}"#.into(),
            forged[10].hash.clone(),
        );
        assert!(matches!(
            ingest_direct(s, "T1", &forged).await,
            Err(IngestError::Conflict { seq: 12, .. })
        ));
        // A batch that does not link to the held tip is refused.
        let other = chain("T1-other-history", 16);
        assert!(matches!(
            ingest_direct(s, "T1", &other[15..16]).await,
            Err(IngestError::BrokenLink { seq: 16, .. })
        ));
        // An edited record inside a batch is refused before anything is stored.
        let mut edited = recs[15..20].to_vec();
        edited[2].time_utc = "2030-01-01T00:00:00.000Z".into();
        assert!(matches!(
            ingest_direct(s, "T1", &edited).await,
            Err(IngestError::BadBatch(_))
        ));
        let r = ingest_direct(s, "T1", &recs[15..30]).await.unwrap();
        assert_eq!((r.held_up_to, r.accepted), (30, 15));
        // Unknown terminal.
        assert!(matches!(
            ingest_direct(s, "NOPE", &recs[..1]).await,
            Err(IngestError::UnknownTerminal(_))
        ));
        // Rebuilding the projections from the journal gives the same payments.
        let before = s
            .read(|sql| {
                sql.query(
                    "SELECT payment_id, total_kopecks FROM payments ORDER BY payment_id",
                    &[],
                )
            })
            .await
            .unwrap();
        s.run("x", |sql| back_office::project::rebuild(sql, &now_utc()))
            .await
            .unwrap();
        let after = s
            .read(|sql| {
                sql.query(
                    "SELECT payment_id, total_kopecks FROM payments ORDER BY payment_id",
                    &[],
                )
            })
            .await
            .unwrap();
        assert_eq!(before, after);
        assert!(!before.is_empty());
    }
}

/// Sends a hand-signed request; returns (status, body).
async fn raw(
    url: &str,
    terminal: &str,
    key: &[u8],
    path: &str,
    body: &[u8],
    h: Option<auth::SignedHeaders>,
) -> (u16, Vec<u8>, auth::SignedHeaders) {
    let h = h.unwrap_or_else(|| {
        auth::sign(
            key,
            terminal,
            chrono::Utc::now().timestamp(),
            "POST",
            path,
            body,
        )
    });
    let resp = reqwest::Client::new()
        .post(format!("{}{}", url.trim_end_matches('/'), path))
        .header(auth::HEADER_TERMINAL, &h.terminal_id)
        .header(auth::HEADER_TIMESTAMP, h.timestamp.to_string())
        .header(auth::HEADER_NONCE, &h.nonce)
        .header(auth::HEADER_SIGNATURE, &h.signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.bytes().await.unwrap().to_vec(),
        h,
    )
}

fn code(body: &[u8]) -> ErrorCode {
    serde_json::from_slice::<ErrorReply>(body).unwrap().error
}

#[tokio::test]
async fn forged_replayed_stale_and_tampered_requests_are_refused_and_recorded() {
    for db in all_stores().await {
        let key_hex = add_terminal(&db.store, "T9").await;
        let key = auth::decode_key(&key_hex).unwrap();
        let server = Server::start(db.store.clone()).await;
        let url = server.url();
        let recs = chain("T9", 6);
        let body = serde_json::to_vec(&IngestBatch {
            version: WIRE_VERSION,
            terminal_id: "T9".into(),
            records: recs[..3].to_vec(),
        })
        .unwrap();
        let path = "/api/v1/ingest";

        let (st, b, h) = raw(&url, "T9", &key, path, &body, None).await;
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        // Replay of the very same request.
        let (st, b, _) = raw(&url, "T9", &key, path, &body, Some(h)).await;
        assert_eq!((st, code(&b)), (409, ErrorCode::Replay), "{}", db.label);
        // Forged: signed with another key.
        let wrong = auth::decode_key(&auth::generate_key_hex()).unwrap();
        let (st, b, _) = raw(&url, "T9", &wrong, path, &body, None).await;
        assert_eq!((st, code(&b)), (401, ErrorCode::BadSignature));
        // Body changed after signing.
        let h = auth::sign(
            &key,
            "T9",
            chrono::Utc::now().timestamp(),
            "POST",
            path,
            &body,
        );
        let mut tampered_body = body.clone();
        tampered_body.push(b' ');
        let (st, b, _) = raw(&url, "T9", &key, path, &tampered_body, Some(h)).await;
        assert_eq!((st, code(&b)), (401, ErrorCode::BadSignature));
        // Outside the replay window.
        let old = auth::sign(
            &key,
            "T9",
            chrono::Utc::now().timestamp() - 3600,
            "POST",
            path,
            &body,
        );
        let (st, b, _) = raw(&url, "T9", &key, path, &body, Some(old)).await;
        assert_eq!((st, code(&b)), (401, ErrorCode::StaleRequest));
        // Unregistered terminal.
        let (st, b, _) = raw(&url, "T404", &key, path, &body, None).await;
        assert_eq!((st, code(&b)), (401, ErrorCode::UnknownTerminal));
        // Tampered chain: record 4 edited (hash recomputed, so only the link to 3 can tell).
        let mut bad = recs[3..6].to_vec();
        bad[0] = JournalRecord::new(
            4,
            bad[0].time_utc.clone(),
            bad[0].kind.clone(),
            bad[0].payload.replace("100000", "999900"),
            backend_sync::GENESIS_HASH.into(),
        );
        let bad_body = serde_json::to_vec(&IngestBatch {
            version: WIRE_VERSION,
            terminal_id: "T9".into(),
            records: vec![bad[0].clone()],
        })
        .unwrap();
        let (st, b, _) = raw(&url, "T9", &key, path, &bad_body, None).await;
        assert_eq!(
            (st, code(&b)),
            (422, ErrorCode::ChainBroken),
            "{}",
            String::from_utf8_lossy(&b)
        );
        // Wrong terminal inside a correctly signed body.
        let other = serde_json::to_vec(&IngestBatch {
            version: WIRE_VERSION,
            terminal_id: "T8".into(),
            records: vec![],
        })
        .unwrap();
        let (st, b, _) = raw(&url, "T9", &key, path, &other, None).await;
        assert_eq!((st, code(&b)), (400, ErrorCode::BadRequest));
        // Nothing of the refused requests was stored.
        let held = db
            .store
            .read(|sql| sql.query_one("SELECT held_seq FROM terminals WHERE id = 'T9'", &[]))
            .await
            .unwrap()
            .unwrap()
            .int(0);
        assert_eq!(held, 3);
        let codes: Vec<String> = db
            .store
            .read(|sql| back_office::incidents::latest(sql, 100))
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.code)
            .collect();
        for c in [
            "replay",
            "bad_signature",
            "stale_request",
            "unknown_terminal",
            "chain_broken",
        ] {
            assert!(
                codes.iter().any(|x| x == c),
                "[{}] incident {c} missing in {codes:?}",
                db.label
            );
        }
        server.kill();
    }
}

#[tokio::test]
async fn the_terminal_client_looks_up_accounts_content_and_sends_heartbeats() {
    for db in all_stores().await {
        let key = add_terminal(&db.store, "K1").await;
        db.store
            .run("x", |sql| -> Result<u64, back_office::StoreError> {
                back_office::accounts::upsert(sql, &back_office::accounts::demo_accounts())?;
                back_office::content::set(sql, back_office::content::demo())
            })
            .await
            .unwrap();
        let server = Server::start(db.store.clone()).await;
        let client = SyncClient::new(&server.url(), "K1", &key).unwrap();
        let acc = client.lookup_account("100000001").await.unwrap().unwrap();
        assert_eq!(acc.services[0].debt_kopecks, 184_350);
        assert_eq!(acc.meters[0].zones[0].previous, 12_345);
        assert!(client.lookup_account("999").await.unwrap().is_none());
        assert!(client.lookup_account("../etc").await.unwrap().is_none());
        let c = client.content(0).await.unwrap();
        assert_eq!(c.content_version, 1);
        assert!(!c.content.unwrap().tariffs.is_empty());
        assert!(client.content(1).await.unwrap().content.is_none());
        let hb = client
            .heartbeat(&Heartbeat {
                service_state: "in_service".into(),
                paper: "near_end".into(),
                queue_len: 3,
                ..Heartbeat::default()
            })
            .await
            .unwrap();
        assert_eq!(hb.content_version, 1);

        // A cash payment and a reading through the journal change what the next lookup shows.
        let mut w = back_office::testkit::JournalWriter::new("K1", chrono::Utc::now());
        let mut recs = w.cash_payment("100000001", &[100_000]);
        recs.push(w.push(
            &JournalEvent::MeterReadingAccepted {
                registration_no: "K1-R1".into(),
                account: "100000001".into(),
                meter_id: "M-100000001-1".into(),
                zone: "T1".into(),
                value: 12_500,
                previous: 12_345,
            },
            1000,
        ));
        recs.push(w.push(
            &JournalEvent::OutageAlert {
                level: backend_sync::event::OutageLevel::Started,
                outage_id: "O1".into(),
                working_minutes: 0,
                detail: "bill acceptor jammed".into(),
            },
            1000,
        ));
        recs.push(w.push(
            &JournalEvent::OutageAlert {
                level: backend_sync::event::OutageLevel::Breach,
                outage_id: "O1".into(),
                working_minutes: 61,
                detail: "bill acceptor jammed".into(),
            },
            1000,
        ));
        for (state, detail) in [("jammed", "bill jammed at the stacker"), ("ok", "")] {
            recs.push(w.push(
                &JournalEvent::DeviceStateChanged {
                    device: "bill_acceptor".into(),
                    state: state.into(),
                    detail: detail.into(),
                },
                1000,
            ));
        }
        recs.push(w.push(
            &JournalEvent::DeviceStateChanged {
                device: "fiscal_module".into(),
                state: "warning".into(),
                detail: "Память ФН заполнена на 90 %".into(),
            },
            1000,
        ));
        let rid = format!("{}-R", "K1-P0000001");
        recs.push(w.push(
            &JournalEvent::EReceiptRequested {
                receipt_id: rid,
                contact: ReceiptContact::Sms("+79990000000".into()),
            },
            1000,
        ));
        let reply = client.send_batch(&recs).await.unwrap();
        assert_eq!(reply.held_up_to, recs.len() as u64);
        let acc = client.lookup_account("100000001").await.unwrap().unwrap();
        assert_eq!(
            acc.services[0].debt_kopecks, 84_350,
            "uncredited payment lowers the debt"
        );
        assert_eq!(acc.meters[0].zones[0].previous, 12_500);

        // The e-receipt is queued and delivered by the file sender, ≤ 160 characters for SMS.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.jsonl");
        let sender = std::sync::Arc::new(back_office::messages::FileSender::new(file.clone()));
        let sent = back_office::messages::dispatch_once(&db.store, sender.clone())
            .await
            .unwrap();
        assert_eq!(sent, 1);
        assert_eq!(
            back_office::messages::dispatch_once(&db.store, sender)
                .await
                .unwrap(),
            0,
            "sent once"
        );
        let line = std::fs::read_to_string(&file).unwrap();
        let m: back_office::messages::OutgoingMessage = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(m.address, "+79990000000");
        assert!(m.body.chars().count() <= 160);
        assert!(m.body.contains("1000.00 руб."), "{}", m.body);
        let late = db
            .store
            .read(|sql| back_office::messages::late(sql, &now_utc()))
            .await
            .unwrap();
        assert!(late.is_empty());

        // Fleet page and charts, for a technician.
        let tech = common::authed(&common::api_token(&db.store, "tech", "technician").await);
        let page = tech
            .get(format!("{}fleet", server.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("K1") && page.contains("<svg") && page.contains("заканчивается"),
            "{page}"
        );
        assert!(
            page.contains("href=\"/terminals/K1\""),
            "the fleet links each terminal's page"
        );
        assert!(
            page.contains("Память ФН заполнена на 90 %"),
            "the FN's warning is on the fleet page"
        );
        let term = tech
            .get(format!("{}terminals/K1", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(term.status(), 200);
        let term = term.text().await.unwrap();
        for text in [
            "Терминал K1",
            "Купюроприёмник",
            "исправен",
            "замятие — bill jammed at the stacker",
            "1\u{a0}000,00\u{a0}₽",
            "нарушен норматив",
            "Инкассаций ещё не было",
            "<li>предупреждение: Память ФН заполнена на 90 %</li>",
        ] {
            assert!(
                term.contains(text),
                "[{}] {text:?} missing in {term}",
                db.label
            );
        }
        let none = tech
            .get(format!("{}terminals/NOPE", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(none.status(), 404);
        let fleet: serde_json::Value = tech
            .get(format!("{}api/v1/fleet", server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(fleet[0]["cash_in_cassette_kopecks"], 100_000);
        assert_eq!(fleet[0]["current_outage_minutes"], 61);
        assert_eq!(fleet[0]["sla_breaches_30d"], 1);
        assert_eq!(fleet[0]["state"], "in_service");
        assert_eq!(fleet[0]["fiscal_warning"], "Память ФН заполнена на 90 %");
        let svg = tech
            .get(format!("{}fleet/charts/outage.svg", server.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("K1"));
        let spec: serde_json::Value = tech
            .get(format!("{}openapi.json", server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(spec["openapi"], "3.0.3");
        server.kill();
        let _ = params![1i64];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_back_office_serves_a_simulated_terminal() {
    let bo = back_office::EmbeddedBackOffice::start("SIM-1")
        .await
        .unwrap();
    assert!(bo.url.starts_with("http://127.0.0.1:"));
    let client = SyncClient::new(&bo.url, &bo.terminal_id, &bo.key_hex).unwrap();
    let acc = client.lookup_account("100000002").await.unwrap().unwrap();
    assert_eq!(acc.meters[0].zones.len(), 2);
    assert!(client.content(0).await.unwrap().content.is_some());

    let dir = tempfile::tempdir().unwrap();
    let mut sim = common::SimTerminal::open(dir.path(), "SIM-1");
    let mut recs = sim.writer.cash_payment("100000001", &[50_000, 10_000]);
    recs.push(sim.writer.push(
        &JournalEvent::EReceiptRequested {
            receipt_id: "SIM-1-P0000001-R".into(),
            contact: ReceiptContact::Email("ivanov@example.org".into()),
        },
        1000,
    ));
    sim.append(recs);
    let mut cfg = sync_client::SyncConfig::new(sim.path.clone(), &bo.url, "SIM-1", &bo.key_hex);
    cfg.idle_poll = std::time::Duration::from_millis(50);
    cfg.heartbeat_every = std::time::Duration::from_millis(100);
    let sync = sync_client::spawn_syncer(cfg).unwrap();
    sync.set_health(Heartbeat {
        service_state: "in_service".into(),
        paper: "ok".into(),
        ..Heartbeat::default()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sync.status().acked_seq < sim.records.len() as u64 || sync.status().queue_len > 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", sync.status());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(sync.status().online);
    assert_eq!(sync.status().lag_seconds, 0);
    // The embedded dispatcher delivers the e-receipt (the standard: within 5 minutes).
    loop {
        if let Ok(text) = std::fs::read_to_string(&bo.messages_file) {
            if text.contains("ivanov@example.org") {
                assert!(text.contains("600.00"), "{text}");
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "e-receipt not delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Heartbeats reached the fleet view.
    loop {
        let rows = bo
            .store
            .read(|sql| back_office::fleet::rows(sql, chrono::Utc::now()))
            .await
            .unwrap();
        if rows[0].state == "in_service" {
            assert_eq!(rows[0].cash_in_cassette_kopecks, 60_000);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no heartbeat: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    sync.shutdown().await;
    bo.shutdown().await;
}

#[tokio::test]
async fn service_logins_and_operations_are_visible_on_the_fleet_page() {
    for db in all_stores().await {
        add_terminal(&db.store, "S1").await;
        let mut sim = back_office::testkit::JournalWriter::new("S1", chrono::Utc::now());
        let recs = vec![
            sim.push(
                &JournalEvent::ServiceLogin {
                    method: "pin".into(),
                    succeeded: false,
                    locked_out: false,
                },
                1_000,
            ),
            sim.push(
                &JournalEvent::ServiceLogin {
                    method: "pin".into(),
                    succeeded: true,
                    locked_out: false,
                },
                1_000,
            ),
            sim.push(
                &JournalEvent::ServiceOperation {
                    operation: "encashment".into(),
                    detail: "counted 1 500,00 of 1 500,00".into(),
                },
                1_000,
            ),
        ];
        ingest_direct(&db.store, "S1", &recs).await.unwrap();
        let ops = db
            .store
            .read(|sql| back_office::fleet::service_log(sql, 10))
            .await
            .unwrap();
        let names: Vec<_> = ops.iter().map(|o| o.operation.as_str()).collect();
        assert_eq!(names, ["encashment", "login", "login_refused"]);
        let page = db
            .store
            .read(|sql| back_office::fleet::page(sql, chrono::Utc::now()))
            .await
            .unwrap();
        assert!(
            page.contains("Сервисные операции")
                && page.contains("counted 1 500,00 of 1 500,00")
                && page.contains("инкассация")
                && page.contains("вход отклонён"),
            "{page}"
        );
    }
}

/// The schema is versioned: a new database records the baseline once, opening it again applies
/// nothing, and a database from before versioning (its tables there, no `schema_version`) gets
/// the baseline recorded without losing a row. On both stores.
#[tokio::test]
async fn schema_migrations_are_numbered_and_applied_once() {
    for db in common::all_stores().await {
        let newest = back_office::schema::MIGRATIONS.last().unwrap().0;
        let v = db.store.read(back_office::schema::version).await.unwrap();
        assert_eq!(v, newest, "[{}]", db.label);
        common::add_terminal(&db.store, "M1").await;
        // As before versioning: the record of it gone, the tables kept.
        db.store
            .run("x", |sql| sql.exec("DELETE FROM schema_version", &[]))
            .await
            .unwrap();
        let again = db.reopen().await;
        let rows = again
            .read(|sql| {
                sql.query(
                    "SELECT version, (SELECT CAST(COUNT(*) AS BIGINT) FROM terminals WHERE id = 'M1') FROM schema_version",
                    &[],
                )
            })
            .await
            .unwrap();
        assert_eq!(
            rows.len(),
            back_office::schema::MIGRATIONS.len(),
            "[{}]",
            db.label
        );
        assert_eq!((rows[0].int(0), rows[0].int(1)), (1, 1), "[{}]", db.label);
        let third = db.reopen().await;
        let n = third
            .read(|sql| sql.query("SELECT version FROM schema_version", &[]))
            .await
            .unwrap()
            .len();
        assert_eq!(
            n,
            back_office::schema::MIGRATIONS.len(),
            "[{}] applied once",
            db.label
        );
    }
}
