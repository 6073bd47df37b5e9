//! The embedded engine: fjall's optimistic transactional database on local disk.
//!
//! One keyspace holds every key (FoundationDB has one keyspace too; the tuple-encoded key
//! prefixes play the part of subspaces). Durable transactions are committed with
//! `PersistMode::SyncAll`, so `commit` returns after fsync.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use fjall::{KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, PersistMode, Readable};
use parking_lot::{Condvar, Mutex};

use super::journal::{self, State};
use super::{Engine, FatalHook, Group, KeyValue, KvError, RangeOptions, ReadTx, Write, WriteTx};

/// How to open the embedded engine.
#[derive(Debug, Clone)]
pub struct FjallOptions {
    /// Most table files fjall keeps open (its descriptor cache; fjall's default is 900).
    pub max_cached_files: usize,
    /// Open a store whose journal is damaged or short instead of refusing
    /// (`storage.repair_journal`).
    pub repair_journal: bool,
}

impl Default for FjallOptions {
    fn default() -> Self {
        FjallOptions { max_cached_files: 900, repair_journal: false }
    }
}

/// How often the watcher thread checks that fjall can still write.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// How often at most the watcher records the committed sequence number.
const RECORD_INTERVAL: Duration = Duration::from_secs(1);

/// fjall behind the [`Engine`] trait.
pub struct FjallEngine {
    db: OptimisticTxDatabase,
    kv: OptimisticTxKeyspace,
    health: Arc<Health>,
    watcher: Mutex<Option<JoinHandle<()>>>,
    /// The values of guard keys as [`Engine::write`] last read or wrote them: the owner
    /// epochs, read once per conversation instead of once per append. Exact because a key
    /// used as a guard is written only through `write` (see the module doc of `kv`), which
    /// keeps this up to date. At most [`GUARD_CACHE`] entries; past that it starts over.
    guards: Mutex<HashMap<Vec<u8>, Option<Vec<u8>>>>,
}

/// Most guard values [`FjallEngine`] keeps in memory (a few dozen bytes each).
const GUARD_CACHE: usize = 200_000;

/// Whether the engine can still write, and how far it has durably committed.
struct Health {
    dir: PathBuf,
    /// Why the engine failed for good; set once.
    failed: OnceLock<String>,
    hook: OnceLock<FatalHook>,
    /// Every sequence number below this is durable (see [`State::committed_seqno`]).
    committed: AtomicU64,
    /// Test hook: the next write stalls this long, then fails ([`Engine::inject_fault`]).
    fault: Mutex<Option<Duration>>,
    /// Test hook: set while that write stalls; the watcher then reports the engine failed.
    faulted: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Health {
    /// Records the engine as failed for good and tells the hook (once).
    fn fail(&self, why: String) -> KvError {
        if self.failed.set(why.clone()).is_ok() {
            tracing::error!(error = %why, "the storage engine failed: no more writes until the process restarts");
            if let Some(hook) = self.hook.get() {
                hook(&why);
            }
        }
        KvError::Fatal(why)
    }

    fn check(&self) -> Result<(), KvError> {
        match self.failed.get() {
            Some(why) => Err(KvError::Fatal(why.clone())),
            None => Ok(()),
        }
    }
}

impl FjallEngine {
    /// Opens (or creates) the store in `dir` with the default options.
    pub fn open(dir: &Path) -> Result<Self, KvError> {
        FjallEngine::open_with(dir, &FjallOptions::default())
    }

