//! Presence: which sessions of each client are online on this node, and where their frames
//! go; in a cluster, also which sessions of each client other nodes hold
//! ([`super::remote`]). Fan-out reads it for every message; logins and logouts write it.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::RwLock;

use super::outbox::Outbox;
use super::remote::{Peers, RemoteSession};
use crate::error::Code;

const SHARDS: usize = 64;

/// The login a session continues: what single-device rules and tokens remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The device tag for single-device login (`None`: no tag, or `default`).
    pub tag: Option<Arc<str>>,
    /// The device: its `deviceId`, or an id made up for a login that sent none.
    pub device: Arc<str>,
}

/// What the delivery layer and the edge may ask of a session, whose actor lives above
/// (the session actor).
pub trait SessionControl: Send + Sync + std::fmt::Debug {
    /// Ends the session, pushing `session/closed {code, reason}` (a device taking the tag:
    /// 4111; a kick: 4115).
    fn close_session(&self, code: Code, reason: Option<String>);
    /// Ends it without a word (the same device logged in again).
    fn stop_session(&self);
    /// Its actor (for its supervisor).
    fn actor_id(&self) -> ractor::ActorId;
}

/// One logged-in session of a client.
#[derive(Debug, Clone)]
pub struct SessionEntry {
    /// Node-unique session id.
    pub id: u64,
    pub outbox: Outbox,
    pub control: Arc<dyn SessionControl>,
    /// Its device tag and device.
    pub login: Login,
    /// When it logged in (a kick seen later from another process ends only older sessions).
    pub opened_ms: i64,
}

/// Online sessions by client id, sharded to keep lock contention low.
pub struct Presence {
    hasher: RandomState,
    shards: Vec<RwLock<HashMap<Arc<str>, Vec<SessionEntry>>>>,
    /// Sessions on other nodes, sharded like `shards` (empty on a single node).
    remote: Vec<RwLock<HashMap<Arc<str>, Vec<RemoteSession>>>>,
    /// The way to other nodes, once the cluster has started.
    peers: OnceLock<Arc<dyn Peers>>,
    /// Held while a login of a client with a device tag looks at that client's sessions and
    /// starts its own, so two logins with one tag cannot both miss each other.
    login_locks: Vec<tokio::sync::Mutex<()>>,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            remote: (0..SHARDS).map(|_| RwLock::default()).collect(),
            peers: OnceLock::new(),
            login_locks: (0..SHARDS).map(|_| tokio::sync::Mutex::default()).collect(),
        }
    }
}

impl Presence {
    fn shard(&self, client: &str) -> &RwLock<HashMap<Arc<str>, Vec<SessionEntry>>> {
        &self.shards[self.hasher.hash_one(client) as usize % SHARDS]
    }

    fn remote_shard(&self, client: &str) -> &RwLock<HashMap<Arc<str>, Vec<RemoteSession>>> {
        &self.remote[self.hasher.hash_one(client) as usize % SHARDS]
    }

    /// Puts the way to other nodes in place (the cluster, as it starts). From then on,
    /// logins and logouts here are announced to them, and fan-out reaches their sessions.
    pub fn connect(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// The way to other nodes, in a cluster.
    pub fn peers(&self) -> Option<&Arc<dyn Peers>> {
        self.peers.get()
    }

    /// The lock serialising tagged logins of `client` (see `login_locks`).
    pub fn login_lock(&self, client: &str) -> &tokio::sync::Mutex<()> {
        &self.login_locks[self.hasher.hash_one(client) as usize % SHARDS]
    }

    pub fn register(&self, client: &Arc<str>, entry: SessionEntry) {
        let mut shard = self.shard(client).write();
        if let Some(peers) = self.peers.get() {
            peers.online(client, &entry);
        }
        shard.entry(client.clone()).or_default().push(entry);
    }

    pub fn unregister(&self, client: &str, session_id: u64) {
        let mut shard = self.shard(client).write();
        Self::remove_entry(&mut shard, client, |e| e.id == session_id, self.peers.get());
    }

    /// Removes the sessions of `client` that `gone` picks, and tells other nodes.
    fn remove_entry(
        shard: &mut HashMap<Arc<str>, Vec<SessionEntry>>,
        client: &str,
        gone: impl Fn(&SessionEntry) -> bool,
        peers: Option<&Arc<dyn Peers>>,
    ) {
        let Some((key, entries)) = shard.get_key_value(client) else { return };
        if let Some(peers) = peers {
            let key = key.clone();
            entries.iter().filter(|e| gone(e)).for_each(|e| peers.offline(&key, e.id));
        }
        let entries = shard.get_mut(client).expect("just found");
        entries.retain(|e| !gone(e));
        if entries.is_empty() {
            shard.remove(client);
        }
    }

    /// Removes the session whose actor is `actor`, wherever it is (its actor failed).
    pub fn remove_actor(&self, actor: ractor::ActorId) {
        for shard in &self.shards {
            let mut shard = shard.write();
            let client =
                shard.iter().find(|(_, e)| e.iter().any(|s| s.control.actor_id() == actor)).map(|(c, _)| c.clone());
            if let Some(client) = client {
                Self::remove_entry(&mut shard, &client, |s| s.control.actor_id() == actor, self.peers.get());
                return;
            }
        }
    }

    /// Calls `f` for each online session of `client`.
    pub fn for_each(&self, client: &str, mut f: impl FnMut(&SessionEntry)) {
        if let Some(entries) = self.shard(client).read().get(client) {
            entries.iter().for_each(&mut f);
        }
    }

    /// Queues `frame` on every online session of `clients` except `skip_session`, here
    /// and, in a cluster, on other nodes: one push per node, naming its recipients.
    pub fn deliver<'a>(&self, clients: impl IntoIterator<Item = &'a str>, skip_session: Option<u64>, frame: &Bytes) {
        let Some(peers) = self.peers.get() else {
            return self.deliver_here(clients, skip_session, frame);
        };
        let mut elsewhere: Vec<(u64, Vec<Arc<str>>)> = Vec::new();
        for client in clients {
            self.deliver_here([client], skip_session, frame);
            let shard = self.remote_shard(client).read();
            let Some((key, sessions)) = shard.get_key_value(client) else { continue };
            for session in sessions.iter().filter(|s| Some(s.id) != skip_session) {
                let at = match elsewhere.iter().position(|(node, _)| *node == session.node) {
                    Some(at) => at,
                    None => {
                        elsewhere.push((session.node, Vec::new()));
                        elsewhere.len() - 1
                    }
                };
                let recipients = &mut elsewhere[at].1;
                if recipients.last() != Some(key) {
                    recipients.push(key.clone());
                }
            }
        }
        for (node, recipients) in elsewhere {
            peers.push(node, recipients, skip_session, frame);
        }
    }

