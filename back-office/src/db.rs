//! Storage behind one small SQL interface, so every query and the whole test suite run on both
//! SQLite (default, one file) and PostgreSQL (fleets).
//!
//! Domain code is written once against [`Sql`]: `$1`-style placeholders, `BIGINT`/`TEXT` columns,
//! aggregates cast to `BIGINT`. It runs on a blocking thread ([`Store::run`]); for PostgreSQL the
//! blocking thread drives `tokio-postgres` (pooled by `deadpool-postgres`) through the runtime
//! handle. Writes for one terminal take the same lock, which serialises a terminal's ingest
//! without a global lock.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql as PgToSql, Type};

/// A parameter or column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Int(i64),
    Text(String),
    Null,
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<u64> for Val {
    fn from(v: u64) -> Self {
        Val::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for Val {
    fn from(v: u32) -> Self {
        Val::Int(v.into())
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Int(v.into())
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Val::Null)
    }
}

/// Builds a parameter list: `params![a, b]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Val::from($v)),*][..] };
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<Val>);

impl Row {
    pub fn int(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(Val::Int(v)) => *v,
            Some(Val::Text(t)) => t.parse().unwrap_or(0),
            _ => 0,
        }
    }
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match self.0.get(i) {
            Some(Val::Int(v)) => Some(*v),
            _ => None,
        }
    }
    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.0.get(i) {
            Some(Val::Text(t)) => Some(t.clone()),
            Some(Val::Int(v)) => Some(v.to_string()),
            _ => None,
        }
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {}", with_causes(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("storage: {0}")]
    Other(String),
}

/// An error and its causes (a TLS handshake's names the certificate problem), each once.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text = format!("{text}: {t}");
        }
        cause = c.source();
    }
    text
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The SQL interface domain code is written against.
pub trait Sql: Send {
    fn backend(&self) -> Backend;
    /// Runs a statement; returns the number of rows changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError>;
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError>;
    /// Runs several statements without parameters (schema, `BEGIN`…).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;

    /// Runs a statement whose row count nobody reads, possibly later: PostgreSQL keeps it and
    /// sends everything kept, in one round trip, with the next statement, query or commit —
    /// runs of the same `INSERT … VALUES (…)` merged into multi-row INSERTs. An error then
    /// surfaces at that later call (and fails its transaction, as it would have anyway).
    fn exec_deferred(&mut self, sql: &str, params: &[Val]) -> Result<(), StoreError> {
        self.exec(sql, params).map(|_| ())
    }
    fn query_one(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
    fn begin(&mut self) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Sqlite => self.batch("BEGIN IMMEDIATE"),
            Backend::Postgres => self.batch("BEGIN"),
        }
    }
    fn commit(&mut self) -> Result<(), StoreError> {
        self.batch("COMMIT")
    }
    fn rollback(&mut self) -> Result<(), StoreError> {
        self.batch("ROLLBACK")
    }
}

/// Runs `f` in a transaction: committed on `Ok`, rolled back on `Err`.
pub fn transaction<R, E: From<StoreError>>(
    sql: &mut dyn Sql,
    f: impl FnOnce(&mut dyn Sql) -> Result<R, E>,
) -> Result<R, E> {
    sql.begin()?;
    match f(sql) {
        Ok(r) => match sql.commit() {
            Ok(()) => Ok(r),
            Err(e) => {
                // A deferred statement failed at the commit (or the commit itself): leave no
                // transaction open on the connection.
                let _ = sql.rollback();
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = sql.rollback();
            Err(e)
        }
    }
}

// ---------------------------------------------------------------- SQLite

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Val::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

/// `$1` → `?1`: SQLite's numbered parameters, so both backends share the query text.
fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

pub struct SqliteConn {
    conn: rusqlite::Connection,
    texts: HashMap<String, String>,
}

impl SqliteConn {
    pub fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Reports group millions of rows: give SQLite memory instead of temp files.
        conn.pragma_update(None, "cache_size", -131_072)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(SqliteConn {
            conn,
            texts: HashMap::new(),
        })
    }

    fn text(&mut self, sql: &str) -> String {
        if let Some(t) = self.texts.get(sql) {
            return t.clone();
        }
        let t = sqlite_placeholders(sql);
        self.texts.insert(sql.to_string(), t.clone());
        t
    }
}

