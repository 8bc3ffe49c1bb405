//! Ingest throughput: 100 terminals sending signed batches concurrently over loopback HTTP.
//! `cargo bench -p back-office --bench ingest_throughput` (SQLite; PostgreSQL too when
//! `KIOSK_TEST_DATABASE_URL` is set). Env: BENCH_TERMINALS (100), BENCH_RECORDS (2000 per terminal),
//! BENCH_BATCH (250).

use std::time::Instant;

use back_office::db::Store;
use back_office::http::AppState;
use back_office::testkit::JournalWriter;
use backend_sync::JournalRecord;
use sync_client::SyncClient;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn journal(id: &str, n: usize) -> Vec<JournalRecord> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-20T06:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut w = JournalWriter::new(id, start);
    let mut out = Vec::with_capacity(n + 8);
    let mut i = 0u64;
    while out.len() < n {
        i += 1;
        if i % 3 == 0 {
            out.extend(w.card_payment("100000001", 150_000).0);
        } else {
            out.extend(w.cash_payment("100000002", &[100_000, 50_000]));
        }
    }
    out.truncate(n);
    out
}

async fn run(label: &str, store: Store) {
    let terminals = env("BENCH_TERMINALS", 100);
    let per = env("BENCH_RECORDS", 2000);
    let batch = env("BENCH_BATCH", 250);
    let mut clients = Vec::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    for t in 0..terminals {
        let id = format!("B-{t:03}");
        let i2 = id.clone();
        let key = store
            .run("b", move |sql| {
                back_office::terminals::add(sql, &i2, false, &back_office::now_utc())
            })
            .await
            .unwrap();
        clients.push((SyncClient::new(&url, &id, &key).unwrap(), journal(&id, per)));
    }
    let state = AppState::new(store.clone());
    let server = tokio::spawn(back_office::serve(listener, state, std::future::pending()));
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(client, recs)| {
            tokio::spawn(async move {
                let mut requests = 0;
                for chunk in recs.chunks(batch) {
                    let reply = client.send_batch(chunk).await.expect("batch refused");
                    assert_eq!(reply.held_up_to, chunk[chunk.len() - 1].seq);
                    requests += 1;
                }
                requests
            })
        })
        .collect();
    let mut requests = 0;
    for t in tasks {
        requests += t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let total = terminals * per;
    println!(
        "ingest [{label}]: {terminals} terminals x {per} records in batches of {batch}: {total} records, {requests} requests in {secs:.2} s = {:.0} records/s, {:.0} requests/s",
        total as f64 / secs,
        requests as f64 / secs
    );
    server.abort();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        run(
            "sqlite",
            Store::open_sqlite(dir.path().join("bench.sqlite"))
                .await
                .unwrap(),
        )
        .await;
        if let Ok(url) = std::env::var("KIOSK_TEST_DATABASE_URL") {
            let schema = format!("bench_{}", std::process::id());
            run(
                "postgres",
                Store::open_postgres(&url, Some(&schema)).await.unwrap(),
            )
            .await;
        }
    });
}
