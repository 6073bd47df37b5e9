//! Conversations: one [`ConversationActor`] per active conversation, plus the handlers of the
//! `conv/*` and `logs` commands that need no actor (they read the store).
//!
//! The actor owns what must be serial for one conversation: sequence numbers, the message
//! append, delivery to members, members' read and delivered marks. It is started on demand
//! by the [`Directory`], keeps its state apart from itself ([`ConvState`]), loads that state
//! from the store on its first operation, and stops after `conversation_idle_secs` with
//! nothing to do.
//!
//! Files: [`direct`] (send → sequence → durable commit → ack → fan-out), [`receipt`]
//! (receive-acks and `read`), [`members`] (`conv/add`, `conv/remove`), [`blacklist`] (the
//! conversation's blacklist), [`shutup`] (muting members), [`update`] (`conv/update`,
//! `conv/mute`, `conv/unmute`), [`info`] (`conv/count`, `conv/max_read`), [`roles`] (member
//! roles, `conv/member_info_update`), [`event`] (kept and pushed conversation events),
//! [`start`] (`conv/start`), [`temp`] (temporary conversations: start, expiry,
//! `tempConvIds`), [`query`] (`conv/query`), [`is_member`], [`logs`] (history), [`doc`] (the
//! JSON shape of a conversation).

mod actor;
pub mod blacklist;
pub mod direct;
pub mod directory;
pub mod doc;
pub mod event;
pub mod info;
pub mod is_member;
pub mod logs;
pub mod members;
pub mod query;
pub mod receipt;
pub mod roles;
pub mod shutup;
pub mod start;
mod state;
pub mod supervisor;
pub mod temp;
pub mod update;

use std::sync::Arc;

use ractor_cluster_derive::RactorMessage;

pub use self::actor::{ConvArgs, ConversationActor};
pub use self::blacklist::BlacklistReq;
pub use self::direct::DirectReq;
pub use self::directory::Directory;
pub use self::members::MembersReq;
use self::state::ConvState;
use crate::delivery::Reply;
use crate::protocol::{ConvCommand, OpType};
use crate::store::StoreError;

/// Operations for a conversation, sent through the [`Directory`].
#[derive(Debug)]
pub enum ConvOp {
    /// A client sends a message.
    Direct(Box<DirectReq>),
    /// A client acknowledges receiving messages: up to message `mid`, or up to time `tots`.
    Ack { from: Arc<str>, mid: Option<String>, tots: Option<i64> },
    /// A client has read up to message `mid` / time `ts` (or everything, if neither).
    Read { from: Arc<str>, session: u64, mid: Option<String>, ts: Option<i64> },
    /// `conv/add` or `conv/remove`.
    Members(Box<MembersReq>),
    /// A `blacklist` command about this conversation's list.
    Blacklist(Box<BlacklistReq>),
    /// Another `conv` command about this conversation (muting members, …).
    Conv(Box<ConvReq>),
}

impl ConvOp {
    /// The client whose receipt this is (`Ack`, `Read`); `None` for other operations.
    pub fn receipt_of(&self) -> Option<&Arc<str>> {
        match self {
            ConvOp::Ack { from, .. } | ConvOp::Read { from, .. } => Some(from),
            _ => None,
        }
    }
}

/// A `conv` command for the conversation's actor, as the session actor hands it over.
#[derive(Debug)]
pub struct ConvReq {
    pub from: Arc<str>,
    pub reply: Reply,
    pub op: OpType,
    pub conv: ConvCommand,
}

/// Messages of the conversation actor.
#[derive(Debug, RactorMessage)]
pub enum ConvMsg {
    /// An operation from the [`Directory`] (counted for idle retirement).
    Op(ConvOp),
    /// The commit pipeline made the append of `seq` durable (or failed to).
    Committed { seq: u64, result: Result<(), StoreError> },
    /// Time to check whether the actor is idle.
    Tick,
    /// Time to save the delivered marks that no push waits on.
    FlushMarks,
    /// The directory is full: stop if nothing is in flight.
    Retire,
    /// Taken out of the directory (another node owns the conversation now): stop once
    /// nothing is in flight.
    Evicted,
    /// The state is back from running an operation off the actor's thread; `retire`: the
    /// operation found the actor can stop.
    Back { state: actor::Away, retire: bool },
    /// The operation running off the actor's thread panicked; the state is gone.
    Lost(String),
}

impl ConvState {
    /// Runs a [`ConvReq`] by its op. Nothing runs on an expired temporary conversation
    /// (4323, [`temp`]).
    fn command(&mut self, req: ConvReq) {
        if self.temp && self.temp_expired() {
            return req.reply.error(&temp::expired());
        }
        match req.op {
            OpType::AddShutup | OpType::RemoveShutup | OpType::QueryShutup | OpType::CheckShutup => self.shutup(req),
            OpType::Update => self.update(req),
            OpType::Mute | OpType::Unmute => self.mute(req),
            OpType::Count => self.count(req),
            OpType::MaxRead => self.max_read(req),
            OpType::MemberInfoUpdate => self.member_info_update(req),
            op => {
                let name = op.as_str_name();
                req.reply.error(&crate::im_err!(UnparseableRawMessage, "unsupported command conv/{name}"))
            }
        }
    }
}

/// Entries per page of a list query (blacklist, mute list): `limit`, 10 when the client
/// names none, at most 100.
pub fn page_size(limit: Option<i32>) -> usize {
    limit.filter(|l| *l > 0).map_or(10, |l| (l as usize).min(100))
}
