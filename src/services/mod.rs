//! The shared services below the actors: configuration, clock, store, delivery (presence
//! and socket queues), session tokens, rate limits, signature nonces, and the core runtime.
//! Sessions and conversations reach these, and nothing here reaches up to them: the
//! conversation directory and the supervisors sit above, in [`crate::node::Node`].

pub mod nonces;
pub mod rate;
pub mod supervisor;
pub mod token;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use self::nonces::Nonces;
use self::rate::RateLimits;
use self::token::{Login, Tokens};
use crate::clock::Clock;
use crate::config::Config;
use crate::delivery::outbox::Outbound;
use crate::delivery::presence::Presence;
use crate::error::ImError;
use crate::store::kv::FjallOptions;
use crate::store::{Store, StoreError};

/// The services of one server process.
pub struct Services {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub presence: Presence,
    /// Every socket's outbound queue, for the node-wide and time bounds on them.
    pub outbound: Arc<Outbound>,
    pub tokens: Tokens,
    /// Per-client rate limits.
    pub rate: RateLimits,
    /// Logins and conversation creations per socket and per IP address.
    pub socket_rate: RateLimits,
    pub ip_rate: RateLimits,
    /// Login-signature nonces already used.
    pub nonces: Nonces,
    /// Open WebSockets (see `limits.max_connections`).
    pub connections: AtomicUsize,
    /// Permits for `conv/query` evaluations running at once (`query.max_concurrent`).
    pub queries: Arc<tokio::sync::Semaphore>,
    /// The runtime conversation actors run on (not an HTTP worker's).
    core: tokio::runtime::Handle,
    next_session: AtomicU64,
    /// Flips to `true` when the server stops; every socket watches it.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Services {
    /// Opens the store and builds the services. `core` is the runtime for the actors.
    pub fn open(
        config: Config,
        clock: Arc<dyn Clock>,
        core: tokio::runtime::Handle,
        engine: &FjallOptions,
    ) -> Result<Services, StoreError> {
        let engine = FjallOptions { repair_journal: config.storage.repair_journal, ..engine.clone() };
        let store = Store::open(&config.storage, &engine)?;
        let first_session = store.node_id() << 40 | 1;
        let tokens = Tokens::new(store.token_secret()?, config.limits.max_session_tokens);
        tokens.restore_kicks(store.kicks_since(clock.now_ms() - token::kick_memory_ms(&config))?);
        Ok(Services {
            clock,
            store,
            presence: Presence::default(),
            outbound: Arc::new(Outbound::new(config.limits.outbound_total_bytes)),
            tokens,
            rate: RateLimits::per_client(&config.limits),
            socket_rate: RateLimits::per_socket(&config.limits),
            ip_rate: RateLimits::per_ip(&config.limits),
            nonces: Nonces::new(config.security.max_remembered_nonces),
            connections: AtomicUsize::new(0),
            queries: Arc::new(tokio::sync::Semaphore::new(match config.query.max_concurrent {
                0 => tokio::sync::Semaphore::MAX_PERMITS,
                n => n,
            })),
            core,
            // Session ids are unique among the processes sharing the store: node id above a counter.
            next_session: AtomicU64::new(first_session),
            stopping: tokio::sync::watch::Sender::new(false),
            config,
        })
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

    /// A new session token for `client`'s `login`, valid for `ttl_secs` (signed: any
    /// process sharing the store accepts it; nothing is written).
    pub fn issue_token(&self, client: &str, login: &Login, now_ms: i64, ttl_secs: u64) -> String {
        self.tokens.issue(client, login, now_ms, ttl_secs)
    }

    /// The login `token` continues, if it was issued to `client` (by any process sharing the
    /// store), has not expired, no kick came after it, and no logout ended it (here, or in
    /// another process: a point read of the store, so callers run it off the async threads).
    pub fn check_token(&self, token: &str, client: &str, now_ms: i64) -> Option<Login> {
        self.tokens.check(token, client, now_ms).and_then(|granted| self.unless_ended(granted)).map(|g| g.login)
    }

    /// The client `token` was issued to, if [`Services::check_token`] would accept it.
    pub fn token_client(&self, token: &str, now_ms: i64) -> Option<String> {
        self.tokens.verify(token, now_ms).and_then(|granted| self.unless_ended(granted)).map(|g| g.client)
    }

    /// `granted`, unless a logout in any process ended its token (a point read of the store).
    fn unless_ended(&self, granted: token::Granted) -> Option<token::Granted> {
        match self.store.token_ended(&granted.id) {
            Ok(false) => Some(granted),
            Ok(true) => None,
            Err(err) => {
                tracing::warn!(error = %err, "cannot tell whether a session token was ended");
                None
            }
        }
    }

    /// Ends the token `id`, valid until `expires_ms` (a logout), here and, for every
    /// process, in the store.
    pub fn end_token(&self, id: &str, expires_ms: i64) {
        self.tokens.revoke_id(id);
        self.store.end_token(id, expires_ms);
    }

    /// Runs blocking store work off the async threads.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Services) -> Result<T, ImError> + Send + 'static,
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
}
