//! The store: the domain layer (conversations, members, messages, cursors, the unique
//! index) written once over the [`kv::Engine`] trait, plus the commit pipeline.
//!
//! - [`kv`]: the engine trait with FoundationDB's semantics, and the embedded fjall engine.
//! - [`tuple`] and [`keys`]: tuple-encoded, range-friendly keys; [`records`]: MessagePack values.
//! - [`pipeline`]: the node-wide group commit that message appends go through.
//! - [`conv`], [`msg`], [`notif`], [`blacklist`] and [`kick`]: the domain operations.
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
pub mod tuple;

use std::path::Path;
use std::sync::Arc;

use self::kv::{Engine, FjallEngine, KvError};
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
}

impl From<KvError> for StoreError {
    fn from(err: KvError) -> Self {
        match err {
            KvError::Conflict => StoreError::Conflict,
            KvError::Engine(msg) => StoreError::Engine(msg),
        }
    }
}

/// The store of one node.
pub struct Store {
    engine: Arc<dyn Engine>,
    pub pipeline: Pipeline,
}

impl Store {
    /// Opens the embedded store in `dir` and starts its commit pipeline.
    pub fn open_embedded(dir: &Path, max_batch: usize) -> Result<Store, StoreError> {
        let engine: Arc<dyn Engine> = Arc::new(FjallEngine::open(dir)?);
        Ok(Store::with_engine(engine, max_batch))
    }

    pub fn with_engine(engine: Arc<dyn Engine>, max_batch: usize) -> Store {
        let pipeline = Pipeline::start(engine.clone(), max_batch);
        Store { engine, pipeline }
    }

    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// Commits what is queued and stops the pipeline.
    pub fn close(&self) {
        self.pipeline.stop();
    }
}