impl Sql for SqliteConn {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let text = self.text(sql);
        let mut stmt = self.conn.prepare_cached(&text)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
    }
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        use rusqlite::types::ValueRef;
        let text = self.text(sql);
        let mut stmt = self.conn.prepare_cached(&text)?;
        let n = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(match row.get_ref(i)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Real(f) => Val::Int(f as i64),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Val::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql)?;
        Ok(())
    }
}

// ---------------------------------------------------------------- PostgreSQL

impl PgToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_string().to_sql(ty, out),
            },
            Val::Text(t) => match *ty {
                Type::INT8 => t.parse::<i64>()?.to_sql(ty, out),
                _ => t.as_str().to_sql(ty, out),
            },
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    tokio_postgres::types::to_sql_checked!();
}

/// A connection taken from the pool for one [`Store::run`]/[`Store::read`] call.
pub struct PgConn {
    client: deadpool_postgres::Object,
    rt: tokio::runtime::Handle,
    /// Deferred statements ([`Sql::exec_deferred`]), in order.
    pending: Vec<(String, Vec<Val>)>,
}

/// The pool: `PG_POOL` connections, named `back_office_<schema>` in `pg_stat_activity`, each
/// with its `search_path` set at connect time. A connection the server closed (a restart, an
/// administrator's terminate) is dropped when it comes back to the pool and a new one is opened
/// for the next caller; the work that failed on it was rolled back whole and is retried by its
/// caller (a terminal resends its batch), so nothing is lost or stored twice.
/// TLS as the URL's `sslmode`/`sslrootcert` say ([`crate::pg_tls`]).
fn pg_pool(url: &str, schema: Option<&str>) -> Result<deadpool_postgres::Pool, StoreError> {
    use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
    let (mut config, tls) = crate::pg_tls::connector(url)?;
    config.application_name(format!("back_office_{}", schema.unwrap_or("public")));
    if let Some(schema) = schema {
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c search_path={schema}"),
            _ => format!("-c search_path={schema}"),
        };
        config.options(options);
    }
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(PG_POOL)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(10)))
        .wait_timeout(Some(Duration::from_secs(60)))
        .build()
        .map_err(|e| StoreError::Other(format!("postgres pool: {e}")))
}

impl PgConn {
    fn statement(&mut self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        Ok(self.rt.block_on(self.client.prepare_cached(sql))?)
    }

