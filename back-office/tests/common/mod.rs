//! Shared test support: a store per backend, a simulated terminal database with the outbox, a
//! restartable server and a fault-injecting HTTP proxy.
#![allow(dead_code)]

pub mod proxy;
pub mod smtp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use back_office::db::Store;
use back_office::http::AppState;
use back_office::testkit::JournalWriter;
use backend_sync::JournalRecord;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A fresh database of one backend.
pub struct TestDb {
    pub label: &'static str,
    pub store: Store,
    sqlite: Option<PathBuf>,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// The PostgreSQL schema this database lives in.
    pub fn pg_schema(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, s)| s.as_str())
    }

    /// A new `Store` on the same database, as after a process restart.
    pub async fn reopen(&self) -> Store {
        match (&self.sqlite, &self.pg) {
            (Some(p), _) => Store::open_sqlite(p.clone()).await.unwrap(),
            (_, Some((url, schema))) => Store::open_postgres(url, Some(schema)).await.unwrap(),
            _ => unreachable!(),
        }
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bo.sqlite");
    TestDb {
        label: "sqlite",
        store: Store::open_sqlite(path.clone()).await.unwrap(),
        sqlite: Some(path),
        pg: None,
        _dir: Some(dir),
    }
}

/// The PostgreSQL URL for tests. Under `CI=true` its absence is a failure, not a skip.
pub fn pg_url() -> Option<String> {
    match std::env::var("KIOSK_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "CI=true but KIOSK_TEST_DATABASE_URL is not set: run back-office/ci/start-postgres.sh and export its URL"
        ),
        _ => {
            eprintln!("PostgreSQL part skipped: KIOSK_TEST_DATABASE_URL is not set");
            None
        }
    }
}

pub async fn postgres(url: &str) -> TestDb {
    let schema = format!("t_{}_{}", std::process::id(), rand::random::<u32>());
    TestDb {
        label: "postgres",
        store: Store::open_postgres(url, Some(&schema)).await.unwrap(),
        sqlite: None,
        pg: Some((url.to_string(), schema)),
        _dir: None,
    }
}

/// SQLite always; PostgreSQL when configured.
pub async fn all_stores() -> Vec<TestDb> {
    let mut v = vec![sqlite().await];
    if let Some(url) = pg_url() {
        v.push(postgres(&url).await);
    }
    v
}

pub async fn add_terminal(store: &Store, id: &str) -> String {
    let id = id.to_string();
    store
        .run("t", move |sql| {
            back_office::terminals::add(sql, &id, false, &back_office::now_utc())
        })
        .await
        .unwrap()
}

/// A user of `role` with an API token; returns the token (the `Authorization: Bearer` value).
pub async fn api_token(store: &Store, name: &str, role: &str) -> String {
    let (name, role) = (name.to_string(), role.to_string());
    store
        .run(
            "t",
            move |sql| -> Result<String, back_office::users::UserError> {
                let role = back_office::users::Role::parse(&role).expect("role");
                let hash = back_office::users::hash_password("a long test password")?;
                back_office::users::add(sql, &name, role, &hash, &back_office::now_utc())?;
                back_office::users::add_token(sql, &name, "tests", &back_office::now_utc())
            },
        )
        .await
        .unwrap()
}

/// A client that sends `Authorization: Bearer token` on every request.
pub fn authed(token: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap()
}

/// A running server that can be killed and started again.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(store: Store) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let state = AppState::new(store);
        let task = tokio::spawn(back_office::serve(listener, state, async {
            let _ = rx.await;
        }));
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
    /// Hard stop, as a crash.
    pub fn kill(mut self) {
        self.stop.take();
        self.task.abort();
    }
}

/// A terminal's own SQLite database: journal table plus the outbox, written in one transaction.
pub struct SimTerminal {
    pub conn: rusqlite::Connection,
    pub writer: JournalWriter,
    pub records: Vec<JournalRecord>,
    pub path: PathBuf,
}

impl SimTerminal {
    pub fn open(dir: &Path, id: &str) -> SimTerminal {
        let path = dir.join(format!("{id}.sqlite"));
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, time_utc TEXT, kind TEXT, payload TEXT, prev_hash TEXT, hash TEXT)",
        )
        .unwrap();
        sync_client::outbox::create_schema(&conn).unwrap();
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-20T06:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        SimTerminal {
            conn,
            writer: JournalWriter::new(id, start),
            records: Vec::new(),
            path,
        }
    }

    /// Journals records and queues them in one transaction, as the terminal does.
    pub fn append(&mut self, recs: Vec<JournalRecord>) {
        let tx = self.conn.transaction().unwrap();
        for r in &recs {
            tx.execute(
                "INSERT INTO journal (seq, time_utc, kind, payload, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![r.seq as i64, r.time_utc, r.kind, r.payload, r.prev_hash, r.hash],
            )
            .unwrap();
            sync_client::outbox::enqueue(&tx, r).unwrap();
        }
        tx.commit().unwrap();
        self.records.extend(recs);
    }
}

/// Chain of `n` arbitrary records for protocol tests.
pub fn chain(terminal: &str, n: usize) -> Vec<JournalRecord> {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-20T06:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut w = JournalWriter::new(terminal, start);
    let mut out = Vec::new();
    while out.len() < n {
        out.extend(w.cash_payment("100000001", &[100_000]));
    }
    out.truncate(n);
    out
}
