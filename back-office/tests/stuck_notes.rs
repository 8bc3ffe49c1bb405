//! Stuck notes for finance: a note whose STACK had no outcome is listed (reference, time, amount,
//! account, reason, age) on the finance page, in the reconciliation and on the terminal page
//! until resolved; a note found in the cassette or reported stacked late counts as stacked cash
//! of its resolution's day and in the next encashment, so the books balance; a note handed back
//! credits nothing. The projection survives a rebuild. On both stores.

mod common;

use back_office::ingest::ingest;
use back_office::reconcile::{report, Report};
use back_office::testkit::JournalWriter;
use back_office::{now_utc, report_out};
use backend_sync::event::StuckNoteOutcome;
use backend_sync::JournalRecord;
use common::{add_terminal, all_stores, Server, TestDb};

const DAY: &str = "2026-11-20";

fn start() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-20T06:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

async fn ingest_all(db: &TestDb, recs: Vec<JournalRecord>) {
    db.store
        .run("S1", move |sql| ingest(sql, "S1", &recs, &now_utc()))
        .await
        .unwrap();
}

async fn day_report(db: &TestDb) -> Report {
    db.store.read(|sql| report(sql, DAY, DAY)).await.unwrap()
}

fn outcome_of<'a>(rep: &'a Report, reference: &str) -> Option<&'a str> {
    rep.stuck_notes
        .iter()
        .find(|n| n.reference == reference)
        .unwrap_or_else(|| panic!("{reference} not in {:?}", rep.stuck_notes))
        .outcome
        .as_deref()
}

#[tokio::test]
async fn stuck_notes_are_listed_until_resolved_and_found_ones_balance_the_books() {
    for db in all_stores().await {
        add_terminal(&db.store, "S1").await;
        let mut w = JournalWriter::new("S1", start());
        // Before any resolution: what was stacked balances, the stuck notes are not cash yet.
        let mut first = w.cash_payment_with_stuck_note("100000001", &[100_000], 50_000, "S1-N1");
        first.extend(w.cash_payment_with_stuck_note("100000002", &[], 10_000, "S1-N2"));
        first.extend(w.cash_payment_with_stuck_note("100000003", &[], 200_000, "S1-N3"));
        first.extend(w.cash_payment_with_stuck_note("100000001", &[5_000], 10_000, "S1-N4"));
        ingest_all(&db, first).await;
        let rep = day_report(&db).await;
        let d = &rep.days[0];
        assert_eq!(
            (d.bills_kopecks, d.cash_kopecks, d.cash_variance_kopecks),
            (105_000, 105_000, 0),
            "[{}]",
            db.label
        );
        assert_eq!(rep.stuck_notes.len(), 4, "[{}]", db.label);
        assert!(rep.stuck_notes.iter().all(|n| n.outcome.is_none()));
        let n1 = &rep.stuck_notes[0];
        assert_eq!(
            (
                n1.reference.as_str(),
                n1.account.as_str(),
                n1.denomination_kopecks
            ),
            ("S1-N1", "100000001", 50_000)
        );
        assert_eq!(n1.reason, "validator jammed after STACK");
        assert!(n1.age_minutes > 60 * 24, "stuck in 2026, now is later");
        assert_eq!(
            rep.discrepancies(),
            4,
            "[{}] open notes need a person",
            db.label
        );

        // The technician finds N1 in the cassette, hands N2 back; N4 is reported stacked late.
        let mut second = w.resolve_stuck_note(
            "S1-N1",
            "100000001",
            50_000,
            StuckNoteOutcome::FoundInCassette,
        );
        second.extend(w.resolve_stuck_note(
            "S1-N2",
            "100000002",
            10_000,
            StuckNoteOutcome::HandedBack,
        ));
        second.extend(w.resolve_stuck_note(
            "S1-N4",
            "100000001",
            10_000,
            StuckNoteOutcome::ReportedStacked,
        ));
        second.extend(w.encashment("S1-E1", &[]));
        ingest_all(&db, second).await;

        let rep = day_report(&db).await;
        check_balanced(&db, &rep);
        // A rebuild projects the same.
        db.store
            .run("x", |sql| back_office::project::rebuild(sql, &now_utc()))
            .await
            .unwrap();
        let rebuilt = day_report(&db).await;
        assert_eq!(rebuilt.days, rep.days, "[{}]", db.label);
        assert_eq!(rebuilt.encashments, rep.encashments, "[{}]", db.label);
        check_balanced(&db, &rebuilt);
        check_pages(&db, &rep).await;
    }
}

