//! The embedded engine: fjall's optimistic transactional database on local disk.
//!
//! One keyspace holds every key (FoundationDB has one keyspace too; the tuple-encoded key
//! prefixes play the part of subspaces). Durable transactions are committed with
//! `PersistMode::SyncAll`, so `commit` returns after fsync.

use std::path::Path;

use fjall::{KeyspaceCreateOptions, OptimisticTxDatabase, OptimisticTxKeyspace, PersistMode, Readable};

use super::{Engine, KeyValue, KvError, RangeOptions, ReadTx, Write, WriteTx};

/// fjall behind the [`Engine`] trait.
pub struct FjallEngine {
    db: OptimisticTxDatabase,
    kv: OptimisticTxKeyspace,
}

impl FjallEngine {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, KvError> {
        std::fs::create_dir_all(dir).map_err(|e| KvError::Engine(format!("{}: {e}", dir.display())))?;
        let db = OptimisticTxDatabase::builder(dir).open().map_err(engine_err)?;
        let kv = db.keyspace("kv", KeyspaceCreateOptions::default).map_err(engine_err)?;
        lower_worker_priority();
        Ok(FjallEngine { db, kv })
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
        match self.tx.commit().map_err(engine_err)? {
            Ok(()) => Ok(()),
            Err(fjall::Conflict) => Err(KvError::Conflict),
        }
    }
}

impl Engine for FjallEngine {
    fn snapshot(&self) -> Box<dyn ReadTx + '_> {
        Box::new(Snapshot { snap: self.db.read_tx(), kv: &self.kv })
    }

    fn begin(&self, durable: bool) -> Result<Box<dyn WriteTx + '_>, KvError> {
        let mode = if durable { PersistMode::SyncAll } else { PersistMode::Buffer };
        let tx = self.db.write_tx().map_err(engine_err)?.durability(Some(mode));
        Ok(Box::new(Transaction { tx, kv: &self.kv }))
    }

    fn write(&self, writes: &mut dyn Iterator<Item = &Write>) -> Result<(), KvError> {
        let mut batch = self.db.inner().batch().durability(Some(PersistMode::SyncAll));
        let kv = self.kv.inner();
        for write in writes {
            match write {
                Write::Set(key, value) => batch.insert(kv, key.as_slice(), value.as_slice()),
                Write::Clear(key) => batch.remove(kv, key.as_slice()),
            }
        }
        batch.commit().map_err(engine_err)
    }
}
