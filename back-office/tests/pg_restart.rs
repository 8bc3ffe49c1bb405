//! PostgreSQL restarted under load: 100 simulated terminals (their own SQLite journal and
//! outbox, the real syncer over signed HTTP) write payments and sync to a server on PostgreSQL
//! while the database server is stopped and started again twice. At the end every terminal's
//! journal is stored exactly as written — no record lost, none stored twice — and the projected
//! payments and bills are the terminals' own totals.
//!
//! The restart needs a cluster of its own (stopping the shared one would break the tests running
//! beside this one): the test makes a throw-away cluster with Debian's `initdb` on a free port.
//! Runs where the PostgreSQL tests run (`KIOSK_TEST_DATABASE_URL` set; under `CI=true` its
//! absence, or a missing `initdb`, is a failure).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use back_office::testkit::{totals, DENOMINATIONS};
use back_office::Store;
use backend_sync::{verify_chain, JournalRecord, GENESIS_HASH};
use common::{add_terminal, Server, SimTerminal};
use rand::{Rng, SeedableRng};
use sync_client::syncer::{spawn, SyncConfig};

const TERMINALS: usize = 100;
const PAYMENTS: usize = 25;
const RESTARTS: usize = 2;

/// A private PostgreSQL cluster that can be stopped and started; removed when dropped.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (PostgreSQL refuses root).
fn as_pg(tool: &Path, args: &[&str]) {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let out = if root {
        let mut line = shell_quote(&tool.display().to_string());
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", &line])
            .output()
    } else {
        Command::new(tool).args(args).output()
    }
    .expect("running a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        tool.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Cluster {
    fn create(bin: PathBuf) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("kiosk-pg-restart")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        // The postgres user must own the data folder and reach it.
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        as_pg(
            &bin.join("initdb"),
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        let c = Cluster {
            bin,
            data,
            port,
            _dir: dir,
        };
        c.start();
        c
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log").display().to_string();
        as_pg(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data.display().to_string(),
                "-l",
                &log,
                "-w",
                "-o",
                &opts,
                "start",
            ],
        );
    }

    /// A fast shutdown: every session is ended, open transactions roll back.
    fn stop(&self) {
        as_pg(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.stop()));
    }
}