fn check_balanced(db: &TestDb, rep: &Report) {
    let d = &rep.days[0];
    // 1000 + 50 stacked, 500 found, 100 reported stacked; the 100 handed back is nobody's cash.
    let cash = 100_000 + 5_000 + 50_000 + 10_000;
    assert_eq!(
        (d.bills_kopecks, d.cash_kopecks, d.cash_variance_kopecks),
        (cash, cash, 0),
        "[{}] {d:?}",
        db.label
    );
    assert_eq!(d.bills.get(&50_000), Some(&1), "[{}]", db.label);
    assert_eq!(d.bills.get(&10_000), Some(&1), "[{}]", db.label);
    assert!(
        rep.encashments.iter().all(|e| e.variance_count == 0),
        "[{}] {:?}",
        db.label,
        rep.encashments
    );
    assert_eq!(
        rep.encashments
            .iter()
            .find(|e| e.denomination_kopecks == 50_000)
            .map(|e| e.expected_count),
        Some(1),
        "[{}] the found note is stacked since the previous count",
        db.label
    );
    assert_eq!(outcome_of(rep, "S1-N1"), Some("found_in_cassette"));
    assert_eq!(outcome_of(rep, "S1-N2"), Some("handed_back"));
    assert_eq!(outcome_of(rep, "S1-N3"), None);
    assert_eq!(outcome_of(rep, "S1-N4"), Some("reported_stacked"));
    assert_eq!(rep.stuck_notes[0].reference, "S1-N3", "open notes first");
    let n1 = rep
        .stuck_notes
        .iter()
        .find(|n| n.reference == "S1-N1")
        .unwrap();
    assert!(n1
        .resolution_payment_id
        .as_deref()
        .is_some_and(|p| p.starts_with("S1-P")));
}

async fn check_pages(db: &TestDb, rep: &Report) {
    let csv = String::from_utf8(
        report_out::csv_section(rep, "stuck_notes", report_out::Dialect::Standard).unwrap(),
    )
    .unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.contains("S1-N3") && csv.contains(",open,"), "{csv}");
    assert!(csv.contains("2000.00"), "{csv}");
    let xlsx = report_out::xlsx(rep).unwrap();
    assert!(!xlsx.is_empty());

    let server = Server::start(db.store.clone()).await;
    let admin = common::authed(&common::api_token(&db.store, "adm", "admin").await);
    let term = admin
        .get(format!("{}terminals/S1", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let table = term
        .split("id=\"stuck-notes\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("[{}] no stuck notes on the terminal page", db.label));
    assert!(
        table.contains("S1-N3") && table.contains("2\u{a0}000,00\u{a0}₽"),
        "{table}"
    );
    assert!(
        !table.contains("S1-N1") && !table.contains("S1-N2"),
        "{table}"
    );
    let finance = admin
        .get(format!("{}finance", server.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open = finance.split("id=\"stuck-open\"").nth(1).unwrap();
    let (open, resolved) = open.split_once("id=\"stuck-resolved\"").unwrap();
    assert!(open.contains("S1-N3") && !open.contains("S1-N1"), "{open}");
    assert!(open.contains("100000003") && open.contains("замятие купюры после команды"));
    assert!(
        resolved.contains("S1-N1") && resolved.contains("найдена в кассете"),
        "{resolved}"
    );
    assert!(resolved.contains("возвращена клиенту"), "{resolved}");
    server.kill();
}
