//! The PostgreSQL engine (`storage.engine = "postgres"`): a store several xinshi processes
//! can share.
//!
//! **Layout.** One table, `xinshi_kv (k bytea primary key, v bytea not null)`, created at
//! open if missing. PostgreSQL orders `bytea` bytewise (memcmp, then length), which is the
//! order the trait asks for; range reads are index scans of the primary key.
//!
//! **Isolation.** [`Engine::begin`] is a SERIALIZABLE transaction: PostgreSQL's
//! serializable snapshot isolation tracks its reads (predicate locks on the index, so a
//! range read covers keys inserted into the range later) and aborts a transaction with a
//! serialization failure (SQLSTATE 40001; deadlocks are 40P01) whenever the committed
//! transactions would have no serial order. That is exactly serializability, a little less
//! than FoundationDB's and fjall's optimistic rule (any read that another transaction
//! changed after the snapshot fails the commit): a transaction that read a range, into
//! which another then inserted, still commits if it can be ordered before that insert (it
//! wrote nothing the other read). The domain code relies only on serializability; the
//! conformance suite tests the optimistic rule on the engines that have it. A failure can
//! come from any statement, not only `COMMIT`: the transaction is then aborted, its
//! reads return [`KvError::Conflict`], [`WriteTx::doomed`] says so and [`super::run`]
//! runs the body again. [`Engine::snapshot`] is REPEATABLE READ READ ONLY (one snapshot,
//! taken when it is created, no read tracking: FDB's snapshot reads).
//!
//! **Writes** of a transaction are buffered (last write per key wins) and sent in bulk —
//! one `INSERT … SELECT FROM unnest(…) ON CONFLICT (k) DO UPDATE` and one
//! `DELETE … WHERE k = ANY(…)`, keys sorted so that concurrent writers lock rows in the
//! same order — before its next read (a transaction reads its own writes) and at commit.
//! The first statement of a transaction is pipelined with its `BEGIN`, the bulk writes
//! with `COMMIT`: a transaction that reads once and writes costs two round trips.
//!
//! **Guarded blind writes** ([`Engine::write`], every message append): one SERIALIZABLE
//! transaction reads all guard keys (one statement), decides in order which groups apply
//! (a group sees guard keys written by earlier groups of the call), writes the applied
//! groups in bulk and commits; on a serialization failure it runs again from the reads
//! (at most [`super::MAX_ATTEMPTS`] times, with a short random backoff). The guard read is
//! the fence of a conversation's owner epoch between processes: under SERIALIZABLE, a
//! concurrent transaction that changes the guard key (the new owner bumping the epoch)
//! and reads the conversation's messages forms a cycle with this one (each read what the
//! other wrote), so one of them fails; whichever commits, the history is that of a serial
//! order, in which a stale owner's group was either applied before the bump (and the new
//! owner saw it) or judged after it (and left out). `SELECT … FOR SHARE` under READ
//! COMMITTED was not chosen: it cannot lock a key that does not exist (a guard of "no
//! value"), and SERIALIZABLE's guarantees hold only among SERIALIZABLE transactions, so
//! every transaction here is one, blind writes included.
//!
//! **Durability.** A commit returns once PostgreSQL has flushed its WAL: xinshi leaves
//! `synchronous_commit` at its default (`on`) for durable transactions and for
//! [`Engine::write`]; only `begin(false)` sets it off for its own transaction.
//!
//! **Threads and connections.** The trait is synchronous and called from tokio runtime
//! threads (actors) and plain threads (the commit pipeline). `tokio-postgres` connections
//! run on a small runtime the engine owns (thread `pg-io`); a call sends its requests to
//! a connection and parks its own thread until the answer arrives (a minimal `block_on`
//! that needs no runtime, so it works on any thread). At most
//! `storage.postgres_connections` connections are open; a transaction or snapshot holds
//! one until it commits or is dropped (then rolled back). A transaction that finds them all
//! busy waits up to 30 s, then fails with [`KvError::Engine`]. A snapshot waits 20 ms and
//! then opens an extra connection (at most as many extra as pooled ones), closed when it
//! ends: the store's code often opens a snapshot while it holds another, and with every
//! pooled connection held that way, waiting would deadlock the pool. (That was the cause
//! of the crash test's short audits with 8 connections: their history reads waited 30 s.)
//!
//! **Errors.** Serialization failures and deadlocks are [`KvError::Conflict`]; everything
//! else, including a lost connection, is [`KvError::Engine`], never `Fatal`: PostgreSQL
//! restarts are survivable, a broken connection is dropped and the next call opens a new
//! one. TLS to PostgreSQL is not supported yet (plain TCP or a Unix socket).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_util::future::{join, join3};
use parking_lot::{Condvar, Mutex};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Statement};

