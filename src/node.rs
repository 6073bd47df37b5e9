//! The node: the services every actor and handler shares (one per server process).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::{ConvOp, Directory};
use crate::error::ImError;
use crate::session::presence::Presence;
use crate::session::rate::RateLimits;
use crate::session::token::Tokens;
use crate::store::kv::FjallOptions;
use crate::store::{Store, StoreError};

/// Shared services of one server.
pub struct Node {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub presence: Presence,
    pub tokens: Tokens,
    pub rate: RateLimits,
    pub convs: Directory,
    /// Open WebSockets (see `limits.max_connections`).
    pub connections: AtomicUsize,
    /// The runtime conversation actors run on (not an HTTP worker's).
    core: tokio::runtime::Handle,
    next_session: AtomicU64,
    /// Flips to `true` when the server stops; every socket watches it.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Node {
    /// Opens the store and builds the node. `core` is the runtime for conversation actors.
    pub fn open(config: Config, clock: Arc<dyn Clock>, core: tokio::runtime::Handle) -> Result<Arc<Node>, StoreError> {
        Node::open_with(config, clock, core, &FjallOptions::default())
    }

    /// [`Node::open`] with options for the embedded engine.
    pub fn open_with(
        config: Config,
        clock: Arc<dyn Clock>,
        core: tokio::runtime::Handle,
        engine: &FjallOptions,
    ) -> Result<Arc<Node>, StoreError> {
        let engine = FjallOptions { repair_journal: config.storage.repair_journal, ..engine.clone() };
        let store = Store::open_embedded_with(&config.storage.data_dir, config.storage.max_batch, &engine)?;
        let tokens = Tokens::default();
        let signature_ttl_ms = config.security.signature_ttl_secs as i64 * 1000;
        tokens.restore_kicks(store.kicks_since(clock.now_ms() - signature_ttl_ms)?);
        Ok(Arc::new(Node {
            clock,
            store,
            presence: Presence::default(),
            tokens,
            rate: RateLimits::new(&config.limits),
            connections: AtomicUsize::new(0),
            convs: Directory::default(),
            core,
            next_session: AtomicU64::new(1),
            stopping: tokio::sync::watch::Sender::new(false),
            config,
        }))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A node-unique session id.
    pub fn next_session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    pub fn core(&self) -> &tokio::runtime::Handle {
        &self.core
    }

    /// Hands `op` to the actor of conversation `cid`, starting it if needed.
    pub fn to_conversation(self: &Arc<Self>, cid: &str, op: ConvOp) {
        self.convs.send(self, cid, op);
    }

    /// Runs blocking store work off the async threads.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Node) -> Result<T, ImError> + Send + 'static,
    ) -> Result<T, ImError> {
        let node = self.clone();
        match tokio::task::spawn_blocking(move || work(&node)).await {
            Ok(result) => result,
            Err(err) => {
                tracing::error!(error = %err, "blocking task failed");
                Err(crate::im_err!(InternalError))
            }
        }
    }

    /// Resolves once the server starts stopping.
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Tells every socket to close (the first step of stopping).
    pub fn close_sockets(&self) {
        self.stopping.send_replace(true);
    }

    /// Stops conversation actors and commits what is queued.
    pub fn shutdown(&self) {
        self.convs.stop_all();
        self.store.close();
    }
}
