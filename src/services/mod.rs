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
use crate::store::token::TokenRecord;
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
        let tokens = Tokens::new(config.limits.max_session_tokens);
        let signature_ttl_ms = config.security.signature_ttl_secs as i64 * 1000;
        tokens.restore_kicks(store.kicks_since(clock.now_ms() - signature_ttl_ms)?);
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

    /// A new session token for `client`'s `login`, valid for `ttl_secs`; kept here and in
    /// the store (any process sharing the store accepts it).
    pub fn issue_token(&self, client: &str, login: &Login, now_ms: i64, ttl_secs: u64) -> String {
        let token = self.tokens.issue(client, login, now_ms, ttl_secs);
        let record = TokenRecord {
            client: client.to_owned(),
            issued_ms: now_ms,
            expires_ms: now_ms + ttl_secs as i64 * 1000,
            tag: login.tag.as_deref().map(str::to_owned),
            device: login.device.to_string(),
        };
        self.store.keep_token(&token, &record);
        token
    }

    /// The login `token` continues, if it was issued to `client` (by any process sharing the
    /// store), has not expired, was not ended by a logout here, and no kick came after it.
    /// Looks in the store only when this process does not know the token.
    pub fn check_token(&self, token: &str, client: &str, now_ms: i64) -> Option<Login> {
        if let Some(login) = self.tokens.check(token, client, now_ms) {
            return Some(login);
        }
        if token.is_empty() || token.len() > 64 || self.tokens.was_revoked(token) {
            return None;
        }
        let record = self.store.token(token).ok()??;
        let kicked = self.tokens.revoked_at(client).is_some_and(|at| at >= record.issued_ms);
        if record.client != client || record.expires_ms <= now_ms || kicked {
            return None;
        }
        Some(Login { tag: record.tag.map(Into::into), device: record.device.into() })
    }

    /// Ends `token` (a logout) here and in the store.
    pub fn revoke_token(&self, token: &str) {
        self.tokens.revoke_token(token);
        self.store.forget_token(token);
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
