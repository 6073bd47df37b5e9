//! The FoundationDB engine (`--features fdb`, `storage.engine = "fdb"`): the `foundationdb`
//! crate behind the [`Engine`] trait, for several nodes sharing one store.
//!
//! **Mapping.** One [`WriteTx`] is one FDB transaction: `get` and `get_range` are reads
//! (they add read-conflict ranges), `set` and `clear` are FDB's, `commit` is FDB's commit.
//! [`Engine::snapshot`] is a transaction that is never committed, read with snapshot reads
//! (no conflict ranges). Both take their read version when they are created (one
//! round trip), as the embedded engine takes its snapshot when a transaction begins: a
//! snapshot then does not see what commits after it was taken, even before its first read.
//! Range reads ask for `StreamingMode::WantAll` and page through the crate's `get_ranges`
//! until the limit or the end of the range. Every commit FDB acknowledges is durable
//! (written to the transaction logs of every replica), so `durable` changes nothing.
//!
//! **Retry.** FDB's retry loop (`db.run`) is expressed through [`super::run`]: a commit that
//! fails with a retryable error (`FdbError::is_retryable`: 1020 not_committed, 1007
//! transaction_too_old, 1009 future_version, …) waits FDB's backoff for that error
//! (`on_error`) and returns [`KvError::Conflict`], and `run` runs the body again on a fresh
//! transaction. A read that fails retryably inside a transaction returns
//! [`KvError::Conflict`] too and marks the transaction [`WriteTx::doomed`], so the body is
//! run again whatever it made of the error (its commit also answers `Conflict`). Reads of a
//! snapshot are not retried: a snapshot kept longer than FDB's 5 s fails its reads with
//! 1007 transaction_too_old, reported as [`KvError::Engine`] (keep snapshots short-lived,
//! as the store does). Other errors are [`KvError::Engine`]. FDB never fails for good in the
//! embedded engine's sense (there is no local disk), so there is no [`KvError::Fatal`].
//!
//! **Unknown results (1021 commit_unknown_result, `is_maybe_committed`).** The commit may
//! or may not have happened. Like `db.run`, we run the transaction again. The store's
//! transaction bodies re-read what they change and converge when run again after a commit
//! that did happen (membership, mute and blacklist lists, kicks, the unique index: the
//! second run finds the first one's conversation). The exception is creating a non-unique
//! conversation: its second run creates a second conversation, and the first is left
//! behind, unused but listed for its members. That takes a lost commit reply during a
//! cluster recovery, and we accept it rather than fail requests that did succeed.
//! [`Engine::write`] retries too and reports a group as applied when its guard no longer
//! holds but the store already holds exactly what the group writes: the earlier attempt
//! did commit (it may have moved the guard key itself, as an epoch bump does). A group with
//! no writes is judged by its guard alone.
//!
//! **Guarded groups.** [`Engine::write`] reads every distinct guard key of a batch at once,
//! with normal (non-snapshot) reads: each adds a read-conflict range on the guard key, so
//! the commit fails if another process changed it meanwhile — the fence on a
//! conversation's owner epoch. Groups are then judged in order against those values and an
//! overlay of what earlier applied groups of the same call wrote to guard keys.
//!
//! **Limits.** FDB refuses transactions over 10 MB and those older than 5 s. A batch is
//! split into several transactions, each of at most [`CHUNK_BYTES`] of keys and values
//! (half the limit, leaving room for FDB's own overhead and conflict ranges), between
//! groups and never inside one (a group is atomic; one group bigger than that goes alone).
//! Each transaction does one round of guard reads and one commit, far below 5 s. A split
//! batch is not atomic as a whole: the parts commit one after another, and an error in a
//! later part leaves the earlier parts applied while the call reports the error. That is
//! fine for the commit pipeline, where each append is a group and an error is already an
//! unknown outcome for its client (who sends again with the same token). FDB refuses keys
//! over 10 kB and values over 100 kB (2102 key_too_large, 2103 value_too_large): the
//! transaction carrying one fails with [`KvError::Engine`], and in a batch every group of
//! that part fails with it. Our records are far smaller: the frame limit
//! (`limits.max_frame_bytes`, 64 KiB) bounds what a client can make us store.
//!
//! **Network thread.** libfdb_c runs one network thread per process, started once and never
//! restartable. [`FdbEngine::open`] starts it the first time (`foundationdb`'s unsafe boot,
//! through `FdbApiBuilder`, so a failure is an error instead of a panic) and keeps its guard
//! in a static: engines opened later (tests open many) share it. The crate demands that the
//! guard be dropped — the thread stopped — before the process exits, since libfdb_c's
//! exit-time destructors must not run under a live network thread; we register an
//! `atexit` handler that drops it. It was registered after libfdb_c's static constructors
//! ran, so it runs before their destructors, on `main` returning and on
//! `std::process::exit` alike. A process killed or aborted skips it, which is safe.
//!
//! **Blocking.** The trait is synchronous. Each call blocks on the crate's futures with
//! `futures_executor::block_on`; FDB's futures are completed by its own network thread,
//! not by the executor polling them, so this works on any thread: the pipeline thread, a
//! `spawn_blocking` thread or (like every engine call, blocking it) a runtime thread.
//!
//! **Key prefix.** [`FdbEngine::open_in`] puts every key under a prefix (the conformance
//! tests each use their own on a shared cluster); the server uses none.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, OnceLock, PoisonError};