    /// Queues `frame` on the sessions of `clients` on this node only, except
    /// `skip_session` (a push another node sent here).
    pub fn deliver_here<'a>(
        &self,
        clients: impl IntoIterator<Item = &'a str>,
        skip_session: Option<u64>,
        frame: &Bytes,
    ) {
        for client in clients {
            self.for_each(client, |session| {
                if Some(session.id) != skip_session {
                    session.outbox.push_frame(frame.clone());
                }
            });
        }
    }

    /// The online sessions of `client` with device tag `tag`.
    pub fn tagged(&self, client: &str, tag: &str) -> Vec<SessionEntry> {
        let mut found = Vec::new();
        self.for_each(client, |s| {
            if s.login.tag.as_deref() == Some(tag) {
                found.push(s.clone());
            }
        });
        found
    }

    /// Every online session of `client`.
    pub fn sessions(&self, client: &str) -> Vec<SessionEntry> {
        let mut found = Vec::new();
        self.for_each(client, |s| found.push(s.clone()));
        found
    }

    /// Whether `client` has a session here or, in a cluster, on another node.
    pub fn is_online(&self, client: &str) -> bool {
        self.shard(client).read().contains_key(client) || self.remote_shard(client).read().contains_key(client)
    }

    /// How many sessions this node holds.
    pub fn count_here(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().values().map(Vec::len).sum::<usize>()).sum()
    }

    /// Calls `f` for every session on this node, a shard at a time with the shard locked
    /// (so an announcement of a login or logout cannot pass between two reads of it).
    pub fn each_here(&self, mut f: impl FnMut(&Arc<str>, &SessionEntry)) {
        for shard in &self.shards {
            let shard = shard.read();
            for (client, entries) in shard.iter() {
                entries.iter().for_each(|e| f(client, e));
            }
        }
    }

    /// Records a session of `client` on another node (once).
    pub fn add_remote(&self, client: Arc<str>, session: RemoteSession) {
        let mut shard = self.remote_shard(&client).write();
        let sessions = shard.entry(client).or_default();
        if !sessions.iter().any(|s| s.id == session.id) {
            sessions.push(session);
        }
    }

    /// Forgets the session `id` of `client` on another node.
    pub fn remove_remote(&self, client: &str, id: u64) {
        let mut shard = self.remote_shard(client).write();
        if let Some(sessions) = shard.get_mut(client) {
            sessions.retain(|s| s.id != id);
            if sessions.is_empty() {
                shard.remove(client);
            }
        }
    }

    /// Forgets every session on `node` (it left the cluster, or is about to tell them all
    /// again).
    pub fn forget_node(&self, node: u64) {
        for shard in &self.remote {
            shard.write().retain(|_, sessions| {
                sessions.retain(|s| s.node != node);
                !sessions.is_empty()
            });
        }
    }

    /// The sessions of `client` on other nodes.
    pub fn remote_sessions(&self, client: &str) -> Vec<RemoteSession> {
        self.remote_shard(client).read().get(client).cloned().unwrap_or_default()
    }
}
