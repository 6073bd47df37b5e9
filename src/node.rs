//! The node: one server process — its [`Services`] (below the actors), the conversation
//! [`Directory`] and the session supervisor (above them), and its background sweeps
//! (expired kept notifications, logouts and temporary conversations; kicks made by
//! other processes).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::conversation::{ConvOp, Directory};
use crate::error::Code;
use crate::services::Services;
use crate::store::StoreError;
use crate::store::kv::FjallOptions;
use crate::store::notif::SweepCursor;

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

/// One server: its shared services (reached through `Deref`), and above them the
/// conversation directory and the session supervisor.
pub struct Node {
    pub services: Arc<Services>,
    pub convs: Arc<Directory>,
    /// The supervisor every session actor is linked to (started by the server).
    pub sessions: std::sync::OnceLock<ractor::ActorCell>,
    /// This node's part in the cluster, with `[cluster] listen` (started by the server).
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Test hook: the next command of this client's session actors panics. Not reachable by
    /// clients.
    #[doc(hidden)]
    pub session_fail_point: parking_lot::Mutex<Option<String>>,
}

impl std::ops::Deref for Node {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
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
        let services = Arc::new(Services::open(config, clock, core, engine)?);
        let node = Arc::new(Node {
            convs: Arc::new(Directory::new(services.config.limits.max_conversation_actors)),
            services,
            sessions: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
            session_fail_point: parking_lot::Mutex::new(None),
        });
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
        self.core().spawn(async move {
            loop {
                tokio::time::sleep(KICK_POLL).await;
                let Some(node) = node.upgrade() else { return };
                // Look a little behind the newest kick seen: a kick of the same millisecond
                // may land after the last look. Seeing one twice is harmless.
                let after = seen.saturating_sub(KICK_POLL.as_millis() as i64);
                let found = node.blocking(move |node| Ok(node.store.kicks_after(after)?)).await;
                let Ok(kicks) = found else { continue };
                let forget_after_ms = crate::services::token::kick_memory_ms(&node.config);
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
        self.core().spawn(async move {
            let mut cursor = SweepCursor::default();
            loop {
                let Some(node) = node.upgrade() else { return };
                let before = node.now_ms().saturating_sub(ttl.as_millis() as i64);
                // Store work runs on the blocking pool, not on the actors' threads.
                let now = node.now_ms();
                let swept = tokio::task::spawn_blocking(move || {
                    let swept = node.store.expire_notifications(before, &mut cursor, CHUNK);
                    if let Err(err) = node.store.expire_token_ends(now, CHUNK) {
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
        self.core().spawn(async move {
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

    /// [`Services::blocking`].
    pub async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Services) -> Result<T, crate::error::ImError> + Send + 'static,
    ) -> Result<T, crate::error::ImError> {
        self.services.blocking(work).await
    }

    /// Hands `op` to the actor of conversation `cid`, starting it if needed — here, or in
    /// a cluster on the node that owns the conversation.
    pub fn to_conversation(&self, cid: &str, op: ConvOp) {
        if let Some(routes) = self.cluster.get().map(|c| &c.routes)
            && let Some(owner) = routes.owner(cid)
        {
            return routes.forward(&owner, cid, op, false);
        }
        self.convs.send(&self.services, cid, op);
    }

    /// Hands receipts of `client` to their conversations: to a running actor, or after a
    /// look in the store to one of a conversation `client` is a member of (a receipt for a
    /// made-up id starts nothing). In a cluster, the owner of each conversation does this.
    pub fn receipts(&self, client: &Arc<str>, ops: Vec<(String, ConvOp)>) {
        let routes = self.cluster.get().map(|c| &c.routes);
        let mut here = Vec::with_capacity(ops.len());
        for (cid, op) in ops {
            match routes.and_then(|r| Some((r, r.owner(&cid)?))) {
                Some((routes, owner)) => routes.forward(&owner, &cid, op, true),
                None => here.push((cid, op)),
            }
        }
        if !here.is_empty() {
            self.convs.send_to_member(&self.services, client.clone(), here);
        }
    }

    /// Stops conversation actors and commits what is queued.
    pub fn shutdown(&self) {
        if let Some(cluster) = self.cluster.get() {
            cluster.stop();
        }
        self.convs.stop_all();
        self.store.close();
    }
}