use super::{Engine, Group, KeyValue, KvError, MAX_ATTEMPTS, RangeOptions, ReadTx, Write, WriteTx};

mod testing;
#[cfg(test)]
pub use self::testing::terminate_connections;
#[doc(hidden)]
pub use self::testing::{create_test_database, drop_test_database};

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS xinshi_kv (k bytea PRIMARY KEY, v bytea NOT NULL)";
const BEGIN_DURABLE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";
const BEGIN_NOT_DURABLE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE; SET LOCAL synchronous_commit = off";
/// The `SELECT 1` takes the snapshot now, not at the first read.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1";
/// How long a call waits for a free connection before it fails.
const CHECKOUT_WAIT: Duration = Duration::from_secs(30);
/// How long a snapshot waits for a pooled connection before it opens an extra one.
const OVERFLOW_WAIT: Duration = Duration::from_millis(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type PgError = tokio_postgres::Error;

/// PostgreSQL behind the [`Engine`] trait.
pub struct PgEngine {
    pool: Pool,
    /// Drives the connections; shut down (without blocking) when the engine is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl PgEngine {
    /// Connects to `url` (libpq URL or `key=value` string), creates the table if missing,
    /// and keeps at most `connections` connections open.
    pub fn open(url: &str, connections: usize) -> Result<PgEngine, KvError> {
        if url.trim().is_empty() {
            return Err(KvError::Engine("storage.postgres_url is empty".into()));
        }
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| KvError::Engine(format!("storage.postgres_url: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("xinshi");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pg-io")
            .enable_all()
            .build()
            .map_err(|e| KvError::Engine(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let pool = Pool {
            config,
            runtime: runtime.handle().clone(),
            max: connections.max(1),
            state: Mutex::new(PoolState { idle: Vec::new(), open: 0, overflow: 0 }),
            freed: Condvar::new(),
            table_ready: AtomicBool::new(false),
        };
        let engine = PgEngine { pool, runtime: Some(runtime) };
        // Fails startup on a bad URL, an unreachable server or a missing database.
        drop(engine.pool.checkout()?);
        Ok(engine)
    }

    /// One attempt of [`Engine::write`] on `conn`.
    async fn write_once(conn: &Conn, groups: &[Group<'_>]) -> Result<Vec<bool>, PgError> {
        let mut guard_keys: Vec<&[u8]> = groups.iter().filter_map(|g| g.guard.map(|g| g.key.as_slice())).collect();
        guard_keys.sort_unstable();
        guard_keys.dedup();
        let mut current: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        let rows = if guard_keys.is_empty() {
            conn.client.batch_execute(BEGIN_DURABLE).await?;
            Vec::new()
        } else {
            let (begun, rows) =
                join(conn.client.batch_execute(BEGIN_DURABLE), conn.client.query(&conn.st.guards, &[&guard_keys]))
                    .await;
            begun?;
            rows?
        };
        let stored: BTreeMap<Vec<u8>, Vec<u8>> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        for key in &guard_keys {
            current.insert(key, stored.get(*key).map(Vec::as_slice));
        }
        let mut applied = Vec::with_capacity(groups.len());
        let mut writes: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        for group in groups {
            let holds =
                group.guard.is_none_or(|g| current.get(g.key.as_slice()).copied().flatten() == g.value.as_deref());
            applied.push(holds);
            for write in group.writes.iter().filter(|_| holds) {
                let (key, value) = match write {
                    Write::Set(key, value) => (key.as_slice(), Some(value.as_slice())),
                    Write::Clear(key) => (key.as_slice(), None),
                };
                writes.insert(key, value);
                if let Some(slot) = current.get_mut(key) {
                    *slot = value;
                }
            }
        }
        let (written, committed) = join(apply(conn, &writes), conn.client.batch_execute("COMMIT")).await;
        written?;
        committed?;
        Ok(applied)
    }
}

impl Drop for PgEngine {
    fn drop(&mut self) {
        self.pool.state.lock().idle.clear();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Engine for PgEngine {
    fn snapshot(&self) -> Box<dyn ReadTx + '_> {
        let conn = self.pool.checkout_for_snapshot().and_then(|mut conn| {
            match block_on(conn.client.batch_execute(BEGIN_SNAPSHOT)) {
                Ok(()) => Ok(conn),
                Err(err) => {
                    conn.broken = true;
                    Err(classify(err))
                }
            }
        });
        Box::new(Snapshot { conn: conn.map_err(|e| e.to_string()) })
    }

    fn begin(&self, durable: bool) -> Result<Box<dyn WriteTx + '_>, KvError> {
        Ok(Box::new(Transaction {
            conn: RefCell::new(self.pool.checkout()?),
            begin: if durable { BEGIN_DURABLE } else { BEGIN_NOT_DURABLE },
            started: Cell::new(false),
            finished: Cell::new(false),
            failure: RefCell::new(None),
            writes: RefCell::new(BTreeMap::new()),
        }))
    }

    fn write(&self, groups: &[Group<'_>]) -> Result<Vec<bool>, KvError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.pool.checkout()?;
            let err = match block_on(PgEngine::write_once(&conn, groups)) {
                Ok(applied) => return Ok(applied),
                Err(err) => err,
            };
            // Ends the transaction if the error came before the pipelined COMMIT did.
            if block_on(conn.client.batch_execute("ROLLBACK")).is_err() {
                conn.broken = true;
            }
            match classify(err) {
                KvError::Conflict if attempt < MAX_ATTEMPTS => {
                    drop(conn);
                    let most = 100 * attempt.min(50) as u64;
                    std::thread::sleep(Duration::from_micros(rand::random_range(0..most)));
                }
                err => return Err(err),
            }
        }
    }
}

/// Serialization failures and deadlocks are conflicts; the rest are engine errors.
fn classify(err: PgError) -> KvError {
    match err.code() {
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
            KvError::Conflict
        }
        _ => KvError::Engine(format!("postgres: {}", describe(&err))),
    }
}

fn describe(err: &PgError) -> String {
    match (err.as_db_error(), std::error::Error::source(err)) {
        (Some(db), _) => format!("{}: {}", db.code().code(), db.message()),
        (None, Some(source)) => format!("{err}: {source}"),
        (None, None) => err.to_string(),
    }
}

/// Writes `writes` (key → value, or `None` to clear) with one statement per kind,
/// pipelined.
async fn apply(conn: &Conn, writes: &BTreeMap<impl AsRef<[u8]>, Option<impl AsRef<[u8]>>>) -> Result<(), PgError> {
    let (mut set_keys, mut set_values, mut clears) = (Vec::new(), Vec::new(), Vec::new());
    for (key, value) in writes {
        match value {
            Some(value) => {
                set_keys.push(key.as_ref());
                set_values.push(value.as_ref());
            }
            None => clears.push(key.as_ref()),
        }
    }
    let upsert = async {
        if set_keys.is_empty() { Ok(0) } else { conn.client.execute(&conn.st.upsert, &[&set_keys, &set_values]).await }
    };
    let delete =
        async { if clears.is_empty() { Ok(0) } else { conn.client.execute(&conn.st.delete, &[&clears]).await } };
    let (upserted, deleted) = join(upsert, delete).await;
    upserted?;
    deleted?;
    Ok(())
}

async fn get(conn: &Conn, key: &[u8]) -> Result<Option<Vec<u8>>, PgError> {
    Ok(conn.client.query_opt(&conn.st.get, &[&key]).await?.map(|row| row.get(0)))
}

async fn get_range(conn: &Conn, begin: &[u8], end: &[u8], opts: RangeOptions) -> Result<Vec<KeyValue>, PgError> {
    if begin >= end {
        return Ok(Vec::new());
    }
    let limit = (opts.limit > 0).then(|| i64::try_from(opts.limit).unwrap_or(i64::MAX));
    let statement = if opts.reverse { &conn.st.range_back } else { &conn.st.range };
    let rows = conn.client.query(statement, &[&begin, &end, &limit]).await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

struct Snapshot<'a> {
    conn: Result<Pooled<'a>, String>,
}

impl Snapshot<'_> {
    fn conn(&self) -> Result<&Conn, KvError> {
        self.conn.as_deref().map_err(|e| KvError::Engine(e.clone()))
    }
}

impl ReadTx for Snapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        block_on(get(self.conn()?, key)).map_err(classify)
    }

    fn get_range(&self, begin: &[u8], end: &[u8], opts: RangeOptions) -> Result<Vec<KeyValue>, KvError> {
        block_on(get_range(self.conn()?, begin, end, opts)).map_err(classify)
    }
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        if let Ok(conn) = &mut self.conn
            && block_on(conn.client.batch_execute("ROLLBACK")).is_err()
        {
            conn.broken = true;
        }
    }
}

