//! The key-value engine under the store: FoundationDB's model, kept small.
//!
//! - Keys and values are byte strings; keys are ordered bytewise.
//! - A [`WriteTx`] sees a consistent snapshot plus its own writes. Its reads are tracked:
//!   if a key or range it read was changed by another transaction that committed after
//!   its snapshot, [`WriteTx::commit`] fails with [`KvError::Conflict`] and the whole
//!   transaction must be run again. [`run`] is that retry loop (FDB's `db.run`).
//! - A [`ReadTx`] from [`Engine::snapshot`] is a read-only snapshot with no conflict
//!   tracking (FDB: a transaction never committed, read with `snapshot = true`).
//! - Writes are blind (`set`, `clear`) and never conflict by themselves.
//! - [`Engine::write`] commits blind writes alone, with no transaction around them: atomic
//!   and durable, never conflicting (FDB: a transaction with no reads). It skips the
//!   conflict bookkeeping, which cost the commit pipeline half its time (measured, see
//!   docs/benchmarks.md). The price: on fjall, an optimistic transaction that read one of
//!   these keys is not told that it changed. So it is only for keys that one owner writes
//!   and no read-modify-write transaction reads: messages, de-duplication tokens, cursors,
//!   kept notifications.
//! - The writes come in [`Group`]s, each with an optional [`Guard`]: a group is applied only
//!   if its guard key holds the expected value, read in the same atomic step. This is the
//!   fence on a conversation's owner epoch (a stale owner's appends are left out instead of
//!   overwriting). Engines shared by several processes read the guards inside the
//!   transaction that writes (FDB: the read adds a read-conflict range; PostgreSQL: the read
//!   under SERIALIZABLE); the embedded engine reads them just before its batch, which is
//!   atomic because guard keys change only through this same call, and its calls come from
//!   the one commit pipeline thread (the single-writer path); it also keeps the guard
//!   values in memory. So a key used as a guard is written only through
//!   [`Engine::write`] (blind writes), never in a [`WriteTx`].
//!
//! The calls are synchronous and may block on disk: call them from the commit pipeline's
//! thread or from `spawn_blocking`, never from an async task directly. An FDB engine maps
//! one to one (`get`, `get_range` with limit/reverse, `set`, `clear`, `commit` + `on_error`)
//! by blocking on the crate's futures inside these calls.

#[cfg(feature = "fdb")]
mod fdb;
mod fjall;
mod journal;
pub(crate) mod postgres;

#[cfg(feature = "fdb")]
pub use self::fdb::FdbEngine;
pub use self::fjall::{FjallEngine, FjallOptions};
pub use self::postgres::PgEngine;
#[doc(hidden)]
pub use self::postgres::{create_test_database, drop_test_database};

/// One key-value pair.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Engine failures.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// Another transaction changed what this one read; run it again.
    #[error("transaction conflict")]
    Conflict,
    /// The engine failed (I/O, corruption, …).
    #[error("storage engine: {0}")]
    Engine(String),
    /// The engine can no longer write (a failed journal write or fsync, a poisoned fjall):
    /// nothing more will commit until the process restarts. See [`Engine::on_fatal`].
    #[error("storage engine failed for good: {0}")]
    Fatal(String),
}

/// Options of a range read.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeOptions {
    /// Most pairs returned; 0 means no limit.
    pub limit: usize,
    /// Walk from the end of the range backwards.
    pub reverse: bool,
}

impl RangeOptions {
    pub fn forward(limit: usize) -> Self {
        RangeOptions { limit, reverse: false }
    }

    pub fn backward(limit: usize) -> Self {
        RangeOptions { limit, reverse: true }
    }
}

/// Reads of a snapshot.
pub trait ReadTx {
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    /// Pairs with `begin <= key < end`, in key order (or reversed), at most `opts.limit`.
    fn get_range(&self, begin: &[u8], end: &[u8], opts: RangeOptions) -> Result<Vec<KeyValue>, KvError>;
}