    /// Opens (or creates) the store in `dir`. Before fjall sees it, the journal is checked
    /// (see the `journal` module): a torn tail is cut off; other damage, a missing journal
    /// file or a journal shorter than xinshi's record refuses, unless `repair_journal`.
    pub fn open_with(dir: &Path, options: &FjallOptions) -> Result<Self, KvError> {
        std::fs::create_dir_all(dir).map_err(|e| KvError::Engine(format!("{}: {e}", dir.display())))?;
        let repair = options.repair_journal;
        let existing = dir.join("version").exists();
        // fjall's lock, held while the journal is checked (and maybe cut) so that a store
        // another process is running is not touched; fjall takes it again when it opens.
        let lock = if existing { Some(lock_store(dir)?) } else { None };
        let state = match State::read(dir) {
            Ok(state) => state,
            Err(why) if repair => {
                tracing::error!(error = %why, "repairing: ignoring the damaged record");
                None
            }
            Err(why) => return Err(KvError::Engine(why)),
        };
        if existing && state.is_none() {
            tracing::warn!(dir = %dir.display(), "the store has no {} yet: its journal cannot be checked against it this time", journal::STATE_FILE);
        }
        journal::check_journals(dir, repair).map_err(KvError::Engine)?;
        if let Some(state) = state.as_ref().filter(|s| s.clean_stop) {
            for name in &state.journals {
                let path = dir.join(name);
                if path.exists() {
                    continue;
                }
                let why = format!(
                    "journal {} is missing: the store was stopped cleanly with it. Restore it, or start with \
                     --repair-journal (storage.repair_journal) to go on without what it held",
                    path.display()
                );
                if !repair {
                    return Err(KvError::Engine(why));
                }
                tracing::error!(error = %why, "repairing");
            }
        }
        if existing {
            keep_a_journal(dir, state.as_ref())?;
        }
        drop(lock);
        let db = OptimisticTxDatabase::builder(dir)
            .max_cached_files(Some(options.max_cached_files.max(10)))
            .open()
            .map_err(|e| KvError::Engine(format!("cannot open the store in {}: {e}", dir.display())))?;
        let kv = db
            .keyspace("kv", KeyspaceCreateOptions::default)
            .map_err(|e| KvError::Engine(format!("cannot open the store in {}: {e}", dir.display())))?;
        let next = db.inner().seqno();
        if let Some(state) = &state
            && next < state.committed_seqno
        {
            let why = format!(
                "the store in {} recovered up to sequence number {next}, but {} had been committed: \
                 journal files (*.jnl) are missing or were cut short. Restore the data directory from a backup, \
                 or start with --repair-journal (storage.repair_journal) to go on without the lost writes",
                dir.display(),
                state.committed_seqno
            );
            if !repair {
                return Err(KvError::Engine(why));
            }
            tracing::error!(error = %why, "repairing");
        }
        let health = Arc::new(Health {
            dir: dir.to_owned(),
            failed: OnceLock::new(),
            hook: OnceLock::new(),
            committed: AtomicU64::new(next),
            fault: Mutex::new(None),
            faulted: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        State { committed_seqno: next, clean_stop: false, journals: Vec::new() }
            .write(dir)
            .map_err(|e| KvError::Engine(format!("cannot write {}: {e}", dir.join(journal::STATE_FILE).display())))?;
        lower_worker_priority();
        let watcher = {
            let (db, health) = (db.clone(), health.clone());
            std::thread::Builder::new()
                .name("store-watch".into())
                .spawn(move || watch(&db, &health))
                .map_err(|e| KvError::Engine(format!("cannot start the store watcher: {e}")))?
        };
        Ok(FjallEngine { db, kv, health, watcher: Mutex::new(Some(watcher)), guards: Mutex::default() })
    }

    /// Marks everything below the would-be-next sequence number, read before a durable
    /// write, as committed once that write is durable (the journal is written in
    /// sequence-number order, under one lock).
    fn committed_after(&self, before: u64) {
        self.health.committed.fetch_max(before, Ordering::Relaxed);
    }

    /// Turns a failed write into [`KvError::Fatal`]: fjall poisons itself on any journal
    /// write or fsync error, so nothing will commit any more.
    fn write_failed(&self, err: fjall::Error) -> KvError {
        self.health.fail(format!("{err}"))
    }
}

/// Takes fjall's lock file (`flock`, as fjall does), or fails if another process holds it.
fn lock_store(dir: &Path) -> Result<std::fs::File, KvError> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| KvError::Engine(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(KvError::Engine(format!("the store in {} is in use by another process", dir.display())))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(KvError::Engine(format!("cannot lock {}: {e}", path.display()))),
    }
}

/// fjall 3 recovers its sequence number from its tables only when it finds a journal
/// file: with none (all deleted), it starts again from 0, and every table written before
/// is invisible to reads at that sequence number. So an existing store with no journal left
/// gets an empty one (named after the last it had) before fjall opens it.
fn keep_a_journal(dir: &Path, state: Option<&State>) -> Result<(), KvError> {
    let files = journal::journal_files(dir).map_err(|e| KvError::Engine(format!("{}: {e}", dir.display())))?;
    if !files.is_empty() {
        return Ok(());
    }
    let name = state.and_then(|s| s.journals.last().cloned()).unwrap_or_else(|| "0.jnl".into());
    let path = dir.join(name);
    tracing::warn!(file = %path.display(), "the store has no journal file: starting an empty one");
    std::fs::File::create(&path)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::File::open(dir)?.sync_all())
        .map_err(|e| KvError::Engine(format!("cannot create {}: {e}", path.display())))
}

/// The watcher thread: notices a fjall that poisoned itself in the background (a failed
/// flush) while writers may be stalled waiting for that flush, and records the committed
/// sequence number in xinshi's state file about once a second.
fn watch(db: &OptimisticTxDatabase, health: &Health) {
    let mut recorded = health.committed.load(Ordering::Relaxed);
    let mut last_record = std::time::Instant::now();
    loop {
        {
            let mut stop = health.stop.lock();
            if !*stop {
                health.wake.wait_for(&mut stop, WATCH_INTERVAL);
            }
            if *stop {
                return;
            }
        }
        if health.failed.get().is_some() {
            continue;
        }
        if health.faulted.load(Ordering::Relaxed) {
            health.fail("injected fault: the engine is poisoned".into());
            continue;
        }
        // Cheap: checks fjall's poison flag, then flushes the journal's buffer to the OS.
        if let Err(err) = db.persist(PersistMode::Buffer) {
            health.fail(format!("{err}"));
            continue;
        }
        let committed = health.committed.load(Ordering::Relaxed);
        if committed != recorded && last_record.elapsed() >= RECORD_INTERVAL {
            let state = State { committed_seqno: committed, clean_stop: false, journals: Vec::new() };
            match state.write(&health.dir) {
                Ok(()) => recorded = committed,
                Err(err) => tracing::warn!(error = %err, "cannot record the committed sequence number"),
            }
            last_record = std::time::Instant::now();
        }
    }
}

/// Nice value of fjall's background threads (flush, compaction).
const WORKER_NICE: libc::c_int = 19;

/// Runs fjall's background threads at the lowest priority. A memtable flush takes ~0.25 s
/// of CPU at a time; at normal priority it competed with the request threads and was the
/// 50–100 ms latency spikes seen under steady load (perf, docs/benchmarks.md). At nice 19
/// it runs in the gaps; under overload it still gets a share, and fjall slows writers
/// itself if flushing falls behind. Best effort: Linux only, and failures are ignored.
fn lower_worker_priority() {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let Ok(tid) = task.file_name().to_string_lossy().parse::<libc::id_t>() else { continue };
        if comm.trim_end().starts_with("fjall:") {
            // SAFETY: setpriority only reads its arguments; on Linux a thread id selects one thread.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, WORKER_NICE) };
        }
    }
}

