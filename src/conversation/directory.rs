//! The directory of running conversation actors: started on demand, stopped when idle.
//!
//! Every operation for a conversation goes through [`Directory::send`], which looks the actor
//! up (or starts one) and enqueues the operation while holding the shard lock, counting it.
//! An idle actor retires through [`Directory::try_retire`], also under the lock, and only if
//! it has handled every operation ever enqueued to it. So an operation is never left in
//! the mailbox of an actor that is stopping, and at most one actor per conversation runs at
//! a time: a new one starts only after the old one has left the directory with nothing
//! pending, and it rebuilds its state from the store.
//!
//! At most `limits.max_conversation_actors` run at once, roughly: each start beyond the
//! bound asks the least recently used actor among four non-empty shards (of 64) to retire,
//! which it does if it has nothing in flight. An actor whose operations all came from outsiders
//! (receipts for a conversation that does not exist, or from non-members) retires at once.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use ractor::{ActorId, ActorRef, ActorRuntime, MessagingErr};

use super::{ConvArgs, ConvMsg, ConvOp, ConversationActor};
use crate::services::Services;
use crate::services::supervisor::SupervisorMsg;

const SHARDS: usize = 64;

struct Entry {
    actor: ActorRef<ConvMsg>,
    /// Operations enqueued to this actor.
    sent: u64,
    /// When it was last sent something (a directory-wide counter).
    used: u64,
    /// Asked to retire to make room, and not used since.
    retiring: bool,
}

/// Running conversation actors by conversation id.
pub struct Directory {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<Arc<str>, Entry>>>,
    running: AtomicUsize,
    uses: AtomicU64,
    max: usize,
    fail_point: Mutex<Option<Arc<str>>>,
    fail_armed: std::sync::atomic::AtomicBool,
    /// The supervisor every conversation actor is linked to (started with the first one).
    supervisor: OnceLock<ActorRef<SupervisorMsg>>,
}

impl Directory {
    /// A directory that keeps about `max` actors running at most.
    pub fn new(max: usize) -> Self {
        Directory {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            running: AtomicUsize::new(0),
            uses: AtomicU64::new(0),
            max: max.max(1),
            fail_point: Mutex::default(),
            fail_armed: Default::default(),
            supervisor: OnceLock::new(),
        }
    }

    fn shard(&self, cid: &str) -> &Mutex<HashMap<Arc<str>, Entry>> {
        &self.shards[self.hasher.hash_one(cid) as usize % SHARDS]
    }

    /// Enqueues `op` to the actor of `cid`, starting the actor if none runs (or the one
    /// that ran has died).
    pub fn send(self: &Arc<Self>, node: &Arc<Services>, cid: &str, op: ConvOp) {
        let _ = self.enqueue(node, cid, op, true);
    }

    /// Enqueues `op` to the actor of `cid` if one is running; else hands `op` back.
    pub fn send_if_running(self: &Arc<Self>, node: &Arc<Services>, cid: &str, op: ConvOp) -> Result<(), ConvOp> {
        self.enqueue(node, cid, op, false)
    }

    fn enqueue(self: &Arc<Self>, node: &Arc<Services>, cid: &str, op: ConvOp, start: bool) -> Result<(), ConvOp> {
        let mut shard = self.shard(cid).lock();
        if !start && !shard.contains_key(cid) {
            return Err(op);
        }
        let mut msg = ConvMsg::Op(op);
        let used = self.uses.fetch_add(1, Ordering::Relaxed);
        for _ in 0..2 {
            let entry = match shard.get_mut(cid) {
                Some(entry) => entry,
                None => {
                    self.running.fetch_add(1, Ordering::Relaxed);
                    let cid: Arc<str> = cid.into();
                    let actor = spawn(node, self, cid.clone());
                    shard.entry(cid).or_insert(Entry { actor, sent: 0, used, retiring: false })
                }
            };
            entry.sent += 1;
            entry.used = used;
            entry.retiring = false;
            match entry.actor.cast(msg) {
                Ok(()) => {
                    drop(shard);
                    if self.running() > self.max {
                        self.make_room();
                    }
                    return Ok(());
                }
                Err(MessagingErr::SendErr(returned)) => {
                    // The actor died (a bug or a failed commit); start a fresh one.
                    tracing::warn!(cid, "conversation actor was dead; restarting it");
                    self.forget(&mut shard, cid);
                    msg = returned;
                }
                Err(_) => return Ok(()),
            }
        }
        tracing::error!(cid, "could not start a conversation actor");
        Ok(())
    }