/// Why a transaction can no longer commit.
#[derive(Debug, Clone)]
enum Failure {
    Conflict,
    Engine(String),
}

impl From<&Failure> for KvError {
    fn from(failure: &Failure) -> KvError {
        match failure {
            Failure::Conflict => KvError::Conflict,
            Failure::Engine(why) => KvError::Engine(why.clone()),
        }
    }
}

struct Transaction<'a> {
    conn: RefCell<Pooled<'a>>,
    begin: &'static str,
    /// `BEGIN` was sent (it goes out with the first statement).
    started: Cell<bool>,
    /// `COMMIT` was sent: nothing to roll back.
    finished: Cell<bool>,
    /// The first failed statement: the transaction is aborted, every later call fails so.
    failure: RefCell<Option<Failure>>,
    /// Writes not sent yet, in key order; `None` clears.
    writes: RefCell<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl Transaction<'_> {
    /// Runs `read` after `BEGIN` (if not sent yet) and the buffered writes, pipelined.
    fn read<T>(&self, read: impl AsyncFnOnce(&Conn) -> Result<T, PgError>) -> Result<T, KvError> {
        if let Some(failure) = &*self.failure.borrow() {
            return Err(failure.into());
        }
        let writes = std::mem::take(&mut *self.writes.borrow_mut());
        let conn = self.conn.borrow();
        let begin =
            async { if self.started.replace(true) { Ok(()) } else { conn.client.batch_execute(self.begin).await } };
        let (begun, written, value) = block_on(join3(begin, apply(&conn, &writes), read(&conn)));
        drop(conn);
        match begun.and(written).and(value) {
            Ok(value) => Ok(value),
            Err(err) => Err(self.fail(err)),
        }
    }

    fn fail(&self, err: PgError) -> KvError {
        if err.is_closed() {
            self.conn.borrow_mut().broken = true;
        }
        let err = classify(err);
        let failure = match &err {
            KvError::Conflict => Failure::Conflict,
            other => Failure::Engine(other.to_string()),
        };
        self.failure.borrow_mut().get_or_insert(failure);
        err
    }
}

