//! The state of a conversation actor, kept apart from the actor.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::task::JoinHandle;

use super::ConvOp;
use super::direct::Pending;
use crate::error::ImError;
use crate::services::Services;
use crate::store::StoreError;
use crate::store::kv::Guard;
use crate::store::records::{Cursor, MsgRecord};

/// How many recent messages the actor remembers (for receipts and resend de-duplication
/// without reading the store).
const RECENT: usize = 256;

/// What the actor remembers of a recent committed message.
#[derive(Debug, Clone)]
pub struct Recent {
    pub seq: u64,
    pub ts: i64,
    pub mid: String,
    pub from: Arc<str>,
    pub dt: Option<String>,
    pub receipt: bool,
}

impl Recent {
    pub fn of(seq: u64, record: &MsgRecord) -> Self {
        Recent {
            seq,
            ts: record.ts,
            mid: record.mid.clone(),
            from: record.from.as_str().into(),
            dt: record.dt.clone(),
            receipt: record.receipt,
        }
    }
}

pub struct ConvState {
    pub node: Arc<Services>,
    /// The directory this actor is listed in (to retire from it).
    pub convs: Arc<super::Directory>,
    pub cid: Arc<str>,
    pub ticker: JoinHandle<()>,
    /// Operations handled (compared with the directory's count to retire safely).
    pub handled: u64,
    last_active_ms: i64,
    loaded: bool,
    /// The conversation exists in the store.
    pub exists: bool,
    /// A member (or a membership change) has used this actor; until then it retires as soon
    /// as it is quiet.
    pub active: bool,
    /// Members, sorted.
    pub members: Vec<Arc<str>>,
    /// The creator (`c`), who may not leave.
    pub creator: Option<Arc<str>>,
    /// Clients who may not send here, sorted.
    pub silenced: Vec<String>,
    /// Members with the `Manager` role, sorted.
    pub managers: Vec<String>,
    /// A temporary conversation, and when it expires (ms).
    pub temp: bool,
    pub expires_ms: i64,
    /// The owner epoch this actor claimed: every append carries it, so appends of an actor
    /// that lost the conversation to a newer one are fenced off ([`crate::store::owner`]).
    pub guard: Option<Arc<Guard>>,
    /// A change of the conversation's record was refused: a newer actor owns it. This one
    /// stops after the operation.
    pub fenced: bool,
    /// The actor this state belongs to (its entry in the directory).
    pub actor: ractor::ActorId,
    /// Next sequence number to assign.
    pub next_seq: u64,
    /// Highest committed sequence number.
    pub committed_seq: u64,
    /// Timestamp of the newest assigned message (timestamps never decrease).
    pub last_ts: i64,
    /// Appended, not yet durable.
    pub pending: BTreeMap<u64, Pending>,
    /// The last few committed messages, oldest first.
    pub recent: VecDeque<Recent>,
    /// Members' marks this actor has loaded or moved (authoritative: all writes go through
    /// this actor).
    cursors: HashMap<Arc<str>, Cursor>,
    /// Members whose delivered mark moved but is not saved yet (nothing waits on it).
    pub dirty_marks: HashSet<Arc<str>>,
    /// A `FlushMarks` is on its way.
    pub flush_scheduled: bool,
    /// Mark writes handed to the pipeline and not yet committed.
    pub unsaved_marks: Arc<AtomicUsize>,
}

impl ConvState {
    pub fn new(
        node: Arc<Services>,
        convs: Arc<super::Directory>,
        cid: Arc<str>,
        actor: ractor::ActorId,
        ticker: JoinHandle<()>,
    ) -> Self {
        let now = node.now_ms();
        let temp = cid.starts_with(crate::ids::TEMP_PREFIX);
        ConvState {
            node,
            convs,
            cid,
            ticker,
            handled: 0,
            last_active_ms: now,
            loaded: false,
            exists: false,
            active: false,
            members: Vec::new(),
            creator: None,
            silenced: Vec::new(),
            managers: Vec::new(),
            guard: None,
            fenced: false,
            actor,
            temp,
            expires_ms: 0,
            next_seq: 1,
            committed_seq: 0,
            last_ts: 0,
            pending: BTreeMap::new(),
            recent: VecDeque::new(),
            cursors: HashMap::new(),
            dirty_marks: HashSet::new(),
            flush_scheduled: false,
            unsaved_marks: Arc::default(),
        }
    }

    /// Loads the conversation and its newest messages from the store, once.
    pub fn ensure_loaded(&mut self) -> Result<(), StoreError> {
        if self.loaded {
            return Ok(());
        }
        let store = &self.node.store;
        if let Some(record) = store.conversation(&self.cid)? {
            self.exists = true;
            self.members = record.members.iter().map(|m| Arc::from(m.as_str())).collect();
            self.members.sort();
            self.creator = Some(record.creator.as_str().into());
            self.silenced = record.silenced;
            self.managers = record.managers;
            self.temp = record.temp;
            self.expires_ms = record.expires_ms;
            // Claim before loading the messages: whatever a previous owner stored is then
            // loaded, and whatever it still sends is fenced off.
            self.guard = Some(Arc::new(store.claim(&self.cid)?));
        }
        let newest = store.messages(&self.cid).scan(1, u64::MAX, true, RECENT)?;
        if let Some((seq, msg)) = newest.first() {
            self.next_seq = seq + 1;
            self.committed_seq = *seq;
            self.last_ts = msg.ts;
        }
        self.recent = newest.iter().rev().map(|(seq, msg)| Recent::of(*seq, msg)).collect();
        self.loaded = true;
        Ok(())
    }

    /// The owner guard a change of the conversation's record must still hold.
    pub fn owner(&self) -> Option<&Guard> {
        self.guard.as_deref()
    }

