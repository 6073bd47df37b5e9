//! Presence: which sessions of each client are online on this node, and where their frames
//! go. Fan-out reads it for every message; logins and logouts write it.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use super::outbox::Outbox;
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
    /// Held while a login of a client with a device tag looks at that client's sessions and
    /// starts its own, so two logins with one tag cannot both miss each other.
    login_locks: Vec<tokio::sync::Mutex<()>>,
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            login_locks: (0..SHARDS).map(|_| tokio::sync::Mutex::default()).collect(),
        }
    }
}

impl Presence {
    fn shard(&self, client: &str) -> &RwLock<HashMap<Arc<str>, Vec<SessionEntry>>> {
        &self.shards[self.hasher.hash_one(client) as usize % SHARDS]
    }

    /// The lock serialising tagged logins of `client` (see `login_locks`).
    pub fn login_lock(&self, client: &str) -> &tokio::sync::Mutex<()> {
        &self.login_locks[self.hasher.hash_one(client) as usize % SHARDS]
    }

    pub fn register(&self, client: &Arc<str>, entry: SessionEntry) {
        self.shard(client).write().entry(client.clone()).or_default().push(entry);
    }

    pub fn unregister(&self, client: &str, session_id: u64) {
        let mut shard = self.shard(client).write();
        if let Some(entries) = shard.get_mut(client) {
            entries.retain(|e| e.id != session_id);
            if entries.is_empty() {
                shard.remove(client);
            }
        }
    }

    /// Removes the session whose actor is `actor`, wherever it is (its actor failed).
    pub fn remove_actor(&self, actor: ractor::ActorId) {
        for shard in &self.shards {
            let mut shard = shard.write();
            let client =
                shard.iter().find(|(_, e)| e.iter().any(|s| s.control.actor_id() == actor)).map(|(c, _)| c.clone());
            if let Some(client) = client {
                let entries = shard.get_mut(&client).expect("just found");
                entries.retain(|s| s.control.actor_id() != actor);
                if entries.is_empty() {
                    shard.remove(&client);
                }
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

    /// Queues `frame` on every online session of `clients` except `skip_session`.
    pub fn deliver<'a>(&self, clients: impl IntoIterator<Item = &'a str>, skip_session: Option<u64>, frame: &Bytes) {
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

    pub fn is_online(&self, client: &str) -> bool {
        self.shard(client).read().contains_key(client)
    }
}