impl ReadTx for Transaction<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.read(async |conn: &Conn| get(conn, key).await)
    }

    fn get_range(&self, begin: &[u8], end: &[u8], opts: RangeOptions) -> Result<Vec<KeyValue>, KvError> {
        self.read(async |conn: &Conn| get_range(conn, begin, end, opts).await)
    }
}

impl WriteTx for Transaction<'_> {
    fn set(&mut self, key: &[u8], value: &[u8]) {
        self.writes.get_mut().insert(key.to_vec(), Some(value.to_vec()));
    }

    fn clear(&mut self, key: &[u8]) {
        self.writes.get_mut().insert(key.to_vec(), None);
    }

    fn commit(self: Box<Self>) -> Result<(), KvError> {
        if let Some(failure) = &*self.failure.borrow() {
            return Err(failure.into());
        }
        if !self.started.get() && self.writes.borrow().is_empty() {
            self.finished.set(true);
            return Ok(());
        }
        self.read(async |conn: &Conn| {
            let result = conn.client.batch_execute("COMMIT").await;
            self.finished.set(true);
            result
        })
    }

    fn doomed(&self) -> bool {
        matches!(*self.failure.borrow(), Some(Failure::Conflict))
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        let conn = self.conn.get_mut();
        if self.started.get() && !self.finished.get() && block_on(conn.client.batch_execute("ROLLBACK")).is_err() {
            conn.broken = true;
        }
    }
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    st: Statements,
}

