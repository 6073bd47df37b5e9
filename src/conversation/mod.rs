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
pub mod temp;
pub mod update;

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster_derive::RactorMessage;

pub use self::blacklist::BlacklistReq;
pub use self::direct::DirectReq;
pub use self::directory::Directory;
pub use self::members::MembersReq;
use self::state::ConvState;
use crate::node::Node;
use crate::protocol::{ConvCommand, OpType};
use crate::session::Reply;
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

/// How long a delivered mark that nothing waits on may stay unsaved, unless a message
/// append takes it along first.
const MARK_FLUSH_DELAY: Duration = Duration::from_millis(500);

/// Start arguments.
pub struct ConvArgs {
    pub node: Arc<Node>,
    pub cid: Arc<str>,
}

/// The actor of one conversation.
pub struct ConversationActor;

impl Actor for ConversationActor {
    type Msg = ConvMsg;
    type State = ConvState;
    type Arguments = ConvArgs;

    async fn pre_start(&self, myself: ActorRef<ConvMsg>, args: ConvArgs) -> Result<ConvState, ActorProcessingErr> {
        let idle = Duration::from_secs(args.node.config.limits.conversation_idle_secs.max(1));
        let ticker = myself.send_interval(idle / 2, || ConvMsg::Tick);
        Ok(ConvState::new(args.node, args.cid, ticker))
    }

    async fn handle(
        &self,
        myself: ActorRef<ConvMsg>,
        msg: ConvMsg,
        state: &mut ConvState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConvMsg::Op(op) => {
                state.handled += 1;
                if let Err(err) = state.ensure_loaded() {
                    state.fail(op, err);
                    return Ok(());
                }
                if state.is_insider(&op) {
                    state.touch();
                    state.active = true;
                }
                match op {
                    ConvOp::Direct(req) => state.direct(&myself, req),
                    ConvOp::Ack { from, mid, tots } => {
                        state.ack(&from, mid.as_deref(), tots);
                        if state.has_dirty_marks() && !state.flush_scheduled {
                            state.flush_scheduled = true;
                            myself.send_after(MARK_FLUSH_DELAY, || ConvMsg::FlushMarks);
                        }
                    }
                    ConvOp::Read { from, session, mid, ts } => state.read(&from, session, mid.as_deref(), ts),
                    ConvOp::Members(req) => state.change_members(*req),
                    ConvOp::Blacklist(req) => state.blacklist(*req),
                    ConvOp::Conv(req) => state.command(*req),
                }
                // Only outsiders came (a made-up id, a non-member's receipt): cost nothing lasting.
                if !state.active
                    && state.is_quiet()
                    && state.node.convs.try_retire(&state.cid, myself.get_id(), state.handled)
                {
                    myself.stop(None);
                }
            }
            ConvMsg::Retire => {
                if state.is_quiet() && state.node.convs.try_retire(&state.cid, myself.get_id(), state.handled) {
                    myself.stop(None);
                }
            }
            ConvMsg::Committed { seq, result } => {
                if let Err(err) = state.committed(seq, result) {
                    // The store failed under us, or another actor owns the conversation now
                    // (fenced): our sequence numbers may no longer match the store. Stop; the
                    // next operation starts an actor that claims it again and reloads.
                    match err {
                        StoreError::Fenced => tracing::warn!(cid = %state.cid, "fenced off by a newer owner; stopping"),
                        _ => {
                            tracing::error!(cid = %state.cid, error = %err, "append failed; restarting the conversation")
                        }
                    }
                    state.node.convs.remove_if(&state.cid, myself.get_id());
                    myself.stop(Some(err.to_string()));
                }
            }
            ConvMsg::FlushMarks => {
                state.flush_scheduled = false;
                state.flush_marks();
            }
            ConvMsg::Tick => {
                if state.is_idle() && state.node.convs.try_retire(&state.cid, myself.get_id(), state.handled) {
                    myself.stop(None);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<ConvMsg>, state: &mut ConvState) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        state.flush_marks();
        Ok(())
    }
}