use foundationdb::api::{FdbApiBuilder, NetworkAutoStop};
use foundationdb::options::{StreamingMode, TransactionOption};
use foundationdb::{Database, FdbError, KeySelector, RangeOption, Transaction};
use futures_executor::block_on;
use futures_util::TryStreamExt;
use futures_util::future::try_join_all;

use super::{Engine, Group, KeyValue, KvError, MAX_ATTEMPTS, RangeOptions, ReadTx, Write, WriteTx};

/// Most bytes of keys and values in one transaction of [`Engine::write`] (FDB's limit is
/// 10 MB, counting its own overhead).
pub const CHUNK_BYTES: usize = 5_000_000;

/// How long [`FdbEngine::open`] waits for the cluster to answer.
const OPEN_TIMEOUT_MS: i32 = 5_000;

/// Whether the network thread started (once per process; the error is kept).
static NETWORK: OnceLock<Result<(), String>> = OnceLock::new();
/// The network thread's guard, dropped (the thread stopped) by [`stop_network`] at exit.
static NETWORK_GUARD: Mutex<Option<NetworkAutoStop>> = Mutex::new(None);

fn start_network() -> Result<(), KvError> {
    let started = NETWORK.get_or_init(|| {
        let builder = FdbApiBuilder::default().build().map_err(|e| describe("select its API version", e))?;
        // SAFETY: the guard must be dropped before the process exits (see the module doc):
        // it is kept in NETWORK_GUARD and dropped by `stop_network`, registered just below.
        let guard = unsafe { builder.boot() }.map_err(|e| describe("start its network thread", e))?;
        *NETWORK_GUARD.lock().unwrap_or_else(PoisonError::into_inner) = Some(guard);
        // SAFETY: registers a plain function with no arguments, as atexit requires.
        if unsafe { libc::atexit(stop_network) } != 0 {
            tracing::warn!("could not register FoundationDB's network stop at exit");
        }
        Ok(())
    });
    started.clone().map_err(KvError::Engine)
}

/// Stops FDB's network thread and waits for it (at process exit).
extern "C" fn stop_network() {
    let guard = NETWORK_GUARD.lock().unwrap_or_else(PoisonError::into_inner).take();
    drop(guard);
}

fn describe(what: &str, err: FdbError) -> String {
    format!("FoundationDB could not {what}: {err} (error {})", err.code())
}

fn failure(what: &str, err: FdbError) -> KvError {
    KvError::Engine(describe(what, err))
}

/// FoundationDB behind the [`Engine`] trait.
pub struct FdbEngine {
    db: Database,
    /// Put before every key (empty for the server).
    prefix: Vec<u8>,
}

impl FdbEngine {
    /// Opens the database of `cluster_file` (empty: FDB's default cluster file), starting
    /// the network thread the first time, and checks that the cluster answers within 5 s.
    pub fn open(cluster_file: &str) -> Result<FdbEngine, KvError> {
        FdbEngine::open_in(cluster_file, Vec::new())
    }

    /// [`FdbEngine::open`] with every key stored under `prefix`.
    pub fn open_in(cluster_file: &str, prefix: Vec<u8>) -> Result<FdbEngine, KvError> {
        start_network()?;
        let db = Database::new((!cluster_file.is_empty()).then_some(cluster_file))
            .map_err(|e| failure("open the database", e))?;
        // FDB waits for an unreachable cluster forever: a wrong cluster file should stop
        // the server at start, not hang its first request.
        let probe = db.create_trx().map_err(|e| failure("create a transaction", e))?;
        probe.set_option(TransactionOption::Timeout(OPEN_TIMEOUT_MS)).map_err(|e| failure("set a timeout", e))?;
        block_on(probe.get_read_version()).map_err(|e| {
            let file = if cluster_file.is_empty() { foundationdb::default_config_path() } else { cluster_file };
            failure(&format!("reach the cluster of {file}"), e)
        })?;
        tracing::info!(cluster_file = %cluster_file, "FoundationDB engine open");
        Ok(FdbEngine { db, prefix })
    }