fn engine_err(err: impl std::fmt::Display) -> KvError {
    KvError::Engine(err.to_string())
}

/// Reads `begin..end` from any fjall reader (snapshot or write transaction).
fn read_range(
    reader: &impl Readable,
    kv: &OptimisticTxKeyspace,
    begin: &[u8],
    end: &[u8],
    opts: RangeOptions,
) -> Result<Vec<KeyValue>, KvError> {
    if begin >= end {
        return Ok(Vec::new());
    }
    let limit = if opts.limit == 0 { usize::MAX } else { opts.limit };
    let iter = reader.range(kv, begin..end);
    let mut out = Vec::new();
    let mut push = |guard: fjall::Guard| -> Result<bool, KvError> {
        let (k, v) = guard.into_inner().map_err(engine_err)?;
        out.push((k.to_vec(), v.to_vec()));
        Ok(out.len() < limit)
    };
    if opts.reverse {
        for guard in iter.rev() {
            if !push(guard)? {
                break;
            }
        }
    } else {
        for guard in iter {
            if !push(guard)? {
                break;
            }
        }
    }
    Ok(out)
}

struct Snapshot<'a> {
    snap: fjall::Snapshot,
    kv: &'a OptimisticTxKeyspace,
}

impl ReadTx for Snapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.snap.get(self.kv, key).map_err(engine_err)?.map(|v| v.to_vec()))
    }

    fn get_range(&self, begin: &[u8], end: &[u8], opts: RangeOptions) -> Result<Vec<KeyValue>, KvError> {
        read_range(&self.snap, self.kv, begin, end, opts)
    }
}

struct Transaction<'a> {
    tx: fjall::OptimisticWriteTx,
    kv: &'a OptimisticTxKeyspace,
    engine: &'a FjallEngine,
    durable: bool,
}

impl ReadTx for Transaction<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.tx.get(self.kv, key).map_err(engine_err)?.map(|v| v.to_vec()))
    }

    fn get_range(&self, begin: &[u8], end: &[u8], opts: RangeOptions) -> Result<Vec<KeyValue>, KvError> {
        read_range(&self.tx, self.kv, begin, end, opts)
    }
}