    /// Hands receipts of `client` to their conversations' actors. A conversation whose
    /// actor is not running is first looked up in the store, on the blocking pool: a
    /// receipt for one that does not exist, or that `client` is not a member of, starts
    /// nothing.
    pub fn send_to_member(self: &Arc<Self>, node: &Arc<Services>, client: Arc<str>, ops: Vec<(String, ConvOp)>) {
        let cold: Vec<(String, ConvOp)> = ops
            .into_iter()
            .filter_map(|(cid, op)| self.send_if_running(node, &cid, op).err().map(|op| (cid, op)))
            .collect();
        if cold.is_empty() {
            return;
        }
        let (node, convs) = (node.clone(), self.clone());
        tokio::task::spawn_blocking(move || {
            for (cid, op) in cold {
                match node.store.conversation(&cid) {
                    Ok(Some(conv)) if conv.members.binary_search_by(|m| m.as_str().cmp(&client)).is_ok() => {
                        convs.send(&node, &cid, op)
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(cid, error = %err, "receipt not recorded"),
                }
            }
        });
    }

    /// Takes the actors of the conversations `gone` picks out of the directory (another
    /// node owns them now): each finishes what it holds and stops, and the next operation
    /// here, if any, starts a fresh actor. Returns how many.
    pub fn evict_where(&self, gone: impl Fn(&str) -> bool) -> usize {
        let mut evicted = 0;
        for shard in &self.shards {
            let mut shard = shard.lock();
            let cids: Vec<Arc<str>> = shard.keys().filter(|cid| gone(cid)).cloned().collect();
            for cid in cids {
                if let Some(entry) = shard.remove(&cid) {
                    self.running.fetch_sub(1, Ordering::Relaxed);
                    let _ = entry.actor.cast(ConvMsg::Evicted);
                    evicted += 1;
                }
            }
        }
        evicted
    }

    /// Removes the actor `id` of `cid` if it has handled all `handled` operations sent to
    /// it. Returns whether it was removed (and must now stop).
    pub fn try_retire(&self, cid: &str, id: ActorId, handled: u64) -> bool {
        let mut shard = self.shard(cid).lock();
        match shard.get(cid) {
            Some(entry) if entry.actor.get_id() == id && entry.sent == handled => {
                self.forget(&mut shard, cid);
                true
            }
            _ => false,
        }
    }

    /// Forgets the actor `id`, wherever it is (its supervisor saw it fail).
    pub fn forget_actor(&self, id: ActorId) {
        for shard in &self.shards {
            let mut shard = shard.lock();
            let found = shard.iter().find(|(_, e)| e.actor.get_id() == id).map(|(cid, _)| cid.clone());
            if let Some(cid) = found {
                self.forget(&mut shard, &cid);
                return;
            }
        }
    }

    /// Forgets a dead actor so the next operation starts a new one.
    pub fn remove_if(&self, cid: &str, id: ActorId) {
        let mut shard = self.shard(cid).lock();
        if shard.get(cid).is_some_and(|e| e.actor.get_id() == id) {
            self.forget(&mut shard, cid);
        }
    }

    /// Asks the least recently used actor among a few shards to retire (it does so only if
    /// it has nothing in flight). Shards are locked one at a time.
    fn make_room(&self) {
        const SAMPLE: usize = 4;
        let start = self.uses.load(Ordering::Relaxed) as usize;
        let mut oldest: Option<(u64, usize, Arc<str>)> = None;
        let mut looked = 0;
        for k in 0..SHARDS {
            let index = (start + k) % SHARDS;
            let shard = self.shards[index].lock();
            let lru = shard.iter().filter(|(_, e)| !e.retiring).min_by_key(|(_, e)| e.used);
            if let Some((cid, entry)) = lru {
                if oldest.as_ref().is_none_or(|(used, _, _)| entry.used < *used) {
                    oldest = Some((entry.used, index, cid.clone()));
                }
                looked += 1;
                if looked == SAMPLE {
                    break;
                }
            }
        }
        let Some((_, index, cid)) = oldest else { return };
        if let Some(entry) = self.shards[index].lock().get_mut(&cid) {
            entry.retiring = true;
            let _ = entry.actor.cast(ConvMsg::Retire);
        }
    }

    fn forget(&self, shard: &mut HashMap<Arc<str>, Entry>, cid: &str) {
        if shard.remove(cid).is_some() {
            self.running.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Test hook: the next operation of `cid`'s actor panics (`None`: none does). Not
    /// reachable by clients.
    #[doc(hidden)]
    pub fn set_fail_point(&self, cid: Option<&str>) {
        *self.fail_point.lock() = cid.map(Arc::from);
        self.fail_armed.store(cid.is_some(), Ordering::Release);
    }

    /// Panics if the fail point names `cid` (see [`Directory::set_fail_point`]).
    pub fn fail_point(&self, cid: &str) {
        if self.has_fail_point() && self.fail_point.lock().as_deref() == Some(cid) {
            panic!("fail point: conversation {cid}");
        }
    }

    /// Whether a fail point is set (one atomic load: asked for every operation).
    pub fn has_fail_point(&self) -> bool {
        self.fail_armed.load(Ordering::Acquire)
    }

    /// Number of running conversation actors.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Stops every actor (server shutdown).
    pub fn stop_all(&self) {
        for shard in &self.shards {
            for (_, entry) in shard.lock().drain() {
                self.running.fetch_sub(1, Ordering::Relaxed);
                entry.actor.stop(None);
            }
        }
    }
}

fn spawn(node: &Arc<Services>, directory: &Arc<Directory>, cid: Arc<str>) -> ActorRef<ConvMsg> {
    let _runtime = node.core().enter();
    let supervisor = directory.supervisor.get_or_init(|| super::supervisor::start(directory));
    let args = ConvArgs { node: node.clone(), convs: directory.clone(), cid };
    let (actor, _) = ActorRuntime::spawn_linked_instant(None, ConversationActor, args, supervisor.get_cell())
        .expect("unnamed actors always spawn");
    actor
}