    /// Sends the pending statements in one pipeline ([`merge_plan`]); the last one, unless
    /// `last` is [`Last::Deferred`], on its own as the caller's statement (its row count) or
    /// query (its rows).
    fn pipeline(&mut self, last: Last) -> Result<(u64, Vec<tokio_postgres::Row>), StoreError> {
        let mut pending = std::mem::take(&mut self.pending);
        let last = match last {
            Last::Deferred => None,
            Last::Exec => pending.pop().map(|l| (l, false)),
            Last::Query => pending.pop().map(|l| (l, true)),
        };
        let plan = merge_plan(pending);
        let mut stmts: Vec<(tokio_postgres::Statement, Vec<Val>)> = Vec::new();
        for (text, rows) in plan {
            let width = rows[0].len().max(1);
            let per = (MAX_PG_PARAMS / width).clamp(1, MAX_MERGED_ROWS);
            for chunk in rows.chunks(per) {
                let merged = if chunk.len() == 1 {
                    text.clone()
                } else {
                    multi_row(&text, chunk.len(), width)
                        .ok_or_else(|| StoreError::Other(format!("cannot merge {text:?}")))?
                };
                stmts.push((self.statement(&merged)?, chunk.concat()));
            }
        }
        let last = match last {
            Some(((text, params), is_query)) => Some((self.statement(&text)?, params, is_query)),
            None => None,
        };
        let client: &tokio_postgres::Client = &self.client;
        let refs: Vec<Vec<&(dyn PgToSql + Sync)>> = stmts
            .iter()
            .map(|(_, p)| p.iter().map(|v| v as &(dyn PgToSql + Sync)).collect())
            .collect();
        let last_refs: Vec<&(dyn PgToSql + Sync)> = last
            .as_ref()
            .map(|(_, p, _)| p.iter().map(|v| v as &(dyn PgToSql + Sync)).collect())
            .unwrap_or_default();
        type Fut<'a> = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a>,
        >;
        let mut writes: Vec<Fut<'_>> = stmts
            .iter()
            .zip(&refs)
            .map(|((st, _), r)| Box::pin(client.execute(st, &r[..])) as Fut<'_>)
            .collect();
        let exec_last = matches!(last, Some((_, _, false)));
        if let Some((st, _, false)) = &last {
            writes.push(Box::pin(client.execute(st, &last_refs[..])));
        }
        let mut read = match &last {
            Some((st, _, true)) => Some(Box::pin(client.query(st, &last_refs[..]))),
            _ => None,
        };
        let rt = self.rt.clone();
        rt.block_on(async {
            use std::future::Future as _;
            // Polled together, the requests go out back to back (tokio-postgres pipelines
            // them) and run in order on the server.
            let mut done: Vec<Option<Result<u64, tokio_postgres::Error>>> =
                writes.iter().map(|_| None).collect();
            let mut read_done = None;
            std::future::poll_fn(|cx| {
                let mut all = true;
                for (f, d) in writes.iter_mut().zip(done.iter_mut()) {
                    if d.is_none() {
                        match f.as_mut().poll(cx) {
                            std::task::Poll::Ready(r) => *d = Some(r),
                            std::task::Poll::Pending => all = false,
                        }
                    }
                }
                if let (Some(f), None) = (read.as_mut(), read_done.as_ref()) {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(r) => read_done = Some(r),
                        std::task::Poll::Pending => all = false,
                    }
                }
                if all {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
            let mut count = 0;
            for d in done.into_iter().flatten() {
                count = d?;
            }
            if !exec_last {
                count = 0;
            }
            Ok((count, read_done.transpose()?.unwrap_or_default()))
        })
    }
}

/// What [`PgConn::pipeline`] does with the last pending statement.
#[derive(Clone, Copy)]
enum Last {
    /// Nothing special: it is deferred like the others.
    Deferred,
    /// The caller's statement: its row count is returned.
    Exec,
    /// The caller's query: its rows are returned.
    Query,
}

/// The tables a statement names (after `INTO`, `UPDATE`, `FROM`, `JOIN`).
fn tables_named(sql: &str) -> Vec<&str> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| matches!(w[0], "INTO" | "UPDATE" | "FROM" | "JOIN"))
        .map(|w| w[1])
        .collect()
}

/// The order the deferred statements run in: each one-row INSERT joins the latest earlier
/// INSERT of the same text, unless a statement between them names its table (an UPDATE of it,
/// or one that reads it) — INSERTs into other tables and statements about other tables do not
/// depend on it. Every other statement keeps its place.
fn merge_plan(pending: Vec<(String, Vec<Val>)>) -> Vec<(String, Vec<Vec<Val>>)> {
    struct Planned {
        text: String,
        rows: Vec<Vec<Val>>,
        /// The table of an INSERT.
        table: Option<String>,
        /// The tables any other statement names.
        names: Vec<String>,
    }
    let mut plan: Vec<Planned> = Vec::new();
    for (text, params) in pending {
        if insert_tuple(&text).is_some() {
            let table = tables_named(&text).first().map(|t| t.to_string());
            let mut target = None;
            for (i, p) in plan.iter().enumerate().rev() {
                if p.text == text {
                    target = Some(i);
                    break;
                }
                if let Some(t) = &table {
                    if p.table.as_ref() == Some(t) || p.names.iter().any(|n| n == t) {
                        break;
                    }
                }
            }
            match target {
                Some(i) => plan[i].rows.push(params),
                None => plan.push(Planned {
                    text,
                    rows: vec![params],
                    table,
                    names: Vec::new(),
                }),
            }
        } else {
            let names = tables_named(&text)
                .into_iter()
                .map(str::to_string)
                .collect();
            plan.push(Planned {
                text,
                rows: vec![params],
                table: None,
                names,
            });
        }
    }
    plan.into_iter().map(|p| (p.text, p.rows)).collect()
}

/// Parameters one PostgreSQL statement may carry (the protocol allows 65 535).
const MAX_PG_PARAMS: usize = 30_000;
/// Rows one merged INSERT carries at most.
const MAX_MERGED_ROWS: usize = 1_000;

/// The `(…)` tuple of a one-row `INSERT … VALUES (…) …` whose parameters all sit in it: its
/// byte range.
fn insert_tuple(sql: &str) -> Option<(usize, usize)> {
    let t = sql.trim_start();
    if !t.starts_with("INSERT INTO") {
        return None;
    }
    let v = sql.find(" VALUES ")? + " VALUES ".len();
    let open = v + sql[v..].find('(')?;
    if !sql[v..open].trim().is_empty() {
        return None;
    }
    let mut depth = 0;
    let mut in_str = false;
    for (i, c) in sql[open..].char_indices() {
        match c {
            '\'' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    let close = open + i;
                    // A parameter outside the tuple (e.g. in ON CONFLICT … SET) cannot be merged.
                    return (!sql[close..].contains('$')).then_some((open, close));
                }
            }
            _ => {}
        }
    }
    None
}

