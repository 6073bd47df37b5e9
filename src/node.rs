//! The node: the services every actor and handler shares (one per server process), and
//! its background sweeps (expired kept notifications, expired temporary conversations).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::{ConvOp, Directory};
use crate::delivery::outbox::Outbound;
use crate::delivery::presence::Presence;
use crate::error::{Code, ImError};
use crate::session::rate::RateLimits;
use crate::session::supervisor::{SessionSupervisor, SessionSupervisorMsg};
use crate::session::token::{Login, Tokens};
use crate::signature::Nonces;
use crate::store::kv::FjallOptions;
use crate::store::notif::SweepCursor;
use crate::store::token::TokenRecord;
use crate::store::{Store, StoreError};

/// How long after its expiry a temporary conversation is deleted. Until then, what its
/// actor handed the commit pipeline just before the expiry (a message accepted in the last
/// moment, a delivered mark saved up to `MARK_FLUSH_DELAY` = 0.5 s later) has landed, and
/// cannot write rows again after the sweep deleted them. From the expiry on, the actor
/// refuses everything, so nothing new is written.
pub const TEMP_SWEEP_GRACE_MS: i64 = 10_000;
/// Most temporary conversations one sweep pass deletes.
const TEMP_SWEEP_BATCH: usize = 100;
/// Rows (messages, client tokens, cursors) cleared per write while deleting one.
const TEMP_SWEEP_CHUNK: usize = 256;
/// Longest pause between two sweep passes: short, because a pass that finds nothing is one
/// range read of one key, and because time may jump (a test's manual clock, a corrected
/// system clock) past an expiry the last pass waited for.
const TEMP_SWEEP_PAUSE: Duration = Duration::from_secs(1);

/// How often a node looks for kicks recorded by other processes sharing its store.
pub const KICK_POLL: Duration = Duration::from_secs(1);