struct Statements {
    get: Statement,
    range: Statement,
    range_back: Statement,
    guards: Statement,
    upsert: Statement,
    delete: Statement,
}

impl Statements {
    async fn prepare(client: &Client) -> Result<Statements, PgError> {
        use Type as T;
        const RANGE: &str = "SELECT k, v FROM xinshi_kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3";
        const RANGE_BACK: &str = "SELECT k, v FROM xinshi_kv WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3";
        let (get, range_fwd, range_back, guards, upsert, delete) = futures_util::try_join!(
            client.prepare_typed("SELECT v FROM xinshi_kv WHERE k = $1", &[T::BYTEA]),
            client.prepare_typed(RANGE, &[T::BYTEA, T::BYTEA, T::INT8]),
            client.prepare_typed(RANGE_BACK, &[T::BYTEA, T::BYTEA, T::INT8]),
            client.prepare_typed("SELECT k, v FROM xinshi_kv WHERE k = ANY($1)", &[T::BYTEA_ARRAY]),
            client.prepare_typed(
                "INSERT INTO xinshi_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                &[T::BYTEA_ARRAY, T::BYTEA_ARRAY],
            ),
            client.prepare_typed("DELETE FROM xinshi_kv WHERE k = ANY($1)", &[T::BYTEA_ARRAY]),
        )?;
        Ok(Statements { get, range: range_fwd, range_back, guards, upsert, delete })
    }
}

/// At most `max` connections, opened on demand, reused last-in first-out.
struct Pool {
    config: tokio_postgres::Config,
    runtime: tokio::runtime::Handle,
    max: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
    table_ready: AtomicBool,
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections open, idle or checked out.
    open: usize,
    /// Extra connections open for snapshots beyond `max` ([`Pool::checkout_for_snapshot`]).
    overflow: usize,
}

/// A checked-out connection, given back when dropped (closed if `broken`).
struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    broken: bool,
    /// An extra snapshot connection: closed, not kept, when given back.
    overflow: bool,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("a checked-out connection")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let mut state = self.pool.state.lock();
        if self.overflow {
            state.overflow -= 1;
            return;
        }
        if self.broken || conn.client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(conn);
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}