/// `rows` copies of the tuple, the parameters of copy `i` shifted by `i * width`.
fn multi_row(sql: &str, rows: usize, width: usize) -> Option<String> {
    let (open, close) = insert_tuple(sql)?;
    let tuple = &sql[open..=close];
    let mut out = String::with_capacity(sql.len() + rows * (tuple.len() + 8));
    out.push_str(&sql[..open]);
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        let mut chars = tuple.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                if n == 0 || n > width {
                    return None;
                }
                out.push_str(&format!("${}", n + i * width));
            } else {
                out.push(c);
            }
        }
    }
    out.push_str(&sql[close + 1..]);
    Some(out)
}

fn pg_value(row: &tokio_postgres::Row, i: usize) -> Result<Val, StoreError> {
    let ty = row.columns()[i].type_().clone();
    Ok(match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Val::Null, Val::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map_or(Val::Null, |v| Val::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map_or(Val::Null, |v| Val::Int(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)?
            .map_or(Val::Null, |v| Val::Int(v.into())),
        _ => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Val::Null, Val::Text),
    })
}

impl Sql for PgConn {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        if !self.pending.is_empty() {
            // The deferred statements and this one in one round trip.
            self.pending.push((sql.to_string(), params.to_vec()));
            return Ok(self.pipeline(Last::Exec)?.0);
        }
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn PgToSql + Sync)> = params.iter().map(|p| p as _).collect();
        Ok(self.rt.block_on(self.client.execute(&stmt, &refs))?)
    }
    fn exec_deferred(&mut self, sql: &str, params: &[Val]) -> Result<(), StoreError> {
        self.pending.push((sql.to_string(), params.to_vec()));
        if self.pending.len() >= MAX_MERGED_ROWS {
            self.pipeline(Last::Deferred)?;
        }
        Ok(())
    }
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let rows = if self.pending.is_empty() {
            let stmt = self.statement(sql)?;
            let refs: Vec<&(dyn PgToSql + Sync)> = params.iter().map(|p| p as _).collect();
            self.rt.block_on(self.client.query(&stmt, &refs))?
        } else {
            self.pending.push((sql.to_string(), params.to_vec()));
            self.pipeline(Last::Query)?.1
        };
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| pg_value(r, i))
                    .collect::<Result<_, _>>()
                    .map(Row)
            })
            .collect()
    }
    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        if sql.trim_start().starts_with("ROLLBACK") {
            // What was deferred is undone with the rest.
            self.pending.clear();
        } else if !self.pending.is_empty() {
            self.pipeline(Last::Deferred)?;
        }
        self.rt.block_on(self.client.batch_execute(sql))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- the store