/// Shared services of one server.
pub struct Node {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub presence: Presence,
    pub tokens: Tokens,
    /// Per-client rate limits.
    pub rate: RateLimits,
    /// Logins and conversation creations per socket and per IP address.
    pub socket_rate: RateLimits,
    pub ip_rate: RateLimits,
    /// Login-signature nonces already used.
    pub nonces: Nonces,
    pub convs: Directory,
    /// The supervisor every session actor is linked to.
    pub sessions: std::sync::OnceLock<ractor::ActorRef<SessionSupervisorMsg>>,
    /// Test hook: the next command of this client's session actors panics. Not reachable by
    /// clients.
    #[doc(hidden)]
    pub session_fail_point: parking_lot::Mutex<Option<String>>,
    /// Open WebSockets (see `limits.max_connections`).
    pub connections: AtomicUsize,
    /// The runtime conversation actors run on (not an HTTP worker's).
    core: tokio::runtime::Handle,
    next_session: AtomicU64,
    /// Flips to `true` when the server stops; every socket watches it.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Permits for `conv/query` evaluations running at once (`query.max_concurrent`).
    pub queries: Arc<tokio::sync::Semaphore>,
    /// Every socket's outbound queue, for the node-wide and time bounds on them.
    pub outbound: Arc<Outbound>,
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
        let store = Store::open(&config.storage, &engine)?;
        let first_session = store.node_id() << 40 | 1;
        let tokens = Tokens::new(config.limits.max_session_tokens);
        let signature_ttl_ms = config.security.signature_ttl_secs as i64 * 1000;
        tokens.restore_kicks(store.kicks_since(clock.now_ms() - signature_ttl_ms)?);
        let node = Arc::new(Node {
            clock,
            store,
            presence: Presence::default(),
            tokens,
            rate: RateLimits::per_client(&config.limits),
            socket_rate: RateLimits::per_socket(&config.limits),
            ip_rate: RateLimits::per_ip(&config.limits),
            nonces: Nonces::new(config.security.max_remembered_nonces),
            connections: AtomicUsize::new(0),
            convs: Directory::new(config.limits.max_conversation_actors),
            sessions: std::sync::OnceLock::new(),
            session_fail_point: parking_lot::Mutex::new(None),
            core,
            // Session ids are unique among the processes sharing the store: node id above a counter.
            next_session: AtomicU64::new(first_session),
            stopping: tokio::sync::watch::Sender::new(false),
            queries: Arc::new(tokio::sync::Semaphore::new(match config.query.max_concurrent {
                0 => tokio::sync::Semaphore::MAX_PERMITS,
                n => n,
            })),
            outbound: Arc::new(Outbound::new(config.limits.outbound_total_bytes)),
            config,
        });
        {
            let _runtime = node.core.enter();
            let (supervisor, _) =
                ractor::ActorRuntime::spawn_instant(None, SessionSupervisor, Arc::downgrade(&node))
                    .map_err(|e| StoreError::Engine(format!("cannot start the session supervisor: {e}")))?;
            let _ = node.sessions.set(supervisor);
        }
        node.sweep_notifications();
        node.sweep_temp_conversations();
        node.watch_kicks();
        Ok(node)
    }

    /// Sees kicks recorded by other processes sharing the store, within [`KICK_POLL`]:
    /// revokes the client's tokens and older signatures here too, and ends its sessions on
    /// this node that began before the kick (4115). Kicks made here are seen again, which
    /// changes nothing. Ends with the node.
    fn watch_kicks(self: &Arc<Self>) {
        let node = Arc::downgrade(self);
        let mut seen = self.now_ms();
        self.core.spawn(async move {
            loop {
                tokio::time::sleep(KICK_POLL).await;
                let Some(node) = node.upgrade() else { return };
                // Look a little behind the newest kick seen: a kick of the same millisecond
                // may land after the last look. Seeing one twice is harmless.
                let after = seen.saturating_sub(KICK_POLL.as_millis() as i64);
                let found = node.blocking(move |node| Ok(node.store.kicks_after(after)?)).await;
                let Ok(kicks) = found else { continue };
                let forget_after_ms = node.config.security.signature_ttl_secs as i64 * 1000;
                for (client, at) in kicks {
                    seen = seen.max(at);
                    if node.tokens.revoked_at(&client).is_some_and(|known| known >= at) {
                        continue;
                    }
                    node.tokens.revoke(&client, at, forget_after_ms);
                    for session in node.presence.sessions(&client).into_iter().filter(|s| s.opened_ms <= at) {
                        session.control.close_session(Code::KickedByApp, None);
                    }
                }
            }
        });
    }

    /// Deletes expired kept notifications in the background, a chunk at a time, one pass
    /// every tenth of their lifetime (between a second and an hour). Ends with the node.
    fn sweep_notifications(self: &Arc<Self>) {
        const CHUNK: usize = 2_000;
        let ttl = Duration::from_secs(self.config.limits.notification_ttl_secs);
        let pause = (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
        let node = Arc::downgrade(self);
        self.core.spawn(async move {
            let mut cursor = SweepCursor::default();
            loop {
                let Some(node) = node.upgrade() else { return };
                let before = node.now_ms().saturating_sub(ttl.as_millis() as i64);
                // Store work runs on the blocking pool, not on the actors' threads.
                let now = node.now_ms();
                let swept = tokio::task::spawn_blocking(move || {
                    let swept = node.store.expire_notifications(before, &mut cursor, CHUNK);
                    if let Err(err) = node.store.expire_tokens(now, CHUNK) {
                        tracing::warn!(error = %err, "sweeping expired session tokens failed");
                    }
                    (swept, cursor)
                })
                .await;
                let Ok((swept, next)) = swept else { return };
                cursor = next;
                let wait = match swept {
                    Ok((_, false)) => Duration::from_millis(100),
                    Ok((_, true)) => pause,
                    Err(err) => {
                        tracing::warn!(error = %err, "sweeping expired notifications failed");
                        pause
                    }
                };
                tokio::time::sleep(wait).await;
            }
        });
    }

    /// Deletes expired temporary conversations in the background ([`crate::store::temp`]):
    /// those whose expiry passed more than [`TEMP_SWEEP_GRACE_MS`] ago, up to
    /// [`TEMP_SWEEP_BATCH`] per pass. After a pass that found some it looks again at once;
    /// otherwise it waits until the next one is due, but at most [`TEMP_SWEEP_PAUSE`] (time
    /// is the node's clock, which tests move by hand). Ends with the node.
    fn sweep_temp_conversations(self: &Arc<Self>) {
        let node = Arc::downgrade(self);
        self.core.spawn(async move {
            loop {
                let Some(node) = node.upgrade() else { return };
                let swept = tokio::task::spawn_blocking(move || {
                    let before = node.now_ms().saturating_sub(TEMP_SWEEP_GRACE_MS);
                    let store = &node.store;
                    let expired = store.expired_temp_conversations(before, TEMP_SWEEP_BATCH)?;
                    for (expires_ms, cid) in &expired {
                        store.delete_temp_conversation(*expires_ms, cid, TEMP_SWEEP_CHUNK)?;
                    }
                    let next = if expired.is_empty() { store.next_temp_expiry()? } else { None };
                    Ok::<_, StoreError>((expired.len(), next.map(|at| at + TEMP_SWEEP_GRACE_MS - node.now_ms())))
                })
                .await;
                let wait = match swept {
                    Err(_) => return, // the runtime is shutting down
                    Ok(Ok((found, _))) if found > 0 => Duration::from_millis(100),
                    Ok(Ok((_, Some(due_in_ms)))) => Duration::from_millis(due_in_ms.max(0) as u64)
                        .clamp(Duration::from_millis(100), TEMP_SWEEP_PAUSE),
                    Ok(Ok((_, None))) => TEMP_SWEEP_PAUSE,
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "sweeping expired temporary conversations failed");
                        TEMP_SWEEP_PAUSE
                    }
                };
                tokio::time::sleep(wait).await;
            }
        });
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
