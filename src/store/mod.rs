//! The store: the domain layer (conversations, members, messages, cursors, the unique
//! index) written once over the [`kv::Engine`] trait, plus the commit pipeline.
//!
//! - [`kv`]: the engine trait with FoundationDB's semantics, and the embedded fjall engine.
//! - [`tuple`] and [`keys`]: tuple-encoded, range-friendly keys; [`records`]: MessagePack values.
//! - [`pipeline`]: the node-wide group commit that message appends go through.
//! - [`conv`], [`temp`] (temporary conversations), [`msg`], [`notif`], [`blacklist`] and
//!   [`kick`]: the domain operations.
//!
//! Everything here blocks on disk: call it from `spawn_blocking`, the pipeline thread, or
//! an actor running on the core runtime.

pub mod blacklist;
pub mod conv;
pub mod keys;
pub mod kick;
pub mod kv;
pub mod msg;
pub mod notif;
pub mod owner;
pub mod pipeline;
pub mod records;
pub mod temp;
pub mod token;
pub mod tuple;

use std::path::Path;
use std::sync::Arc;

use crate::config::{EngineKind, StorageConfig};

use self::kv::{Engine, FjallEngine, FjallOptions, KvError, PgEngine};
use self::pipeline::Pipeline;

/// Store failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine: {0}")]
    Engine(String),
    #[error("too many transaction conflicts")]
    Conflict,
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    /// A guarded write was left out: its guard no longer held (a conversation's owner epoch
    /// moved on, so another actor owns it now). Retryable by the client.
    #[error("fenced: the conversation has a newer owner")]
    Fenced,
}

impl From<KvError> for StoreError {
    fn from(err: KvError) -> Self {
        match err {
            KvError::Conflict => StoreError::Conflict,
            KvError::Engine(msg) | KvError::Fatal(msg) => StoreError::Engine(msg),
        }
    }
}

/// The store of one node.
pub struct Store {
    engine: Arc<dyn Engine>,
    pub pipeline: Pipeline,
    /// Why the engine failed for good, once it has (see [`Store::failure`]).
    failure: Arc<tokio::sync::watch::Sender<Option<String>>>,
    /// This process's id among the processes sharing the store ([`Store::node_id`]).
    node_id: u64,
    /// Kept notifications written by this process (see [`Store::notification_write`]).
    notifications: std::sync::atomic::AtomicU64,
    /// Test hook: transactions on this conversation's record take this long.
    slow: parking_lot::Mutex<Option<(String, std::time::Duration)>>,
}

impl Store {
    /// Opens the embedded store in `dir` and starts its commit pipeline.
    pub fn open_embedded(dir: &Path, max_batch: usize) -> Result<Store, StoreError> {
        Store::open_embedded_with(dir, max_batch, &FjallOptions::default())
    }

    /// [`Store::open_embedded`] with engine options.
    pub fn open_embedded_with(dir: &Path, max_batch: usize, options: &FjallOptions) -> Result<Store, StoreError> {
        let engine: Arc<dyn Engine> = Arc::new(FjallEngine::open_with(dir, options)?);
        Ok(Store::with_engine(engine, max_batch))
    }

    /// Opens the engine `config` names (the embedded one with `options`) and starts the
    /// commit pipeline.
    pub fn open(config: &StorageConfig, options: &FjallOptions) -> Result<Store, StoreError> {
        let engine: Arc<dyn Engine> = match config.engine {
            EngineKind::Embedded => Arc::new(FjallEngine::open_with(&config.data_dir, options)?),
            EngineKind::Postgres => Arc::new(PgEngine::open(&config.postgres_url, config.postgres_connections)?),
            #[cfg(feature = "fdb")]
            EngineKind::Fdb => Arc::new(kv::FdbEngine::open(&config.fdb_cluster_file)?),
            #[cfg(not(feature = "fdb"))]
            EngineKind::Fdb => {
                return Err(StoreError::Engine(
                    "storage.engine = \"fdb\": this binary was built without --features fdb".into(),
                ));
            }
        };
        Ok(Store::with_engine(engine, config.max_batch))
    }

    pub fn with_engine(engine: Arc<dyn Engine>, max_batch: usize) -> Store {
        let pipeline = Pipeline::start(engine.clone(), max_batch);
        let failure = Arc::new(tokio::sync::watch::Sender::new(None));
        let (hook_pipeline, hook_failure) = (pipeline.failer(), failure.clone());
        engine.on_fatal(Box::new(move |why| {
            // First answer everything pending, then tell the server.
            hook_pipeline.fail(why);
            hook_failure.send_replace(Some(why.to_owned()));
        }));
        let mut store = Store {
            engine,
            pipeline,
            failure,
            node_id: 0,
            notifications: Default::default(),
            slow: parking_lot::Mutex::new(None),
        };
        store.node_id = store.allocate_node_id().unwrap_or_else(|err| {
            tracing::error!(error = %err, "no node id from the store; using a random one");
            rand::random::<u32>() as u64
        });
        store
    }

    /// Becomes `Some(why)` when the engine fails for good (a journal write or fsync failed,
    /// fjall poisoned itself): every pending and later append has failed, and the server
    /// stops (the `xinshi` binary then exits with status 70 for a supervisor to restart it).
    pub fn failure(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.failure.subscribe()
    }

    /// Test hook, see [`Engine::inject_fault`]. Not reachable by clients.
    #[doc(hidden)]
    pub fn inject_fault(&self, stall: std::time::Duration) -> bool {
        self.engine.inject_fault(stall)
    }

    /// This process's id among those sharing the store: counted up in the store each time a
    /// store is opened (24 bits are used where it is packed into keys and session ids).
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    fn allocate_node_id(&self) -> Result<u64, StoreError> {
        let key = keys::node_ids();
        kv::run(self.engine(), |tx| {
            let last = tx.get(&key)?.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok()).map_or(0, u64::from_be_bytes);
            let next = last + 1;
            tx.set(&key, &next.to_be_bytes());
            Ok::<_, StoreError>(next & 0xff_ffff)
        })
    }

    /// Test hook: every transaction that changes the record of `cid` (membership, settings,
    /// roles, mutes) takes `delay` longer, as on an overloaded store; `None` ends it. Not
    /// reachable by clients.
    #[doc(hidden)]
    pub fn slow_down(&self, slow: Option<(&str, std::time::Duration)>) {
        *self.slow.lock() = slow.map(|(cid, delay)| (cid.to_owned(), delay));
    }

    /// Waits as [`Store::slow_down`] says for a transaction on `cid`.
    fn maybe_slow(&self, cid: &str) {
        let delay = self.slow.lock().as_ref().filter(|(slow, _)| slow == cid).map(|(_, delay)| *delay);
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
    }

    /// Test hook, see [`Engine::flush_memtable`].
    #[doc(hidden)]
    pub fn flush_memtable(&self) -> bool {
        self.engine.flush_memtable()
    }

    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// Commits what is queued, stops the pipeline and closes the engine (a clean stop).
    pub fn close(&self) {
        self.pipeline.stop();
        self.engine.close();
    }
}

#[cfg(all(test, not(feature = "fdb")))]
mod engine_choice_tests {
    use super::*;

    #[test]
    fn the_fdb_engine_needs_a_binary_built_with_it() {
        let config = StorageConfig { engine: EngineKind::Fdb, ..StorageConfig::default() };
        let Err(err) = Store::open(&config, &FjallOptions::default()) else { panic!("opened an fdb store") };
        assert!(err.to_string().contains("built without --features fdb"), "{err}");
    }
}
