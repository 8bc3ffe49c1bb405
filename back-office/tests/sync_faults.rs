//! End to end: three terminals × 1000 payments sync through a fault-injecting proxy (drops,
//! duplicates, delays, reordering, truncated bodies) while the server is killed and restarted.
//! The back office must end with exactly the terminals' totals: no duplicate, no gap.

mod common;

use std::time::{Duration, Instant};

use back_office::testkit::{totals, DENOMINATIONS};
use backend_sync::{verify_chain, JournalRecord, GENESIS_HASH};
use common::proxy::{Faults, Proxy};
use common::{add_terminal, all_stores, Server, SimTerminal, TestDb};
use rand::{Rng, SeedableRng};
use sync_client::syncer::{spawn, SyncConfig};

const TERMINALS: usize = 3;
const PAYMENTS: usize = 1000;

async fn run_soak(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (1..=TERMINALS).map(|i| format!("T-{i:03}")).collect();
    let mut keys = Vec::new();
    for id in &ids {
        keys.push(add_terminal(&db.store, id).await);
    }
    let mut server = Server::start(db.store.clone()).await;
    let proxy = Proxy::start(
        server.addr,
        Faults {
            drop_request: 0.06,
            drop_response: 0.08,
            duplicate: 0.06,
            truncate: 0.05,
            redeliver_later: 0.05,
            max_delay_ms: 15,
        },
    )
    .await;

    // Syncers and writers, as the terminals run them.
    let mut handles = Vec::new();
    let mut writers = Vec::new();
    for (id, key) in ids.iter().zip(&keys) {
        let sim = SimTerminal::open(dir.path(), id);
        let mut cfg = SyncConfig::new(sim.path.clone(), &proxy.url(), id, key);
        cfg.batch_max = 40;
        cfg.idle_poll = Duration::from_millis(50);
        cfg.backoff_min = Duration::from_millis(10);
        cfg.backoff_max = Duration::from_millis(300);
        cfg.heartbeat_every = Duration::from_millis(700);
        let handle = std::sync::Arc::new(spawn(cfg).unwrap());
        handles.push(handle.clone());
        let seed = id.bytes().map(u64::from).sum::<u64>();
        writers.push(tokio::task::spawn_blocking(move || {
            let mut sim = sim;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            for i in 0..PAYMENTS {
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
                if i % 25 == 0 {
                    handle.wake();
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            handle.wake();
            sim.records
        }));
    }

    // Kill and restart the server a few times while the fleet syncs.
    let mut restarts = 0;
    let mut journals: Vec<Vec<JournalRecord>> = Vec::new();
    let mut pending_writers = writers;
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut next_restart = Instant::now() + Duration::from_millis(600);
    loop {
        if restarts < 4 && Instant::now() >= next_restart {
            server.kill();
            tokio::time::sleep(Duration::from_millis(100)).await;
            server = Server::start(db.reopen().await).await;
            proxy.set_upstream(server.addr);
            restarts += 1;
            next_restart = Instant::now() + Duration::from_millis(900);
        }
        if !pending_writers.is_empty() && pending_writers.iter().all(|w| w.is_finished()) {
            for w in pending_writers.drain(..) {
                journals.push(w.await.unwrap());
            }
        }
        let done = !journals.is_empty()
            && restarts >= 4
            && handles.iter().zip(&journals).all(|(h, j)| {
                let s = h.status();
                s.queue_len == 0 && s.acked_seq == j.len() as u64
            });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] sync did not finish: {:?}",
            db.label,
            handles.iter().map(|h| h.status()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = proxy.stats.summary();
    eprintln!(
        "[{}] proxy passed/drop-req/drop-resp/dup/trunc/redeliver = {stats:?}, restarts {restarts}",
        db.label
    );
    for (i, n) in stats.iter().enumerate() {
        assert!(*n > 0, "[{}] fault {i} never happened: {stats:?}", db.label);
    }
    // Let stale re-deliveries land too; they must change nothing.
    tokio::time::sleep(Duration::from_millis(1600)).await;

    let store = db.reopen().await;
    for (id, journal) in ids.iter().zip(&journals) {
        let want = totals(journal);
        let tid = id.clone();
        let (count, cash, card, bills, held, jcount, records) = store
            .read(move |sql| -> Result<_, back_office::StoreError> {
                let p = sql.query(
                    "SELECT CAST(COUNT(*) AS BIGINT),
                            CAST(COALESCE(SUM(CASE WHEN method = 'cash' THEN total_kopecks ELSE 0 END), 0) AS BIGINT),
                            CAST(COALESCE(SUM(CASE WHEN method = 'card' THEN total_kopecks ELSE 0 END), 0) AS BIGINT)
                     FROM payments WHERE terminal_id = $1",
                    back_office::params![&tid],
                )?;
                let b = sql.query("SELECT CAST(COUNT(*) AS BIGINT) FROM bills WHERE terminal_id = $1", back_office::params![&tid])?;
                let t = sql.query("SELECT held_seq FROM terminals WHERE id = $1", back_office::params![&tid])?;
                let j = sql.query(
                    "SELECT seq, time_utc, kind, payload, prev_hash, hash FROM journal WHERE terminal_id = $1 ORDER BY seq",
                    back_office::params![&tid],
                )?;
                let records: Vec<JournalRecord> = j
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
                Ok((p[0].int(0), p[0].int(1), p[0].int(2), b[0].int(0), t[0].int(0), j.len(), records))
            })
            .await
            .unwrap();
        assert_eq!(count as u64, want.payments, "[{}] {id} payments", db.label);
        assert_eq!(want.payments, PAYMENTS as u64);
        assert_eq!(cash, want.cash_kopecks, "[{}] {id} cash", db.label);
        assert_eq!(card, want.card_kopecks, "[{}] {id} card", db.label);
        assert_eq!(bills as u64, want.bills, "[{}] {id} bills", db.label);
        assert_eq!(held as usize, journal.len(), "[{}] {id} held seq", db.label);
        assert_eq!(jcount, journal.len(), "[{}] {id} journal rows", db.label);
        assert_eq!(
            &records, journal,
            "[{}] {id}: stored journal is the terminal's journal",
            db.label
        );
        verify_chain((0, GENESIS_HASH), &records).unwrap();
    }
    // Duplicated deliveries were refused as replays and recorded; no chain was ever broken.
    let inc = store
        .read(|sql| back_office::incidents::latest(sql, 100_000))
        .await
        .unwrap();
    assert!(
        inc.iter().any(|i| i.code == "replay"),
        "[{}] duplicates should show as replays",
        db.label
    );
    assert!(
        !inc.iter().any(|i| i.code == "chain_broken"),
        "[{}] {:?}",
        db.label,
        inc.iter()
            .filter(|i| i.code == "chain_broken")
            .collect::<Vec<_>>()
    );
    for h in handles {
        if let Ok(h) = std::sync::Arc::try_unwrap(h) {
            h.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_terminals_sync_exactly_once_through_faults_and_restarts() {
    for db in all_stores().await {
        run_soak(&db).await;
    }
}