impl Pool {
    /// A connection for a snapshot. Code often opens a snapshot while it holds another (or a
    /// transaction): with every pooled connection held that way, waiting for one would
    /// deadlock until the checkout times out. So a snapshot that finds none free within
    /// [`OVERFLOW_WAIT`] opens an extra connection, closed when the snapshot ends, up to
    /// `max` extra ones.
    fn checkout_for_snapshot(&self) -> Result<Pooled<'_>, KvError> {
        if let Some(pooled) = self.checkout_within(OVERFLOW_WAIT)? {
            return Ok(pooled);
        }
        {
            let mut state = self.state.lock();
            if state.overflow >= self.max {
                drop(state);
                return self.checkout();
            }
            state.overflow += 1;
        }
        match self.connect() {
            Ok(conn) => Ok(Pooled { pool: self, conn: Some(conn), broken: false, overflow: true }),
            Err(err) => {
                self.state.lock().overflow -= 1;
                Err(err)
            }
        }
    }

    /// A pooled connection, waiting up to `wait` for one to be free (`None`: none was).
    fn checkout_within(&self, wait: Duration) -> Result<Option<Pooled<'_>>, KvError> {
        let deadline = Instant::now() + wait;
        let mut state = self.state.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                if conn.client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(Some(Pooled { pool: self, conn: Some(conn), broken: false, overflow: false }));
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(conn) => Ok(Some(Pooled { pool: self, conn: Some(conn), broken: false, overflow: false })),
                    Err(err) => {
                        self.state.lock().open -= 1;
                        self.freed.notify_one();
                        Err(err)
                    }
                };
            }
            if self.freed.wait_until(&mut state, deadline).timed_out() {
                return Ok(None);
            }
        }
    }

    fn checkout(&self) -> Result<Pooled<'_>, KvError> {
        self.checkout_within(CHECKOUT_WAIT)?.ok_or_else(|| {
            KvError::Engine(format!(
                "all {} PostgreSQL connections stayed busy for {} s (storage.postgres_connections)",
                self.max,
                CHECKOUT_WAIT.as_secs()
            ))
        })
    }

    fn connect(&self) -> Result<Conn, KvError> {
        let config = self.config.clone();
        let task = self.runtime.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::warn!(error = %err, "PostgreSQL connection lost");
                }
            });
            Ok::<_, PgError>(client)
        });
        let client =
            block_on(task).map_err(|e| KvError::Engine(format!("PostgreSQL connect task: {e}")))?.map_err(|e| {
                KvError::Engine(format!("cannot connect to PostgreSQL at {}: {}", self.target(), describe(&e)))
            })?;
        if !self.table_ready.load(Ordering::Acquire) {
            // Another process creating the table at the same moment makes ours fail: IF NOT
            // EXISTS does not cover a concurrent creation, which fails on the table's name
            // (42P07), its row type (42710) or the catalog's unique index (23505). Once that
            // creation commits, the statement succeeds; try again until it does.
            let racing = [SqlState::UNIQUE_VIOLATION, SqlState::DUPLICATE_TABLE, SqlState::DUPLICATE_OBJECT];
            let mut attempts = 0;
            loop {
                match block_on(client.batch_execute(CREATE_TABLE)) {
                    Ok(()) => break,
                    Err(err) if attempts < 50 && racing.iter().any(|code| err.code() == Some(code)) => {
                        attempts += 1;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(err) => {
                        return Err(KvError::Engine(format!("cannot create table xinshi_kv: {}", describe(&err))));
                    }
                }
            }
            self.table_ready.store(true, Ordering::Release);
        }
        let st = block_on(Statements::prepare(&client)).map_err(classify)?;
        Ok(Conn { client, st })
    }

    /// Where the URL points, without credentials: for error messages.
    fn target(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let ports: Vec<String> = self.config.get_ports().iter().map(u16::to_string).collect();
        format!(
            "{} port {} database {}",
            hosts.join(","),
            ports.join(","),
            self.config.get_dbname().unwrap_or("(default)")
        )
    }
}

/// Wakes the thread that waits in [`block_on`].
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` on this thread, parking it while the future waits. Needs no runtime, so
/// it works on a tokio runtime's thread too (where `Runtime::block_on` would panic): the
/// futures polled here only exchange messages with the connections on the engine's own
/// runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}
