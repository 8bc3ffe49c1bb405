//! Reconciliation finds planted discrepancies — a bill missing at encashment, a card payment the
//! acquirer did not settle, a gap in fiscal-document numbers — and reports nothing for a clean
//! terminal. On both stores, through the library, HTTP and the CLI.

mod common;

use back_office::ingest::ingest;
use back_office::reconcile::report;
use back_office::testkit::JournalWriter;
use back_office::{now_utc, report_out};
use backend_sync::event::CardApproval;
use backend_sync::{JournalEvent, JournalRecord};
use common::{add_terminal, all_stores, Server};

const DAY: &str = "2026-11-20";

struct Planted {
    records: Vec<(String, Vec<JournalRecord>)>,
    settlement_csv: String,
    unsettled: CardApproval,
    skipped_fd: u32,
}

fn start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-20T06:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn settlement_line(a: &CardApproval) -> String {
    format!(
        "{DAY},{},{},sale,{}.{:02},{}\n",
        a.card_terminal_id,
        a.receipt_no,
        a.amount_kopecks / 100,
        a.amount_kopecks % 100,
        a.rrn.clone().unwrap_or_default()
    )
}

fn plant() -> Planted {
    let mut csv = String::from("date,card_terminal_id,receipt_no,operation,amount,rrn\n");
    // R1: the terminal with problems.
    let mut w = JournalWriter::new("R1", start());
    let mut recs = Vec::new();
    recs.extend(w.cash_payment("100000001", &[100_000, 50_000]));
    recs.extend(w.cash_payment("100000002", &[100_000, 10_000, 5_000]));
    let (r, a1) = w.card_payment("100000003", 123_456);
    recs.extend(r);
    csv.push_str(&settlement_line(&a1));
    // A receipt that never reached the back office: its FD number is skipped.
    w.fd_number += 1;
    let skipped_fd = w.fd_number;
    let (r, unsettled) = w.card_payment("100000001", 77_700);
    recs.extend(r);
    recs.extend(w.cash_payment("100000002", &[500_000]));
    // Paper ran out on this one.
    let rid = "R1-P0000005-R".to_string();
    recs.push(w.push(
        &JournalEvent::ReceiptUnprinted {
            receipt_id: rid,
            reason: "paper out".into(),
        },
        1000,
    ));
    // The technician counts one 1000-rouble bill less than was stacked.
    recs.extend(w.encashment("R1-E1", &[(100_000, 1)]));
    // A settled sale no kiosk operation explains.
    csv.push_str(&format!("{DAY},CT-R1,999,sale,10.00,\n"));

    // R2: clean.
    let mut w2 = JournalWriter::new("R2", start());
    let mut recs2 = Vec::new();
    recs2.extend(w2.cash_payment("100000001", &[200_000]));
    let (r, a2) = w2.card_payment("100000002", 5_000);
    recs2.extend(r);
    csv.push_str(&settlement_line(&a2));
    recs2.extend(w2.encashment("R2-E1", &[]));
    Planted {
        records: vec![("R1".into(), recs), ("R2".into(), recs2)],
        settlement_csv: csv,
        unsettled,
        skipped_fd,
    }
}