/// Everything stored for `id`: the journal in order, payments (count, cash, card) and bills.
async fn stored(store: &Store, id: &str) -> (Vec<JournalRecord>, i64, i64, i64, i64) {
    let id = id.to_string();
    store
        .read(move |sql| -> Result<_, back_office::StoreError> {
            let j = sql.query(
                "SELECT seq, time_utc, kind, payload, prev_hash, hash FROM journal WHERE terminal_id = $1 ORDER BY seq",
                back_office::params![&id],
            )?;
            let p = sql.query(
                "SELECT CAST(COUNT(*) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN method = 'cash' THEN total_kopecks ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN method = 'card' THEN total_kopecks ELSE 0 END), 0) AS BIGINT)
                 FROM payments WHERE terminal_id = $1",
                back_office::params![&id],
            )?;
            let b = sql.query(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM bills WHERE terminal_id = $1",
                back_office::params![&id],
            )?;
            let records = j
                .iter()
                .map(|r| JournalRecord {
                    seq: r.int(0) as u64,
                    time_utc: r.text(1),
                    kind: r.text(2),
                    payload: r.text(3),
                    prev_hash: r.text(4),
                    hash: r.text(5),
                })
                .collect();
            Ok((records, p[0].int(0), p[0].int(1), p[0].int(2), b[0].int(0)))
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_100_terminals_loses_and_duplicates_nothing() {
    if common::pg_url().is_none() {
        return;
    }
    let Some(bin) = pg_bin() else {
        panic!("PostgreSQL tests are on, but no initdb under /usr/lib/postgresql: run back-office/ci/start-postgres.sh");
    };
    let started = Instant::now();
    let cluster = tokio::task::spawn_blocking(move || Cluster::create(bin))
        .await
        .unwrap();
    let store = Store::open_postgres(&cluster.url(), Some("restart"))
        .await
        .unwrap();
    let server = Server::start(store.clone()).await;
    let dir = tempfile::tempdir().unwrap();

    let mut handles = Vec::new();
    let mut writers = Vec::new();
    for t in 0..TERMINALS {
        let id = format!("R-{t:03}");
        let key = add_terminal(&store, &id).await;
        let sim = SimTerminal::open(dir.path(), &id);
        let mut cfg = SyncConfig::new(sim.path.clone(), &server.url(), &id, &key);
        cfg.batch_max = 50;
        cfg.idle_poll = Duration::from_millis(100);
        cfg.backoff_min = Duration::from_millis(20);
        cfg.backoff_max = Duration::from_millis(400);
        cfg.heartbeat_every = Duration::from_secs(3600);
        let handle = std::sync::Arc::new(spawn(cfg).unwrap());
        handles.push(handle.clone());
        writers.push(tokio::task::spawn_blocking(move || {
            let mut sim = sim;
            let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64);
            for _ in 0..PAYMENTS {
                let account = format!("10000{:04}", rng.gen_range(0..50));
                let recs = if rng.gen_bool(0.7) {
                    let bills: Vec<i64> = (0..rng.gen_range(1..4))
                        .map(|_| DENOMINATIONS[rng.gen_range(0..DENOMINATIONS.len())])
                        .collect();
                    sim.writer.cash_payment(&account, &bills)
                } else {
                    sim.writer
                        .card_payment(&account, rng.gen_range(1..500_000))
                        .0
                };
                sim.append(recs);
                handle.wake();
                std::thread::sleep(Duration::from_millis(rng.gen_range(50..150)));
            }
            sim.records
        }));
    }

    // Restart the database while the fleet writes and syncs: each time some batches are in
    // flight (the stored count shows ingest going on just before).
    let ingested = |store: Store| async move {
        store
            .read(|sql| sql.query_one("SELECT CAST(COUNT(*) AS BIGINT) FROM journal", &[]))
            .await
            .map(|r| r.map_or(0, |r| r.int(0)))
            .unwrap_or(-1)
    };
    let mut before_restart: Vec<i64> = Vec::new();
    for _ in 0..RESTARTS {
        // Each restart waits for fresh ingest since the last one (a loaded machine is slow).
        let floor = before_restart.last().copied().unwrap_or(0) + 500;
        let waited = Instant::now();
        let now_stored = loop {
            let n = ingested(store.clone()).await;
            if n >= floor || waited.elapsed() > Duration::from_secs(30) {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        before_restart.push(now_stored);
        let c = &cluster;
        tokio::task::block_in_place(|| {
            c.stop();
            std::thread::sleep(Duration::from_millis(500));
            c.start();
        });
    }
    let mut journals = Vec::new();
    for w in writers {
        journals.push(w.await.unwrap());
    }
    let total: usize = journals.iter().map(Vec::len).sum();
    assert!(
        before_restart.windows(2).all(|w| w[0] < w[1]) && before_restart[0] > 0,
        "the restarts did not fall while batches were being ingested: {before_restart:?} of {total}"
    );
    assert!(
        (*before_restart.last().unwrap() as usize) < total,
        "all was ingested before the last restart: {before_restart:?} of {total}"
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    while !handles.iter().zip(&journals).all(|(h, j)| {
        let s = h.status();
        s.queue_len == 0 && s.acked_seq == j.len() as u64
    }) {
        assert!(
            Instant::now() < deadline,
            "sync did not finish after the restarts: {:?}",
            handles
                .iter()
                .map(|h| h.status())
                .filter(|s| s.queue_len > 0)
                .take(5)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for (t, journal) in journals.iter().enumerate() {
        let id = format!("R-{t:03}");
        let (records, payments, cash, card, bills) = stored(&store, &id).await;
        let want = totals(journal);
        assert_eq!(records.len(), journal.len(), "{id}: journal rows");
        assert_eq!(
            &records, journal,
            "{id}: the stored journal is the terminal's"
        );
        verify_chain((0, GENESIS_HASH), &records).unwrap();
        assert_eq!(payments as u64, want.payments, "{id}: payments");
        assert_eq!(want.payments, PAYMENTS as u64);
        assert_eq!(
            (cash, card),
            (want.cash_kopecks, want.card_kopecks),
            "{id}: money"
        );
        assert_eq!(bills as u64, want.bills, "{id}: bills");
    }
    eprintln!(
        "{TERMINALS} terminals, {total} records, {RESTARTS} restarts at {before_restart:?} records stored, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for h in handles {
        if let Ok(h) = std::sync::Arc::try_unwrap(h) {
            h.shutdown().await;
        }
    }
    drop(server);
}
