//! The `terminal` binary end to end: the demo, and `journal verify` naming tampered entries.

use std::process::Command;

use backend_sync::JournalEvent;
use chrono::Utc;
use rusqlite::Connection;
use terminal::journal::Journal;

fn terminal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_terminal"))
}

#[test]
fn demo_pays_1500_in_cash_and_prints_a_receipt() {
    let out = terminal().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("НАЛИЧНЫМИ") && stdout.contains("1 500,00"),
        "{stdout}"
    );
    assert!(stdout.contains("цепочка проверена"), "{stdout}");
}

fn journal_file(entries: i64) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite");
    let mut journal = Journal::open(&path).unwrap();
    for i in 1..=entries {
        let event = JournalEvent::BillStacked {
            payment_id: Some(format!("P{i}")),
            denomination_kopecks: i * 10_000,
        };
        journal.append(&event, Utc::now()).unwrap();
    }
    (dir, path)
}

fn tamper(path: &std::path::Path, sql: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;")
        .unwrap();
    conn.execute_batch(sql).unwrap();
}

fn verify(path: &std::path::Path) -> (bool, String) {
    let out = terminal()
        .args(["journal", "verify", "--journal"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn verify_accepts_an_intact_journal() {
    let (_d, path) = journal_file(6);
    let (ok, text) = verify(&path);
    assert!(ok, "{text}");
    assert!(text.contains("6 entries"), "{text}");
}

#[test]
fn verify_names_an_edited_amount() {
    let (_d, path) = journal_file(6);
    tamper(
        &path,
        "UPDATE journal SET payload = replace(payload, '40000', '90000') WHERE seq = 4;",
    );
    let (ok, text) = verify(&path);
    assert!(!ok);
    assert!(text.contains("BROKEN at entry 4"), "{text}");
}

#[test]
fn verify_names_a_deleted_row() {
    let (_d, path) = journal_file(6);
    tamper(&path, "DELETE FROM journal WHERE seq = 3;");
    let (ok, text) = verify(&path);
    assert!(!ok);
    assert!(text.contains("BROKEN at entry 3"), "{text}");
}

#[test]
fn verify_names_two_swapped_rows() {
    let (_d, path) = journal_file(6);
    tamper(
        &path,
        "UPDATE journal SET seq = -1 WHERE seq = 2; UPDATE journal SET seq = 2 WHERE seq = 5; UPDATE journal SET seq = 5 WHERE seq = -1;",
    );
    let (ok, text) = verify(&path);
    assert!(!ok);
    assert!(text.contains("BROKEN at entry 2"), "{text}");
}

#[test]
fn export_writes_csv() {
    let (_d, path) = journal_file(3);
    let out = terminal()
        .args([
            "journal",
            "export",
            "--format",
            "csv",
            "--from",
            "2",
            "--journal",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.starts_with("seq,time_utc,kind,payload,prev_hash,hash"));
}

#[test]
fn config_check_accepts_the_example_and_names_every_bad_key() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/kiosk.example.toml");
    let out = terminal()
        .args(["config", "check", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[terminal]\nid = \"x y\"\n").unwrap();
    let out = terminal()
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("terminal.id: expected"), "{text}");
    assert!(text.contains("seller: missing"), "{text}");

    // A brand colour pair that fails WCAG AA contrast is refused, naming the key.
    let pale = std::fs::read_to_string(example)
        .unwrap()
        .replace("primary_color = \"#0b5cad\"", "primary_color = \"#ffcc00\"");
    std::fs::write(&bad, pale).unwrap();
    let out = terminal()
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("brand.primary_color: #ffcc00 under text #ffffff"),
        "{text}"
    );
}