impl WriteTx for Transaction<'_> {
    fn set(&mut self, key: &[u8], value: &[u8]) {
        self.tx.insert(self.kv, key, value);
    }

    fn clear(&mut self, key: &[u8]) {
        self.tx.remove(self.kv, key);
    }

    fn commit(self: Box<Self>) -> Result<(), KvError> {
        let engine = self.engine;
        engine.health.check()?;
        let before = engine.db.inner().seqno();
        match self.tx.commit().map_err(|e| engine.write_failed(e))? {
            Ok(()) => {
                if self.durable {
                    engine.committed_after(before);
                }
                Ok(())
            }
            Err(fjall::Conflict) => Err(KvError::Conflict),
        }
    }
}

impl Engine for FjallEngine {
    fn snapshot(&self) -> Box<dyn ReadTx + '_> {
        Box::new(Snapshot { snap: self.db.read_tx(), kv: &self.kv })
    }

    fn begin(&self, durable: bool) -> Result<Box<dyn WriteTx + '_>, KvError> {
        self.health.check()?;
        let mode = if durable { PersistMode::SyncAll } else { PersistMode::Buffer };
        let tx = self.db.write_tx().map_err(|e| self.write_failed(e))?.durability(Some(mode));
        Ok(Box::new(Transaction { tx, kv: &self.kv, engine: self, durable }))
    }

    fn write(&self, groups: &[Group<'_>]) -> Result<Vec<bool>, KvError> {
        self.health.check()?;
        if let Some(stall) = self.health.fault.lock().take() {
            self.health.faulted.store(true, Ordering::Relaxed);
            std::thread::sleep(stall);
            return Err(self.health.fail("injected fault: a journal write failed".into()));
        }
        let before = self.db.inner().seqno();
        let mut batch = self.db.inner().batch().durability(Some(PersistMode::SyncAll));
        let kv = self.kv.inner();
        let mut applied = Vec::with_capacity(groups.len());
        // Guard keys written earlier in this batch, with their new values: a later group's
        // guard must see them. A guarded group writes a guard key only when it is its own
        // (a claim); a group without a guard may write any (a sweep clearing an epoch). So
        // message appends, the bulk of every batch, cost no hashing here beyond their guard.
        let guarded: Option<HashSet<&[u8]>> = groups
            .iter()
            .any(|g| g.guard.is_none())
            .then(|| groups.iter().filter_map(|g| g.guard.map(|g| g.key.as_slice())).collect());
        let mut overlay: HashMap<&[u8], Option<&[u8]>> = HashMap::new();
        let mut cache = self.guards.lock();
        for group in groups {
            let holds = match group.guard {
                Some(guard) => match overlay.get(guard.key.as_slice()) {
                    Some(value) => *value == guard.value.as_deref(),
                    None => {
                        if !cache.contains_key(&guard.key) {
                            if cache.len() >= GUARD_CACHE {
                                cache.clear();
                            }
                            cache.insert(guard.key.clone(), self.snapshot().get(&guard.key)?);
                        }
                        cache[&guard.key] == guard.value
                    }
                },
                None => true,
            };
            applied.push(holds);
            for write in group.writes.iter().filter(|_| holds) {
                let (key, value) = match write {
                    Write::Set(key, value) => {
                        batch.insert(kv, key.as_slice(), value.as_slice());
                        (key, Some(value.as_slice()))
                    }
                    Write::Clear(key) => {
                        batch.remove(kv, key.as_slice());
                        (key, None)
                    }
                };
                let guard_key = match (group.guard, &guarded) {
                    (Some(guard), _) => guard.key == *key,
                    (None, Some(guarded)) => guarded.contains(key.as_slice()) || cache.contains_key(key),
                    (None, None) => false,
                };
                if guard_key {
                    overlay.insert(key, value);
                }
            }
        }
        // A failed commit leaves the cache as it was (it held what the store holds).
        batch.commit().map_err(|e| self.write_failed(e))?;
        self.committed_after(before);
        for (key, value) in overlay {
            cache.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        }
        Ok(applied)
    }

    fn on_fatal(&self, hook: FatalHook) {
        let _ = self.health.hook.set(hook);
        if let Some(why) = self.health.failed.get()
            && let Some(hook) = self.health.hook.get()
        {
            hook(why);
        }
    }

    fn close(&self) {
        *self.health.stop.lock() = true;
        self.health.wake.notify_all();
        if let Some(watcher) = self.watcher.lock().take() {
            let _ = watcher.join();
        }
        if self.health.failed.get().is_some() {
            return;
        }
        if let Err(err) = self.db.persist(PersistMode::SyncAll) {
            self.health.fail(format!("{err}"));
            return;
        }
        // The last batch may still be lost as a torn tail (the rule the journal check
        // applies after a crash), so the record stops one short of it.
        let committed = self.db.inner().seqno().saturating_sub(1).max(self.health.committed.load(Ordering::Relaxed));
        let journals = journal::journal_files(&self.health.dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            .collect();
        let state = State { committed_seqno: committed, clean_stop: true, journals };
        if let Err(err) = state.write(&self.health.dir) {
            tracing::warn!(error = %err, "cannot record the clean stop");
        }
    }

    fn inject_fault(&self, stall: Duration) -> bool {
        *self.health.fault.lock() = Some(stall);
        true
    }

    fn flush_memtable(&self) -> bool {
        self.kv.inner().rotate_memtable_and_wait().is_ok()
    }
}

impl Drop for FjallEngine {
    fn drop(&mut self) {
        *self.health.stop.lock() = true;
        self.health.wake.notify_all();
        if let Some(watcher) = self.watcher.lock().take() {
            let _ = watcher.join();
        }
    }
}

#[cfg(test)]
mod journal_tests {
    use super::*;

    fn set(engine: &FjallEngine, i: u8) {
        super::super::write_all(engine, &[Write::Set(vec![b'k', i], vec![i])]).unwrap();
    }

    #[test]
    fn a_deleted_journal_refuses_and_repairing_keeps_the_tables() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = FjallEngine::open(dir.path()).unwrap();
            (0..10).for_each(|i| set(&engine, i));
            assert!(engine.flush_memtable());
            (10..20).for_each(|i| set(&engine, i));
            engine.close();
        }
        let journals = journal::journal_files(dir.path()).unwrap();
        journals.iter().for_each(|j| std::fs::remove_file(j).unwrap());
        let Err(KvError::Engine(err)) = FjallEngine::open(dir.path()) else { panic!("opened without its journal") };
        assert!(err.contains("missing") && err.contains(&journals[0].display().to_string()), "{err}");
        // Without the clean-stop record (as after a crash), the sequence number tells.
        let mut state = State::read(dir.path()).unwrap().unwrap();
        state.clean_stop = false;
        state.write(dir.path()).unwrap();
        let Err(KvError::Engine(err)) = FjallEngine::open(dir.path()) else { panic!("opened without its journal") };
        assert!(err.contains("cut short"), "{err}");

        let repair = FjallOptions { repair_journal: true, ..Default::default() };
        let engine = FjallEngine::open_with(dir.path(), &repair).unwrap();
        for i in 0u8..20 {
            let expected = (i < 10).then(|| vec![i]);
            assert_eq!(engine.snapshot().get(&[b'k', i]).unwrap(), expected, "key {i}");
        }
        set(&engine, 30);
        assert_eq!(engine.snapshot().get(&[b'k', 30]).unwrap(), Some(vec![30]), "new writes are visible");
        engine.close();
        drop(engine);
        let engine = FjallEngine::open(dir.path()).expect("a repaired store opens");
        assert_eq!(engine.snapshot().get(&[b'k', 30]).unwrap(), Some(vec![30]));
    }

    #[test]
    fn a_store_in_use_is_not_checked_nor_opened() {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path()).unwrap();
        set(&engine, 1);
        let journal = journal::journal_files(dir.path()).unwrap().pop().unwrap();
        let before = std::fs::metadata(&journal).unwrap().len();
        let Err(KvError::Engine(err)) = FjallEngine::open(dir.path()) else { panic!("opened twice") };
        assert!(err.contains("in use"), "{err}");
        assert_eq!(std::fs::metadata(&journal).unwrap().len(), before, "the journal in use is left alone");
    }

    #[test]
    fn a_fault_fails_the_write_and_every_later_one() {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        engine.on_fatal(Box::new(move |why| tx.send(why.to_owned()).unwrap()));
        set(&engine, 1);
        assert!(engine.inject_fault(Duration::from_millis(10)));
        let result = super::super::write_all(&engine, &[Write::Set(b"k2".to_vec(), b"v".to_vec())]);
        assert!(matches!(result, Err(KvError::Fatal(_))), "{result:?}");
        assert!(rx.recv_timeout(Duration::from_secs(5)).unwrap().contains("injected"));
        assert!(matches!(engine.begin(true).err(), Some(KvError::Fatal(_))));
        assert!(matches!(super::super::write_all(&engine, &[]), Err(KvError::Fatal(_))));
    }
}
