//! The directory of running conversation actors: started on demand, stopped when idle.
//!
//! Every operation for a conversation goes through [`Directory::send`], which looks the actor
//! up (or starts one) and enqueues the operation while holding the shard lock, counting it.
//! An idle actor retires through [`Directory::try_retire`], also under the lock, and only if
//! it has handled every operation ever enqueued to it. So an operation is never left in
//! the mailbox of an actor that is stopping, and at most one actor per conversation runs at
//! a time: a new one starts only after the old one has left the directory with nothing
//! pending, and it rebuilds its state from the store.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use parking_lot::Mutex;
use ractor::{ActorId, ActorRef, ActorRuntime, MessagingErr};

use super::{ConvArgs, ConvMsg, ConvOp, ConversationActor};
use crate::node::Node;

const SHARDS: usize = 64;

struct Entry {
    actor: ActorRef<ConvMsg>,
    /// Operations enqueued to this actor.
    sent: u64,
}

/// Running conversation actors by conversation id.
pub struct Directory {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<Arc<str>, Entry>>>,
}

impl Default for Directory {
    fn default() -> Self {
        Directory { hasher: RandomState::new(), shards: (0..SHARDS).map(|_| Mutex::default()).collect() }
    }
}

impl Directory {
    fn shard(&self, cid: &str) -> &Mutex<HashMap<Arc<str>, Entry>> {
        &self.shards[self.hasher.hash_one(cid) as usize % SHARDS]
    }

    /// Enqueues `op` to the actor of `cid`, starting the actor if none runs (or the one
    /// that ran has died).
    pub fn send(&self, node: &Arc<Node>, cid: &str, op: ConvOp) {
        let mut shard = self.shard(cid).lock();
        let mut msg = ConvMsg::Op(op);
        for _ in 0..2 {
            let entry = match shard.get_mut(cid) {
                Some(entry) => entry,
                None => {
                    let cid: Arc<str> = cid.into();
                    let actor = spawn(node, cid.clone());
                    shard.entry(cid).or_insert(Entry { actor, sent: 0 })
                }
            };
            entry.sent += 1;
            match entry.actor.cast(msg) {
                Ok(()) => return,
                Err(MessagingErr::SendErr(returned)) => {
                    // The actor died (a bug or a failed commit); start a fresh one.
                    tracing::warn!(cid, "conversation actor was dead; restarting it");
                    shard.remove(cid);
                    msg = returned;
                }
                Err(_) => return,
            }
        }
        tracing::error!(cid, "could not start a conversation actor");
    }

    /// Removes the actor `id` of `cid` if it has handled all `handled` operations sent to
    /// it. Returns whether it was removed (and must now stop).
    pub fn try_retire(&self, cid: &str, id: ActorId, handled: u64) -> bool {
        let mut shard = self.shard(cid).lock();
        match shard.get(cid) {
            Some(entry) if entry.actor.get_id() == id && entry.sent == handled => {
                shard.remove(cid);
                true
            }
            _ => false,
        }
    }

    /// Forgets a dead actor so the next operation starts a new one.
    pub fn remove_if(&self, cid: &str, id: ActorId) {
        let mut shard = self.shard(cid).lock();
        if shard.get(cid).is_some_and(|e| e.actor.get_id() == id) {
            shard.remove(cid);
        }
    }

    /// Number of running conversation actors.
    pub fn running(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Stops every actor (server shutdown).
    pub fn stop_all(&self) {
        for shard in &self.shards {
            for (_, entry) in shard.lock().drain() {
                entry.actor.stop(None);
            }
        }
    }
}

fn spawn(node: &Arc<Node>, cid: Arc<str>) -> ActorRef<ConvMsg> {
    let _runtime = node.core().enter();
    let args = ConvArgs { node: node.clone(), cid };
    let (actor, _) = ActorRuntime::spawn_instant(None, ConversationActor, args).expect("unnamed actors always spawn");
    actor
}