enum Inner {
    Sqlite {
        path: PathBuf,
        writer: Mutex<SqliteConn>,
        readers: Vec<Mutex<SqliteConn>>,
    },
    Postgres {
        pool: deadpool_postgres::Pool,
        /// Work with the same shard key (a terminal) holds the same lock: a terminal's ingest
        /// is serialised without a global lock.
        shards: Vec<Mutex<()>>,
    },
}

/// A handle to the back office's database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// Connections kept open to PostgreSQL.
const PG_POOL: usize = 8;
/// Locks that serialise one terminal's writes on PostgreSQL.
const PG_SHARDS: usize = 64;
const SQLITE_READERS: usize = 2;

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, StoreError> {
    m.lock()
        .map_err(|_| StoreError::Other("connection lock poisoned".into()))
}

fn shard_of(key: &str, n: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

impl Store {
    /// Opens `postgres://…`/`postgresql://…` (TLS per `sslmode`, see [`crate::pg_tls`]), or a SQLite file (`sqlite:PATH` or a plain path),
    /// and creates the schema.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url, None).await
        } else {
            let path = url.strip_prefix("sqlite:").unwrap_or(url);
            Self::open_sqlite(PathBuf::from(path)).await
        }
    }

    pub async fn open_sqlite(path: PathBuf) -> Result<Store, StoreError> {
        let p = path.clone();
        let store = tokio::task::spawn_blocking(move || -> Result<Store, StoreError> {
            let mut writer = SqliteConn::open(&p)?;
            crate::schema::create(&mut writer)?;
            let readers = (0..SQLITE_READERS)
                .map(|_| SqliteConn::open(&p).map(Mutex::new))
                .collect::<Result<_, _>>()?;
            Ok(Store {
                inner: Arc::new(Inner::Sqlite {
                    path: p,
                    writer: Mutex::new(writer),
                    readers,
                }),
            })
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))??;
        Ok(store)
    }

    /// Opens PostgreSQL; with `schema`, everything lives in that schema (tests use one each).
    pub async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Store, StoreError> {
        if let Some(s) = schema {
            if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(StoreError::Other(format!("bad schema name {s:?}")));
            }
        }
        let pool = pg_pool(url, schema)?;
        if let Some(schema) = schema {
            pool.get()
                .await?
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await?;
        }
        let store = Store {
            inner: Arc::new(Inner::Postgres {
                pool,
                shards: (0..PG_SHARDS).map(|_| Mutex::new(())).collect(),
            }),
        };
        store
            .run("schema", |sql| crate::schema::create(sql))
            .await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Where a SQLite store lives.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match &*self.inner {
            Inner::Sqlite { path, .. } => Some(path.clone()),
            Inner::Postgres { .. } => None,
        }
    }

    /// Runs `f` with a connection on a blocking thread. Work with the same `shard` key (the terminal
    /// id) is serialised on one connection.
    pub async fn run<R, E, F>(&self, shard: &str, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<R, E> + Send + 'static,
    {
        self.spawn(shard.to_string(), false, f).await
    }

    /// Like [`Store::run`] for read-only work; on SQLite it does not wait for the writer.
    pub async fn read<R, E, F>(&self, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<R, E> + Send + 'static,
    {
        let key = format!("r{}", rand::random::<u32>());
        self.spawn(key, true, f).await
    }

    async fn spawn<R, E, F>(&self, shard: String, read: bool, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<R, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || -> Result<R, E> {
            match &*inner {
                Inner::Sqlite {
                    writer, readers, ..
                } => {
                    if read {
                        let mut c = lock(&readers[shard_of(&shard, readers.len())])?;
                        f(&mut *c)
                    } else {
                        let mut c = lock(writer)?;
                        f(&mut *c)
                    }
                }
                Inner::Postgres { pool, shards } => {
                    let _serial = if read {
                        None
                    } else {
                        Some(lock(&shards[shard_of(&shard, shards.len())])?)
                    };
                    let rt = tokio::runtime::Handle::current();
                    let client = rt.block_on(pool.get()).map_err(StoreError::from)?;
                    let mut conn = PgConn {
                        client,
                        rt,
                        pending: Vec::new(),
                    };
                    let r = f(&mut conn)?;
                    // Work outside a transaction may leave deferred statements: run them now.
                    if !conn.pending.is_empty() {
                        conn.pipeline(Last::Deferred).map_err(E::from)?;
                    }
                    Ok(r)
                }
            }
        })
        .await
        .map_err(|e| E::from(StoreError::Other(format!("storage task failed: {e}"))))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_inserts_merge_into_multi_row_inserts() {
        let q = "INSERT INTO card_ops (a, b, c) VALUES ($1, 'approved', $2) ON CONFLICT DO NOTHING";
        assert_eq!(
            multi_row(q, 3, 2).unwrap(),
            "INSERT INTO card_ops (a, b, c) VALUES ($1, 'approved', $2), ($3, 'approved', $4), ($5, 'approved', $6) ON CONFLICT DO NOTHING"
        );
        let q10 = "INSERT INTO t (a) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        assert!(multi_row(q10, 2, 10)
            .unwrap()
            .ends_with("($11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"));
        for not_mergeable in [
            "UPDATE t SET a = $1",
            "INSERT INTO t (a) SELECT $1",
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
        ] {
            assert!(insert_tuple(not_mergeable).is_none(), "{not_mergeable}");
        }
    }

    #[test]
    fn deferred_inserts_merge_past_statements_about_other_tables_only() {
        let ins_a = "INSERT INTO a (x) VALUES ($1)";
        let ins_b = "INSERT INTO b (x) VALUES ($1)";
        let upd_b = "UPDATE b SET x = 0 WHERE x = $1";
        let reads_a = "UPDATE c SET y = 1 WHERE EXISTS (SELECT 1 FROM a WHERE a.x = $1)";
        let p = |t: &str, v: i64| (t.to_string(), vec![Val::Int(v)]);
        let plan = merge_plan(vec![
            p(ins_a, 1),
            p(ins_b, 1),
            p(upd_b, 1),
            p(ins_a, 2),
            p(ins_b, 2),
            p(reads_a, 2),
            p(ins_a, 3),
        ]);
        let shape: Vec<(&str, usize)> = plan.iter().map(|(t, r)| (t.as_str(), r.len())).collect();
        assert_eq!(
            shape,
            [
                (ins_a, 2),
                (ins_b, 1),
                (upd_b, 1),
                (ins_b, 1),
                (reads_a, 1),
                (ins_a, 1)
            ]
        );
    }

    #[test]
    fn placeholders_become_sqlite_numbered_parameters() {
        assert_eq!(
            sqlite_placeholders("SELECT $1, $12 FROM t WHERE a = $2"),
            "SELECT ?1, ?12 FROM t WHERE a = ?2"
        );
        assert_eq!(sqlite_placeholders("SELECT '$'"), "SELECT '$'");
    }
}