    /// Passes `result` on, noting a refusal because a newer actor owns the conversation
    /// ([`StoreError::Fenced`]): this actor leaves the directory at once — before the caller
    /// hears of it, so a retry starts a fresh actor — and stops after the operation.
    pub fn fenced_if<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if matches!(result, Err(StoreError::Fenced)) {
            self.fenced = true;
            self.convs.remove_if(&self.cid, self.actor);
        }
        result
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Whether memory tells if `from` sent client token `dt` before: a message pending or
    /// among the recent ones carries it (a resend), or the recent ones are the whole history
    /// (so a token none of them carries is new).
    pub fn knows_token(&self, from: &str, dt: &str) -> bool {
        let whole_history = self.recent.front().is_none_or(|r| r.seq == 1);
        whole_history
            || self.pending.values().any(|p| p.record.from == from && p.record.dt.as_deref() == Some(dt))
            || self.recent.iter().any(|r| &*r.from == from && r.dt.as_deref() == Some(dt))
    }

    /// Whether message `mid` is among the recent ones.
    pub fn recent_has(&self, mid: &str) -> bool {
        self.recent.iter().any(|r| r.mid == mid)
    }

    /// A temporary conversation past its lifetime (or one that no longer exists).
    pub fn is_expired(&self) -> bool {
        self.temp && (!self.exists || self.node.now_ms() >= self.expires_ms)
    }

    pub fn is_silenced(&self, client: &str) -> bool {
        self.silenced.binary_search_by(|s| s.as_str().cmp(client)).is_ok()
    }

    pub fn is_member(&self, client: &str) -> bool {
        self.members.binary_search_by(|m| (**m).cmp(client)).is_ok()
    }

    /// The other member of a one-to-one conversation.
    pub fn peer_of(&self, client: &str) -> Option<&Arc<str>> {
        if self.members.len() != 2 {
            return None;
        }
        self.members.iter().find(|m| &***m != client)
    }

    pub fn remember(&mut self, recent: Recent) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(recent);
    }

    /// `client`'s cursor if it is in the cache.
    pub fn cached_cursor(&self, client: &str) -> Option<&Cursor> {
        self.cursors.get(client)
    }

    /// `client`'s cursor, loaded from the store the first time.
    pub fn cursor(&mut self, client: &Arc<str>) -> Result<&mut Cursor, StoreError> {
        if !self.cursors.contains_key(client) {
            let cursor = self.node.store.cursor(&self.cid, client)?;
            self.cursors.insert(client.clone(), cursor);
        }
        Ok(self.cursors.get_mut(client).expect("just inserted"))
    }

    /// The seq of committed message `mid`, if it is one of this conversation's.
    pub fn seq_of_mid(&self, mid: &str) -> Result<Option<u64>, StoreError> {
        let Some(seq) = crate::ids::message_seq(mid).filter(|&s| s >= 1 && s <= self.committed_seq) else {
            return Ok(None);
        };
        if let Some(r) = self.recent.iter().find(|r| r.seq == seq) {
            return Ok((r.mid == mid).then_some(seq));
        }
        let stored = self.node.store.messages(&self.cid).get(seq)?;
        Ok(stored.filter(|m| m.mid == mid).map(|_| seq))
    }

    /// The newest committed seq whose timestamp is at most `ts` (0 if none).
    pub fn seq_at_time(&self, ts: i64) -> Result<u64, StoreError> {
        if self.committed_seq == 0 {
            return Ok(0);
        }
        // `recent` holds every committed message from its front on.
        if let Some(front) = self.recent.front().filter(|front| front.ts <= ts) {
            return Ok(self.recent.iter().rev().find(|r| r.ts <= ts).map_or(front.seq, |r| r.seq));
        }
        let after = self.node.store.messages(&self.cid).first_seq_after_time(ts, true, self.committed_seq)?;
        Ok(after - 1)
    }

    /// Notes activity (idle retirement counts from the last one).
    pub fn touch(&mut self) {
        self.last_active_ms = self.node.now_ms();
    }

    /// Nothing to do for `conversation_idle_secs`, and nothing on its way to the store.
    pub fn is_idle(&self) -> bool {
        let idle_ms = self.node.config.limits.conversation_idle_secs as i64 * 1000;
        self.is_quiet() && self.node.now_ms() - self.last_active_ms >= idle_ms
    }

    /// Nothing on its way to the store (a successor loads its state from there).
    pub fn is_quiet(&self) -> bool {
        self.pending.is_empty() && self.dirty_marks.is_empty() && self.unsaved_marks.load(Ordering::SeqCst) == 0
    }

    /// Whether `op` comes from inside the conversation: a member's message or receipt, or a
    /// membership, blacklist or mute operation on a conversation that exists.
    pub fn is_insider(&self, op: &ConvOp) -> bool {
        self.exists
            && match op {
                ConvOp::Direct(req) => self.is_member(&req.from),
                ConvOp::Ack { from, .. } | ConvOp::Read { from, .. } => self.is_member(from),
                ConvOp::Members(_) | ConvOp::Blacklist(_) | ConvOp::Conv(_) => true,
            }
    }

    /// Answers an operation that could not run because the store failed.
    pub fn fail(&mut self, op: ConvOp, err: StoreError) {
        self.loaded = false;
        match op {
            ConvOp::Direct(req) => req.reply.error(&ImError::from(err)),
            ConvOp::Members(req) => req.reply.error(&ImError::from(err)),
            ConvOp::Blacklist(req) => req.reply.error(&ImError::from(err)),
            ConvOp::Conv(req) => req.reply.error(&ImError::from(err)),
            ConvOp::Ack { .. } | ConvOp::Read { .. } => {}
        }
    }
}
