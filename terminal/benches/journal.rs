//! Journal append cost against a bare rusqlite insert of the same durability (WAL,
//! synchronous=FULL, one transaction per entry), in a temp dir on the same disk.
//!
//! Run: `cargo bench -p terminal --bench journal` (set `JOURNAL_BENCH_N` to change the count).
//! Prints throughput and p50/p99 latency for both, and the ratio (goal: journal ≤ 1.3× bare).

use std::time::{Duration, Instant};

use backend_sync::JournalEvent;
use chrono::Utc;
use rusqlite::{params, Connection};
use terminal::journal::Journal;

fn event(i: u64) -> JournalEvent {
    JournalEvent::BillStacked {
        payment_id: Some(format!("PK01-261127-{i:06}")),
        denomination_kopecks: 100_000,
    }
}

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn figures(mut lat: Vec<Duration>, total: Duration) -> Figures {
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    Figures {
        per_second: lat.len() as f64 / total.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn bench_journal(dir: &std::path::Path, name: &str, n: u64) -> Figures {
    let mut journal = Journal::open(&dir.join(name)).expect("open journal");
    let mut lat = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        journal.append(&event(i), Utc::now()).expect("append");
        lat.push(t.elapsed());
    }
    figures(lat, start.elapsed())
}

/// The journal as the kiosk runs it: every append also queues the entry in the sync outbox, in
/// the same transaction.
fn bench_journal_outbox(dir: &std::path::Path, name: &str, n: u64) -> Figures {
    let mut journal = Journal::open(&dir.join(name)).expect("open journal");
    terminal::sync::attach_outbox(&mut journal).expect("outbox");
    let mut lat = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        journal.append(&event(i), Utc::now()).expect("append");
        lat.push(t.elapsed());
    }
    figures(lat, start.elapsed())
}

fn bench_bare(dir: &std::path::Path, name: &str, n: u64) -> Figures {
    let conn = Connection::open(dir.join(name)).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("sync");
    conn.execute_batch("CREATE TABLE t (seq INTEGER PRIMARY KEY, time_utc TEXT, kind TEXT, payload TEXT, prev_hash TEXT, hash TEXT)")
        .expect("schema");
    let payload = event(0).canonical_payload();
    let hash = "0".repeat(64);
    let mut stmt = conn
        .prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .expect("prepare");
    let mut lat = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        stmt.execute(params![
            i,
            "2026-11-27T10:00:00.000Z",
            "BillStacked",
            payload,
            hash,
            hash
        ])
        .expect("insert");
        lat.push(t.elapsed());
    }
    figures(lat, start.elapsed())
}

fn main() {
    let n: u64 = std::env::var("JOURNAL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("tempdir");
    // Alternate to spread disk noise over both.
    let bare1 = bench_bare(dir.path(), "bare1.sqlite", n / 2);
    let jour1 = bench_journal(dir.path(), "journal1.sqlite", n / 2);
    let bare2 = bench_bare(dir.path(), "bare2.sqlite", n / 2);
    let jour2 = bench_journal(dir.path(), "journal2.sqlite", n / 2);
    let outbox1 = bench_journal_outbox(dir.path(), "outbox1.sqlite", n / 2);
    let outbox2 = bench_journal_outbox(dir.path(), "outbox2.sqlite", n / 2);
    let outbox = if outbox2.per_second > outbox1.per_second {
        outbox2
    } else {
        outbox1
    };
    let bare = if bare2.per_second > bare1.per_second {
        bare2
    } else {
        bare1
    };
    let jour = if jour2.per_second > jour1.per_second {
        jour2
    } else {
        jour1
    };
    println!("entries per run: {}", n / 2);
    println!(
        "bare rusqlite insert (WAL, synchronous=FULL): {:>8.0} /s   p50 {:>8.3} ms   p99 {:>8.3} ms",
        bare.per_second,
        bare.p50.as_secs_f64() * 1e3,
        bare.p99.as_secs_f64() * 1e3
    );
    println!(
        "journal append (hash chain + tip):            {:>8.0} /s   p50 {:>8.3} ms   p99 {:>8.3} ms",
        jour.per_second,
        jour.p50.as_secs_f64() * 1e3,
        jour.p99.as_secs_f64() * 1e3
    );
    println!(
        "journal append + sync outbox (one tx):       {:>8.0} /s   p50 {:>8.3} ms   p99 {:>8.3} ms",
        outbox.per_second,
        outbox.p50.as_secs_f64() * 1e3,
        outbox.p99.as_secs_f64() * 1e3
    );
    println!(
        "ratio journal+outbox/bare: p50 {:.2}x   p99 {:.2}x   throughput {:.2}x (goal: at most 1.3x)",
        outbox.p50.as_secs_f64() / bare.p50.as_secs_f64(),
        outbox.p99.as_secs_f64() / bare.p99.as_secs_f64(),
        bare.per_second / outbox.per_second
    );
    println!(
        "ratio journal/bare: p50 {:.2}x   p99 {:.2}x   throughput {:.2}x (goal: at most 1.3x)",
        jour.p50.as_secs_f64() / bare.p50.as_secs_f64(),
        jour.p99.as_secs_f64() / bare.p99.as_secs_f64(),
        bare.per_second / jour.per_second
    );
}
