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
pub mod pipeline;
pub mod records;
pub mod temp;
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
            EngineKind::Fdb => return Err(StoreError::Engine("the fdb engine is not built yet".into())),
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
        Store { engine, pipeline, failure }
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