/// A read-write transaction with conflict detection on its reads.
pub trait WriteTx: ReadTx {
    fn set(&mut self, key: &[u8], value: &[u8]);
    fn clear(&mut self, key: &[u8]);
    /// Makes the writes durable (when the transaction was begun durable) and visible, or
    /// fails with [`KvError::Conflict`].
    fn commit(self: Box<Self>) -> Result<(), KvError>;
    /// Whether the transaction can no longer commit because of a conflict an engine found
    /// before the commit: PostgreSQL reports a serialization failure on any statement, after
    /// which the transaction is aborted; FoundationDB a retryable error on a read (1007
    /// transaction_too_old, …). Its reads then return [`KvError::Conflict`]; [`run`] asks
    /// this after the body returned, whatever it returned, and runs the body again on a
    /// fresh transaction. Engines that find conflicts only at commit keep the default.
    fn doomed(&self) -> bool {
        false
    }
}

/// One blind write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Set(Vec<u8>, Vec<u8>),
    Clear(Vec<u8>),
}

/// A precondition of a [`Group`]: `key` holds exactly `value` (`None`: no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Blind writes applied together by [`Engine::write`], only if their guard holds.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    pub guard: Option<&'a Guard>,
    pub writes: &'a [Write],
}

/// A transactional ordered key-value store.
pub trait Engine: Send + Sync + 'static {
    /// A consistent read-only snapshot.
    fn snapshot(&self) -> Box<dyn ReadTx + '_>;
    /// A new read-write transaction. `durable`: its commit returns only once the writes are
    /// on stable storage (fsync).
    fn begin(&self, durable: bool) -> Result<Box<dyn WriteTx + '_>, KvError>;
    /// Applies `groups` atomically and durably (fsync): each group whose guard holds (or
    /// that has none) is applied, the others are left out; the answer says which were
    /// applied, in order. See the module doc for which keys may be written this way and
    /// how each engine checks guards.
    fn write(&self, groups: &[Group<'_>]) -> Result<Vec<bool>, KvError>;
    /// Registers what to call, once, when the engine fails for good (the first
    /// [`KvError::Fatal`], or a failure noticed in the background such as a poisoned fjall
    /// whose writers are stalled). Called at most once per engine.
    fn on_fatal(&self, _hook: FatalHook) {}
    /// Makes everything durable and records what a clean stop needs; later writes may fail.
    fn close(&self) {}
    /// Test hook: the next [`Engine::write`] stalls for `stall`, the engine counting as
    /// failed from its start (as fjall does when a flush fails under a stalled writer), then
    /// fails. Returns whether the engine supports it. Not reachable by clients.
    #[doc(hidden)]
    fn inject_fault(&self, _stall: std::time::Duration) -> bool {
        false
    }
    /// Test hook: writes what is in memory to table files now. Returns whether it did.
    #[doc(hidden)]
    fn flush_memtable(&self) -> bool {
        false
    }
}

/// See [`Engine::on_fatal`].
pub type FatalHook = Box<dyn Fn(&str) + Send + Sync>;

/// Most attempts [`run`] makes before giving up on a conflicting transaction.
const MAX_ATTEMPTS: usize = 100;

/// Runs `body` in a durable transaction and commits it, running it again from the start
/// on conflict. `body` must have no side effects besides the transaction.
///
/// A conflict is found either at commit ([`WriteTx::commit`] fails with
/// [`KvError::Conflict`]) or earlier, by a read that fails with it: `body` may then return
/// any error of its own type `E` (which `run` cannot look into), so `run` asks the
/// transaction instead ([`WriteTx::doomed`]) and retries whatever `body` returned.
pub fn run<T, E>(engine: &dyn Engine, mut body: impl FnMut(&mut dyn WriteTx) -> Result<T, E>) -> Result<T, E>
where
    E: From<KvError>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = engine.begin(true)?;
        let result = body(tx.as_mut());
        if tx.doomed() {
            if attempt < MAX_ATTEMPTS {
                continue;
            }
            return Err(KvError::Conflict.into());
        }
        let value = result?;
        match tx.commit() {
            Ok(()) => return Ok(value),
            Err(KvError::Conflict) if attempt < MAX_ATTEMPTS => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

/// Applies `writes` atomically and durably, with no guard ([`Engine::write`]).
pub fn write_all(engine: &dyn Engine, writes: &[Write]) -> Result<(), KvError> {
    engine.write(&[Group { guard: None, writes }]).map(drop)
}

/// The first key after every key that starts with `prefix` (the end of a prefix range).
/// `prefix` must hold a byte below 0xff, which every tuple-encoded key does.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    panic!("prefix_end of a prefix made only of 0xff bytes");
}

#[cfg(test)]
mod tests;