#[tokio::test]
async fn planted_discrepancies_are_found_and_a_clean_terminal_shows_none() {
    for db in all_stores().await {
        let p = plant();
        for (t, recs) in &p.records {
            add_terminal(&db.store, t).await;
            let (t, recs) = (t.clone(), recs.clone());
            db.store
                .run(&t.clone(), move |sql| ingest(sql, &t, &recs, &now_utc()))
                .await
                .unwrap();
        }
        let server = Server::start(db.store.clone()).await;
        let finance = common::authed(&common::api_token(&db.store, "fin", "finance").await);
        let imported: serde_json::Value = finance
            .clone()
            .post(format!("{}api/v1/settlements", server.url()))
            .body(p.settlement_csv.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(imported["lines"], 3, "{imported}");

        let rep = db.store.read(|sql| report(sql, DAY, DAY)).await.unwrap();
        // Missing bill at encashment.
        let enc: Vec<_> = rep
            .encashments
            .iter()
            .filter(|e| e.variance_count != 0)
            .collect();
        assert_eq!(enc.len(), 1, "[{}] {:?}", db.label, rep.encashments);
        assert_eq!(
            (
                enc[0].terminal_id.as_str(),
                enc[0].denomination_kopecks,
                enc[0].expected_count,
                enc[0].counted_count,
                enc[0].variance_kopecks
            ),
            ("R1", 100_000, 2, 1, -100_000)
        );
        // Card payment absent from the settlement, and a settlement line without a payment.
        let problems: Vec<(&str, i64)> = rep
            .card_mismatches
            .iter()
            .map(|c| (c.problem.as_str(), c.receipt_no))
            .collect();
        assert_eq!(
            problems,
            vec![
                ("not_settled", i64::from(p.unsettled.receipt_no)),
                ("settled_without_payment", 999)
            ],
            "[{}]",
            db.label
        );
        let r1 = rep.days.iter().find(|d| d.terminal_id == "R1").unwrap();
        assert_eq!(r1.card_variance_kopecks, 77_700);
        assert_eq!(r1.cash_variance_kopecks, 0);
        assert_eq!(
            (
                r1.cash_payments,
                r1.cash_kopecks,
                r1.card_payments,
                r1.card_kopecks
            ),
            (3, 765_000, 2, 201_156)
        );
        assert_eq!(r1.bills.get(&100_000), Some(&2));
        // The gap in fiscal-document numbers.
        assert_eq!(rep.fd_gaps.len(), 1, "{:?}", rep.fd_gaps);
        assert_eq!(
            (rep.fd_gaps[0].missing_from, rep.fd_gaps[0].missing_to),
            (i64::from(p.skipped_fd), i64::from(p.skipped_fd))
        );
        // The unprinted receipt.
        assert_eq!(rep.unprinted.len(), 1);
        assert_eq!(rep.unprinted[0].receipt_id, "R1-P0000005-R");
        // Nothing for the clean terminal.
        let r2 = rep.days.iter().find(|d| d.terminal_id == "R2").unwrap();
        assert_eq!(
            (
                r2.cash_variance_kopecks,
                r2.card_variance_kopecks,
                r2.unprinted_receipts
            ),
            (0, 0, 0)
        );
        assert!(rep
            .encashments
            .iter()
            .filter(|e| e.terminal_id == "R2")
            .all(|e| e.variance_count == 0));
        assert!(rep
            .card_mismatches
            .iter()
            .all(|c| c.terminal_id.as_deref() != Some("R2")));
        assert!(rep.fd_gaps.iter().all(|g| g.terminal_id != "R2"));
        assert_eq!(
            rep.discrepancies(),
            1 + 1 + 2 + 1 + 1,
            "R1 day row, encashment, 2 card, FD gap, unprinted"
        );

        // Uncredited until billing marks them.
        assert_eq!(r1.uncredited_payments, 5);
        let credited = "kind,terminal_id,id\npayment,R1,R1-P0000001\npayment,R1,R1-P0000002\n";
        let marked: serde_json::Value = finance
            .clone()
            .post(format!("{}api/v1/export/credited", server.url()))
            .body(credited)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(marked["payments"], 2);
        let bad = finance
            .clone()
            .post(format!("{}api/v1/export/credited", server.url()))
            .body("kind,terminal_id,id\npayment,R1,NOPE\n")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let rep2 = db.store.read(|sql| report(sql, DAY, DAY)).await.unwrap();
        assert_eq!(
            rep2.days
                .iter()
                .find(|d| d.terminal_id == "R1")
                .unwrap()
                .uncredited_payments,
            3
        );
        let export = finance
            .get(format!(
                "{}api/v1/export/payments.csv?from={DAY}&to={DAY}",
                server.url()
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            export.lines().filter(|l| l.contains("R1-P0000001")).count(),
            1
        );
        assert!(
            export
                .lines()
                .any(|l| l.contains("R1-P0000001") && l.ends_with('Z')),
            "credited mark exported:\n{export}"
        );

        // CSV and XLSX renderings, over HTTP too.
        let card_csv = String::from_utf8(
            report_out::csv_section(&rep, "card", report_out::Dialect::Standard).unwrap(),
        )
        .unwrap();
        assert!(
            card_csv.contains("not_settled") && card_csv.contains("777.00"),
            "{card_csv}"
        );
        let http_csv = finance
            .get(format!(
                "{}api/v1/reports/reconciliation/encashments.csv?from={DAY}&to={DAY}",
                server.url()
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            http_csv.contains("R1-E1") && http_csv.contains("-1000.00"),
            "{http_csv}"
        );
        // The same section for a Russian Excel: BOM, ';', decimal comma in amounts only.
        let excel = finance
            .get(format!(
                "{}api/v1/reports/reconciliation/encashments.csv?from={DAY}&to={DAY}&dialect=excel-ru",
                server.url()
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let excel = std::str::from_utf8(&excel).unwrap();
        assert!(excel.starts_with('\u{feff}'), "UTF-8 BOM");
        assert!(
            excel.contains(";1000,00;2;1;-1;-1000,00")
                && !excel.contains("-1000.00")
                && excel.contains("terminal_id;encashment_id;"),
            "{excel}"
        );
        assert_eq!(
            excel.lines().count(),
            http_csv.lines().count(),
            "same rows in both dialects"
        );
        let payments = finance
            .get(format!(
                "{}api/v1/export/payments.csv?from={DAY}&to={DAY}&dialect=excel-ru",
                server.url()
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            payments.starts_with('\u{feff}') && payments.contains(";1500,00;"),
            "{payments}"
        );
        let bad = finance
            .get(format!(
                "{}api/v1/reports/reconciliation/days.csv?from={DAY}&to={DAY}&dialect=excel",
                server.url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let xlsx = finance
            .get(format!(
                "{}api/v1/reports/reconciliation.xlsx?from={DAY}&to={DAY}",
                server.url()
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&xlsx[..2], b"PK");
        let bad_dates = finance
            .get(format!(
                "{}api/v1/reports/reconciliation?from=2026-13-01&to={DAY}",
                server.url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(bad_dates.status(), 400);
        server.kill();
    }
}

#[test]
fn the_cli_registers_terminals_imports_settlements_and_writes_reports() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bo.sqlite");
    let bin = env!("CARGO_BIN_EXE_back-office");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("--database-url")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let key = run(&["terminal", "add", "CLI-1"]);
    assert_eq!(key.trim().len(), 64);
    let again = std::process::Command::new(bin)
        .arg("--database-url")
        .arg(&db)
        .args(["terminal", "add", "CLI-1"])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "a second add without --rotate-key is refused"
    );
    let csv = dir.path().join("s.csv");
    std::fs::write(
        &csv,
        "date,card_terminal_id,receipt_no,operation,amount\n2026-11-20,CT-X,1,sale,10.00\n",
    )
    .unwrap();
    run(&["import-settlement", csv.to_str().unwrap()]);
    let out = run(&[
        "reconcile",
        "--from",
        DAY,
        "--to",
        DAY,
        "--format",
        "csv",
        "--out",
        dir.path().join("rep").to_str().unwrap(),
    ]);
    assert_eq!(out.lines().count(), report_out::SECTIONS.len());
    let card =
        std::fs::read_to_string(dir.path().join(format!("rep/card-{DAY}-{DAY}.csv"))).unwrap();
    assert!(card.contains("settled_without_payment"), "{card}");
    run(&[
        "reconcile",
        "--from",
        DAY,
        "--to",
        DAY,
        "--format",
        "csv",
        "--dialect",
        "excel-ru",
        "--out",
        dir.path().join("rep-ru").to_str().unwrap(),
    ]);
    let card_ru =
        std::fs::read_to_string(dir.path().join(format!("rep-ru/card-{DAY}-{DAY}.csv"))).unwrap();
    assert!(
        card_ru.starts_with("\u{feff}problem;terminal_id;") && card_ru.contains(";10,00"),
        "{card_ru}"
    );
    let xlsx = dir.path().join("r.xlsx");
    run(&[
        "reconcile",
        "--from",
        DAY,
        "--to",
        DAY,
        "--format",
        "xlsx",
        "--out",
        xlsx.to_str().unwrap(),
    ]);
    assert_eq!(&std::fs::read(&xlsx).unwrap()[..2], b"PK");
    let bad = std::fs::write(
        &csv,
        "date,card_terminal_id,receipt_no,operation,amount\n2026-11-20,CT-X,1,sale,ten\n",
    );
    bad.unwrap();
    let out = std::process::Command::new(bin)
        .arg("--database-url")
        .arg(&db)
        .args(["import-settlement", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

/// The incrementally kept FD gaps are exactly the missing numbers a naive scan
/// finds, for random sets of documents.
#[tokio::test]
async fn fd_gap_search_matches_a_naive_scan() {
    use rand::{Rng, SeedableRng};
    let db = common::sqlite().await;
    for case in 0..40u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(case);
        let n = rng.gen_range(1..400i64);
        let start = rng.gen_range(1..50i64);
        let present: Vec<i64> = (start..start + n).filter(|_| rng.gen_bool(0.93)).collect();
        if present.is_empty() {
            continue;
        }
        let (t, fnn) = (format!("G{case}"), "FN".to_string());
        // Documents may arrive in any order (the projection is rebuilt, terminals resend).
        let mut rows = present.clone();
        for i in (1..rows.len()).rev() {
            if rng.gen_bool(0.3) {
                let j = rng.gen_range(0..=i);
                rows.swap(i, j);
            }
        }
        let (t2, f2) = (t.clone(), fnn.clone());
        db.store
            .run("g", move |sql| -> Result<(), back_office::StoreError> {
                // One batch's memo across them all, as an ingest batch has.
                let mut memo = back_office::project::BatchMemo::default();
                for fd in rows {
                    back_office::project::fiscal_doc(
                        sql, &t2, &f2, fd as u32, DAY, "receipt", &mut memo,
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let mut naive = Vec::new();
        for w in present.windows(2) {
            if w[1] > w[0] + 1 {
                naive.push((w[0] + 1, w[1] - 1));
            }
        }
        let rep = db.store.read(|sql| report(sql, DAY, DAY)).await.unwrap();
        let found: Vec<(i64, i64)> = rep
            .fd_gaps
            .iter()
            .filter(|g| g.terminal_id == t)
            .map(|g| (g.missing_from, g.missing_to))
            .collect();
        assert_eq!(found, naive, "case {case}");
    }
}

/// A settlement file imported before the terminal's journal arrives matches just the same.
#[tokio::test]
async fn settlement_imported_before_the_journal_still_matches() {
    for db in all_stores().await {
        let mut w = JournalWriter::new("S1", start());
        let (recs, a) = w.card_payment("100000001", 42_000);
        let lines = back_office::settlement::parse(
            format!(
                "date,card_terminal_id,receipt_no,operation,amount\n{}",
                settlement_line(&a)
            )
            .as_bytes(),
        )
        .unwrap();
        db.store
            .run("s", move |sql| {
                back_office::settlement::import(sql, &lines, &now_utc())
            })
            .await
            .unwrap();
        let before = db.store.read(|sql| report(sql, DAY, DAY)).await.unwrap();
        assert_eq!(
            before.card_mismatches.len(),
            1,
            "[{}] unexplained until the journal arrives",
            db.label
        );
        add_terminal(&db.store, "S1").await;
        db.store
            .run("S1", move |sql| ingest(sql, "S1", &recs, &now_utc()))
            .await
            .unwrap();
        let after = db.store.read(|sql| report(sql, DAY, DAY)).await.unwrap();
        assert!(
            after.card_mismatches.is_empty(),
            "[{}] {:?}",
            db.label,
            after.card_mismatches
        );
        assert_eq!(after.days[0].settled_kopecks, 42_000);
    }
}

/// A kiosk that journals another kiosk's card terminal id (and its receipt numbers) is flagged and
/// its operations do not look settled; an admin moving the card terminal moves the matches.
#[tokio::test]
async fn another_kiosks_card_terminal_id_does_not_settle() {
    for db in all_stores().await {
        let s = &db.store;
        for t in ["KA", "KB"] {
            add_terminal(s, t).await;
        }
        let mut a = JournalWriter::new("KA", start());
        let (ra, approval_a) = a.card_payment("100000001", 50_000);
        // KB claims KA's card terminal and the next receipt number there.
        let mut b = JournalWriter::new("KB", start());
        b.card_terminal_id = a.card_terminal_id.clone();
        b.card_receipt_no = a.card_receipt_no;
        let (rb, approval_b) = b.card_payment("100000002", 30_000);
        assert_eq!(approval_b.card_terminal_id, approval_a.card_terminal_id);
        for (t, recs) in [("KA", ra), ("KB", rb)] {
            let t = t.to_string();
            s.run(&t.clone(), move |sql| ingest(sql, &t, &recs, &now_utc()))
                .await
                .unwrap();
        }
        // The acquirer settled both receipts of that card terminal.
        let csv = format!(
            "date,card_terminal_id,receipt_no,operation,amount,rrn\n{}{}",
            settlement_line(&approval_a),
            settlement_line(&approval_b)
        );
        let lines = back_office::settlement::parse(csv.as_bytes()).unwrap();
        s.run("settlement", move |sql| {
            back_office::settlement::import(sql, &lines, &now_utc())
        })
        .await
        .unwrap();
        let problems = |store: back_office::Store| async move {
            let r = store.read(|sql| report(sql, DAY, DAY)).await.unwrap();
            let mut v: Vec<(String, Option<String>, i64)> = r
                .card_mismatches
                .iter()
                .map(|m| (m.problem.clone(), m.terminal_id.clone(), m.receipt_no))
                .collect();
            v.sort();
            v
        };
        let rb_no = i64::from(approval_b.receipt_no);
        let ra_no = i64::from(approval_a.receipt_no);
        assert_eq!(
            problems(s.clone()).await,
            [
                ("not_settled".to_string(), Some("KB".to_string()), rb_no),
                ("settled_without_payment".to_string(), None, rb_no),
            ],
            "[{}] KA settles, KB does not",
            db.label
        );
        let flagged = s
            .read(|sql| back_office::incidents::latest(sql, 10))
            .await
            .unwrap();
        assert!(
            flagged.iter().any(|i| i.code == "foreign_card_terminal"
                && i.terminal_id.as_deref() == Some("KB")
                && i.detail.contains("KA")),
            "{flagged:?}"
        );
        // A rebuild keeps the owner and does not repeat the incident.
        s.run("x", |sql| back_office::project::rebuild(sql, &now_utc()))
            .await
            .unwrap();
        assert_eq!(problems(s.clone()).await.len(), 2);
        let n = s
            .read(|sql| {
                sql.query_one(
                    "SELECT COUNT(*) FROM incidents WHERE code = 'foreign_card_terminal'",
                    &[],
                )
            })
            .await
            .unwrap()
            .unwrap()
            .int(0);
        assert_eq!(n, 1);
        // The admin says the card terminal is KB's: now KA's operation is the foreign one.
        let ct = approval_a.card_terminal_id.clone();
        s.run("settlement", move |sql| {
            back_office::card_terminals::register(sql, &ct, "KB", &now_utc())
        })
        .await
        .unwrap();
        assert_eq!(
            problems(s.clone()).await,
            [
                ("not_settled".to_string(), Some("KA".to_string()), ra_no),
                ("settled_without_payment".to_string(), None, ra_no),
            ]
        );
    }
}

#[test]
fn the_cli_manages_users_tokens_and_card_terminals() {
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
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let ok = |args: &[&str], stdin: Option<&str>| {
        let out = run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let generated = ok(&["user", "add", "ivanov", "--role", "technician"], None);
    assert_eq!(
        generated.trim().len(),
        16,
        "a generated password, printed once"
    );
    ok(
        &[
            "user",
            "add",
            "petrova",
            "--role",
            "finance",
            "--password-stdin",
        ],
        Some("a chosen long password\n"),
    );
    let short = run(
        &[
            "user",
            "add",
            "sidorov",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!short.status.success());
    let bad_role = run(&["user", "add", "x", "--role", "root"], None);
    assert!(!bad_role.status.success());
    ok(&["user", "set-role", "ivanov", "admin"], None);
    ok(&["user", "disable", "petrova"], None);
    let list = ok(&["user", "list"], None);
    assert!(
        list.contains("ivanov\tadmin\tenabled") && list.contains("petrova\tfinance\tdisabled"),
        "{list}"
    );
    let token = ok(
        &["token", "add", "ivanov", "--label", "export script"],
        None,
    );
    assert!(
        token.trim().starts_with("bo_") && token.trim().len() == 67,
        "{token}"
    );
    assert!(
        !run(&["token", "add", "petrova"], None).status.success(),
        "disabled user"
    );
    ok(&["terminal", "add", "K-1"], None);
    ok(&["card-terminal", "register", "CT-9", "K-1"], None);
    assert!(ok(&["card-terminal", "list"], None).contains("CT-9\tK-1\tadmin"));
    assert!(!run(&["card-terminal", "register", "CT-9", "NOPE"], None)
        .status
        .success());
    // The passwords were checked and stored as Argon2id, and everything is in the audit log.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let hash: String = conn
        .query_row(
            "SELECT password_hash FROM users WHERE name = 'petrova'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(back_office::users::verify_password(
        &hash,
        "a chosen long password"
    ));
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        actions,
        [
            "user_added",
            "user_added",
            "role_changed",
            "user_disabled",
            "token_added",
            "terminal_added",
            "card_terminal_registered"
        ]
    );
}

/// One part of an XLSX (zip) file as text.
fn xlsx_part(xlsx: &[u8], name: &str) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// The XLSX finance opens: sheets named in Russian, column widths, real dates and a totals row
/// whose sums are the report's.
#[tokio::test]
async fn the_workbook_has_widths_dates_and_totals() {
    let db = common::sqlite().await;
    let p = plant();
    for (t, recs) in &p.records {
        add_terminal(&db.store, t).await;
        let (t, recs) = (t.clone(), recs.clone());
        db.store
            .run(&t.clone(), move |sql| ingest(sql, &t, &recs, &now_utc()))
            .await
            .unwrap();
    }
    let rep = db.store.read(|sql| report(sql, DAY, DAY)).await.unwrap();
    let xlsx = report_out::xlsx(&rep).unwrap();
    let workbook = xlsx_part(&xlsx, "xl/workbook.xml");
    assert!(
        workbook.contains("name=\"По дням\"") && workbook.contains("name=\"Инкассации\""),
        "{workbook}"
    );
    let days = xlsx_part(&xlsx, "xl/worksheets/sheet1.xml");
    assert!(
        days.contains("<cols>") && days.contains("customWidth=\"1\""),
        "column widths"
    );
    // 2026-11-20 is day 46346 of Excel's calendar: a date cell, not the text "2026-11-20".
    assert!(days.contains("<v>46346</v>"), "a real date cell in {days}");
    assert!(!days.contains("2026-11-20"));
    let n = rep.days.len() + 1;
    let cash: i64 = rep.days.iter().map(|d| d.cash_kopecks).sum();
    let payments: i64 = rep.days.iter().map(|d| d.cash_payments).sum();
    assert!(
        days.contains(&format!(
            "<f>SUM(D2:D{n})</f><v>{}</v>",
            report_out::rubles(cash)
        )),
        "cash total in {days}"
    );
    assert!(days.contains(&format!("<f>SUM(C2:C{n})</f><v>{payments}</v>")));
    let strings = xlsx_part(&xlsx, "xl/sharedStrings.xml");
    assert!(strings.contains("Итого"));
    // Encashment times are date-time cells (a fraction of a day), sequence numbers are not totalled.
    let enc = xlsx_part(&xlsx, "xl/worksheets/sheet2.xml");
    assert!(
        enc.contains("<f>SUM(G2:G") && !enc.contains("<f>SUM(D2:D"),
        "{enc}"
    );
}

/// A terminal's business day is the day where it stands: a payment at 15:00 UTC is on the next
/// day in Vladivostok (UTC+10) and on the same day in Moscow; moving a terminal's time zone moves
/// its days (the projections are rebuilt), and the fleet page shows its times in its zone.
#[tokio::test]
async fn business_days_and_shown_times_follow_each_terminals_time_zone() {
    for db in all_stores().await {
        let s = &db.store;
        for t in ["TZ-M", "TZ-V"] {
            add_terminal(s, t).await;
        }
        s.run("x", |sql| {
            back_office::terminals::set_time_zone(sql, "TZ-V", "Asia/Vladivostok")
        })
        .await
        .unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-20T15:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        for t in ["TZ-M", "TZ-V"] {
            let mut w = JournalWriter::new(t, at);
            let recs = w.cash_payment("100000001", &[100_000]);
            let t = t.to_string();
            s.run(&t.clone(), move |sql| ingest(sql, &t, &recs, &now_utc()))
                .await
                .unwrap();
        }
        let day_of = |t: &'static str| {
            let store = s.clone();
            async move {
                store
                    .read(move |sql| {
                        sql.query_one(
                            "SELECT day FROM payments WHERE terminal_id = $1",
                            back_office::params![t],
                        )
                    })
                    .await
                    .unwrap()
                    .unwrap()
                    .text(0)
            }
        };
        assert_eq!(day_of("TZ-M").await, "2026-11-20", "[{}]", db.label);
        assert_eq!(day_of("TZ-V").await, "2026-11-21");
        let page = s
            .read(|sql| back_office::fleet::page(sql, chrono::Utc::now()))
            .await
            .unwrap();
        assert!(page.contains(" MSK<") && page.contains(" +10<"), "{page}");
        assert!(matches!(
            s.run("x", |sql| back_office::terminals::set_time_zone(
                sql,
                "TZ-M",
                "Mars/Olympus"
            ))
            .await,
            Err(back_office::terminals::TerminalError::BadTimeZone(_))
        ));
        s.run("x", |sql| {
            back_office::web::admin::set_time_zone_audited(
                sql,
                "t",
                "t",
                "TZ-M",
                "Asia/Vladivostok",
            )
        })
        .await
        .unwrap();
        assert_eq!(
            day_of("TZ-M").await,
            "2026-11-21",
            "rebuilt in the new zone"
        );
        let r = s
            .read(|sql| report(sql, "2026-11-21", "2026-11-21"))
            .await
            .unwrap();
        assert_eq!(
            r.days.len(),
            2,
            "both terminals' payments are on their 21st"
        );
    }
}

/// Each closed fiscal shift's Z-report against the journal's receipts for it: a shift whose
/// counters agree passes; one whose Z-report counts a receipt the journal does not hold (a sale
/// made outside the kiosk's journal) is flagged for finance, on the report and in shifts.csv.
#[tokio::test]
async fn a_z_report_that_disagrees_with_the_journal_is_flagged() {
    for db in all_stores().await {
        let mut w = JournalWriter::new("Z1", start());
        let mut recs = w.cash_payment("100000001", &[100_000, 50_000]);
        let (card, _) = w.card_payment("100000001", 70_000);
        recs.extend(card);
        let fn_number = w.fn_number.clone();
        let z = |shift: u32, receipts: u32, cash: i64, card: i64| JournalEvent::ShiftClosed {
            shift_number: shift,
            receipts,
            total_kopecks: cash + card,
            cash_kopecks: cash,
            card_kopecks: card,
            fn_number: Some(fn_number.clone()),
            fd_number: None,
        };
        // Shift 1 holds both receipts (the writer's receipts are all in shift 1).
        recs.push(w.push(&z(1, 2, 150_000, 70_000), 1_000));
        // Shift 2's Z-report counts a 500 ₽ cash receipt the journal never saw.
        recs.push(w.push(&z(2, 1, 50_000, 0), 1_000));
        add_terminal(&db.store, "Z1").await;
        db.store
            .run("Z1", move |sql| ingest(sql, "Z1", &recs, &now_utc()))
            .await
            .unwrap();
        let rep = db.store.read(|sql| report(sql, DAY, DAY)).await.unwrap();
        let shifts: Vec<_> = rep
            .shifts
            .iter()
            .map(|s| {
                (
                    s.shift_number,
                    s.matches,
                    s.journal_receipts,
                    s.journal_cash_kopecks,
                    s.journal_card_kopecks,
                )
            })
            .collect();
        assert_eq!(
            shifts,
            vec![(2, false, 0, 0, 0), (1, true, 2, 150_000, 70_000)],
            "[{}] mismatches first",
            db.label
        );
        // Shift 2, beside the card payment no settlement file has confirmed yet (and its day).
        assert_eq!(rep.discrepancies(), 3, "[{}] {rep:?}", db.label);
        let csv = report_out::csv_section(&rep, "shifts", report_out::Dialect::Standard).unwrap();
        let text = String::from_utf8(csv).unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("Z1,") && l.contains(",2,") && l.contains(",НЕТ,")),
            "[{}] {text}",
            db.label
        );
    }
}
