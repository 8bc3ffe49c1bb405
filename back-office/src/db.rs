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
        Ok(r) => {
            sql.commit()?;
            Ok(r)
        }
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
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn PgToSql + Sync)> = params.iter().map(|p| p as _).collect();
        Ok(self.rt.block_on(self.client.execute(&stmt, &refs))?)
    }
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn PgToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self.rt.block_on(self.client.query(&stmt, &refs))?;
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
                    f(&mut PgConn { client, rt })
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
    fn placeholders_become_sqlite_numbered_parameters() {
        assert_eq!(
            sqlite_placeholders("SELECT $1, $12 FROM t WHERE a = $2"),
            "SELECT ?1, ?12 FROM t WHERE a = ?2"
        );
        assert_eq!(sqlite_placeholders("SELECT '$'"), "SELECT '$'");
    }
}