    fn key<'k>(&self, key: &'k [u8]) -> Cow<'k, [u8]> {
        if self.prefix.is_empty() { Cow::Borrowed(key) } else { Cow::Owned([&self.prefix, key].concat()) }
    }

    fn transaction(&self, snapshot: bool) -> Result<FdbTx<'_>, KvError> {
        let tx = self.db.create_trx().map_err(|e| failure("create a transaction", e))?;
        // Fix the read version now (see the module doc).
        block_on(tx.get_read_version()).map_err(|e| failure("get a read version", e))?;
        Ok(FdbTx { engine: self, tx, snapshot, doomed: Cell::new(false) })
    }

    /// One transaction of [`Engine::write`], run again on retryable errors.
    async fn write_part(&self, groups: &[Group<'_>]) -> Result<Vec<bool>, KvError> {
        let mut tx = self.db.create_trx().map_err(|e| failure("create a transaction", e))?;
        let mut unknown = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.apply(&tx, groups, unknown).await {
                Ok(applied) => match tx.commit().await {
                    Ok(_) => return Ok(applied),
                    Err(failed) => {
                        let error = *failed;
                        if !error.is_retryable() || attempt >= MAX_ATTEMPTS {
                            return Err(failure("commit a batch", error));
                        }
                        unknown |= error.is_maybe_committed();
                        tx = failed.on_error().await.map_err(|e| failure("commit a batch", e))?;
                        continue;
                    }
                },
                Err(error) => error,
            };
            if !error.is_retryable() || attempt >= MAX_ATTEMPTS {
                return Err(failure("read the guards of a batch", error));
            }
            tx = tx.on_error(error).await.map_err(|e| failure("read the guards of a batch", e))?;
        }
    }

    /// Reads the guards of `groups` and writes the groups whose guard holds into `tx`;
    /// `unknown`: an earlier attempt may have committed (see the module doc).
    async fn apply(&self, tx: &Transaction, groups: &[Group<'_>], unknown: bool) -> Result<Vec<bool>, FdbError> {
        let mut guard_keys: Vec<&[u8]> = groups.iter().filter_map(|g| g.guard.map(|g| g.key.as_slice())).collect();
        guard_keys.sort_unstable();
        guard_keys.dedup();
        // Normal reads, all at once: each adds the read-conflict range that is the fence.
        let values = try_join_all(guard_keys.iter().map(|key| tx.get(&self.key(key), false))).await?;
        let mut current: HashMap<&[u8], Option<Vec<u8>>> =
            guard_keys.into_iter().zip(values.into_iter().map(|v| v.map(|v| v.to_vec()))).collect();
        let mut applied = Vec::with_capacity(groups.len());
        for group in groups {
            let holds = group.guard.is_none_or(|g| current[g.key.as_slice()].as_deref() == g.value.as_deref());
            let apply = holds || (unknown && self.already_applied(tx, group).await?);
            if apply {
                for write in group.writes {
                    let (key, value) = match write {
                        Write::Set(key, value) => {
                            tx.set(&self.key(key), value);
                            (key, Some(value))
                        }
                        Write::Clear(key) => {
                            tx.clear(&self.key(key));
                            (key, None)
                        }
                    };
                    if let Some(seen) = current.get_mut(key.as_slice()) {
                        *seen = value.cloned();
                    }
                }
            }
            applied.push(apply);
        }
        Ok(applied)
    }

    /// Whether the store already holds exactly what `group` writes.
    async fn already_applied(&self, tx: &Transaction, group: &Group<'_>) -> Result<bool, FdbError> {
        if group.writes.is_empty() {
            return Ok(false);
        }
        for write in group.writes {
            let (key, want) = match write {
                Write::Set(key, value) => (key, Some(value.as_slice())),
                Write::Clear(key) => (key, None),
            };
            if tx.get(&self.key(key), true).await?.as_deref() != want {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Splits `groups` into runs of at most `limit` bytes of keys and values, between groups
/// (a group bigger than `limit` is a run of its own).
fn split(groups: &[Group<'_>], limit: usize) -> Vec<Range<usize>> {
    let mut parts = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (n, group) in groups.iter().enumerate() {
        let size = group_bytes(group);
        if n > start && bytes + size > limit {
            parts.push(start..n);
            (start, bytes) = (n, 0);
        }
        bytes += size;
    }
    if start < groups.len() {
        parts.push(start..groups.len());
    }
    parts
}

fn group_bytes(group: &Group<'_>) -> usize {
    let guard = group.guard.map_or(0, |g| g.key.len() + g.value.as_ref().map_or(0, Vec::len));
    let writes: usize = group
        .writes
        .iter()
        .map(|w| match w {
            Write::Set(key, value) => key.len() + value.len(),
            Write::Clear(key) => key.len(),
        })
        .sum();
    guard + writes
}

impl Engine for FdbEngine {
    fn snapshot(&self) -> Box<dyn ReadTx + '_> {
        match self.transaction(true) {
            Ok(tx) => Box::new(tx),
            Err(err) => Box::new(Failed(err.to_string())),
        }
    }

    fn begin(&self, _durable: bool) -> Result<Box<dyn WriteTx + '_>, KvError> {
        Ok(Box::new(self.transaction(false)?))
    }

    fn write(&self, groups: &[Group<'_>]) -> Result<Vec<bool>, KvError> {
        let mut applied = Vec::with_capacity(groups.len());
        for part in split(groups, CHUNK_BYTES) {
            applied.extend(block_on(self.write_part(&groups[part]))?);
        }
        Ok(applied)
    }
}

/// A transaction; `snapshot`: read-only, with snapshot reads.
struct FdbTx<'e> {
    engine: &'e FdbEngine,
    tx: Transaction,
    snapshot: bool,
    /// A read failed retryably: the transaction must be run again ([`WriteTx::doomed`]).
    doomed: Cell<bool>,
}

impl FdbTx<'_> {
    fn read_failed(&self, what: &str, err: FdbError) -> KvError {
        if !self.snapshot && err.is_retryable() {
            self.doomed.set(true);
            KvError::Conflict
        } else {
            failure(what, err)
        }
    }
}

impl ReadTx for FdbTx<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let value =
            block_on(self.tx.get(&self.engine.key(key), self.snapshot)).map_err(|e| self.read_failed("read", e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn get_range(&self, begin: &[u8], end: &[u8], opts: RangeOptions) -> Result<Vec<KeyValue>, KvError> {
        if begin >= end {
            return Ok(Vec::new());
        }
        let prefix = &self.engine.prefix;
        let option = RangeOption {
            begin: KeySelector::first_greater_or_equal([prefix, begin].concat()),
            end: KeySelector::first_greater_or_equal([prefix, end].concat()),
            limit: (opts.limit > 0).then_some(opts.limit),
            mode: StreamingMode::WantAll,
            reverse: opts.reverse,
            ..RangeOption::default()
        };
        let mut pairs = Vec::new();
        let read = async {
            let mut pages = self.tx.get_ranges(option, self.snapshot);
            while let Some(page) = pages.try_next().await? {
                pairs.extend(page.iter().map(|kv| (kv.key()[prefix.len()..].to_vec(), kv.value().to_vec())));
            }
            Ok(())
        };
        block_on(read).map_err(|e| self.read_failed("read a range", e))?;
        if opts.limit > 0 {
            pairs.truncate(opts.limit);
        }
        Ok(pairs)
    }
}

impl WriteTx for FdbTx<'_> {
    fn set(&mut self, key: &[u8], value: &[u8]) {
        self.tx.set(&self.engine.key(key), value);
    }

    fn clear(&mut self, key: &[u8]) {
        self.tx.clear(&self.engine.key(key));
    }

    fn commit(self: Box<Self>) -> Result<(), KvError> {
        if self.doomed.get() {
            return Err(KvError::Conflict);
        }
        block_on(async move {
            let Err(failed) = self.tx.commit().await else {
                return Ok(());
            };
            let error = *failed;
            if !error.is_retryable() {
                return Err(failure("commit", error));
            }
            // FDB's backoff for this error; `run` then begins a fresh transaction.
            let _ = failed.on_error().await;
            Err(KvError::Conflict)
        })
    }

    fn doomed(&self) -> bool {
        self.doomed.get()
    }
}

/// The snapshot of an engine that could not get a read version: every read fails.
struct Failed(String);

impl ReadTx for Failed {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Err(KvError::Engine(self.0.clone()))
    }

    fn get_range(&self, _begin: &[u8], _end: &[u8], _opts: RangeOptions) -> Result<Vec<KeyValue>, KvError> {
        Err(KvError::Engine(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::kv::Guard;

    fn set(key: &str, bytes: usize) -> Write {
        Write::Set(key.as_bytes().to_vec(), vec![0; bytes])
    }

    #[test]
    fn batches_split_between_groups_only() {
        let guard = Guard { key: b"g".to_vec(), value: Some(b"1".to_vec()) };
        let (small, big, huge) = ([set("a", 9)], [set("b", 39), set("c", 29)], [set("d", 199)]);
        let plain = |writes| Group { guard: None, writes };
        let groups =
            [plain(&small), Group { guard: Some(&guard), writes: &small }, plain(&big), plain(&huge), plain(&small)];
        // Sizes: 10, 12, 70, 200, 10.
        assert_eq!(split(&groups, 100), [0..3, 3..4, 4..5]);
        assert_eq!(split(&groups, 1000), vec![0..groups.len()]);
        assert_eq!(split(&groups, 10), [0..1, 1..2, 2..3, 3..4, 4..5]);
        assert!(split(&[], 10).is_empty());
    }
}
