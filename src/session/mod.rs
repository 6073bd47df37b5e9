//! Sessions: one [`SessionActor`] per logged-in client per socket.
//!
//! The socket task ([`crate::gateway::socket`]) checks a `session/open`
//! ([`open::check`]) and spawns the actor, which then answers `opened`, joins
//! [presence](crate::delivery::presence), and pushes the `unread` summary. After that the socket hands the
//! client's commands to the actor, which answers them itself or passes them on (to a
//! conversation actor, or to a blocking task for store reads). Answers and pushes go to the
//! socket's [`Outbox`](crate::delivery::outbox::Outbox), never back through the socket task.
//!
//! Files: [`open`] (`session/open`, `opened`, the `unread` push), [`query`]
//! (`session/query`, `session/refresh`), [`blacklist`], [`rate`] (per-client rate limits),
//! [`token`], [`supervisor`]. Presence, outboxes and replies are the delivery layer's
//! ([`crate::delivery`]).

pub mod blacklist;
pub mod open;
pub mod query;
pub mod supervisor;

pub use crate::services::{rate, token};

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_cluster_derive::RactorMessage;

use self::rate::Class;
use self::token::Login;
use crate::config::LimitsConfig;
use crate::conversation::{self, ConvOp, ConvReq, DirectReq, MembersReq};
pub use crate::delivery::Reply;
use crate::delivery::outbox::Outbox;
use crate::delivery::{Addr, presence::SessionControl};
use crate::error::{Code, ImError};
use crate::ids;
use crate::im_err;
use crate::node::Node;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, DirectCommand, GenericCommand, OpType, SessionCommand};

/// Messages of a session actor.
#[derive(Debug, RactorMessage)]
pub enum SessionMsg {
    /// A command from the client.
    Command(Box<GenericCommand>),
    /// `session/close`: answer `closed` and stop.
    Close { i: Option<i32> },
    /// Ended by the server: push `session/closed {code, reason}` and stop (4111 when another
    /// device took the tag, 4115 when the app kicked the client).
    Closed { code: Code, reason: Option<String> },
    /// Replaced by a new login of the same device: stop without a word.
    Stop,
}

/// What a session starts with (checked by [`open::check`]).
pub struct SessionArgs {
    pub node: Arc<Node>,
    pub outbox: Outbox,
    pub id: u64,
    pub open: open::Opening,
    pub origin: Origin,
}

/// The socket a session is on: its node-unique id and the peer's IP address.
#[derive(Debug, Clone)]
pub struct Origin {
    pub socket: u64,
    pub ip: Option<std::net::IpAddr>,
}

/// A logged-in client on one socket.
pub struct SessionState {
    pub node: Arc<Node>,
    pub outbox: Outbox,
    pub client: Arc<str>,
    /// Node-unique session id.
    pub id: u64,
    /// The device tag and device.
    pub login: Login,
    /// The id and expiry of the session token handed out last (at login, or by
    /// `session/refresh`), which `session/close` ends.
    token: (Box<str>, i64),
    /// The socket this session is on and where it came from (per-socket and per-IP limits).
    pub origin: Origin,
    /// The login, until the `unread` summary has been sent.
    opening: Option<open::Opening>,
}

pub struct SessionActor;

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        let client = args.open.client.clone();
        let login = args.open.login.clone();
        let token = (token::id_of(&args.open.token).into(), args.open.token_expires_ms);
        let (node, outbox, id, origin) = (args.node, args.outbox, args.id, args.origin);
        let state = SessionState { node, outbox, client, id, login, token, origin, opening: None };
        // Online before `spawn` returns, so the socket's login lock covers it (device tags).
        open::opened(&state, &myself, &args.open);
        Ok(SessionState { opening: Some(args.open), ..state })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(opening) = state.opening.take() {
            // Boxed, like `dispatch` below: an actor's task is allocated at the size of its
            // largest state, and these futures are big (see `docs/benchmarks.md`, idle).
            Box::pin(open::unread(state, opening)).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Command(cmd) => Box::pin(state.dispatch(*cmd)).await,
            SessionMsg::Close { i } => {
                // A logout: the token must not resume a session any more.
                state.node.end_token(&state.token.0, state.token.1);
                let reply = frame::reply(i, CommandType::Session, Some(OpType::Closed));
                state.outbox.send(&GenericCommand { session_message: Some(SessionCommand::default()), ..reply });
                myself.stop(None);
            }
            SessionMsg::Closed { code, reason } => {
                let closed = SessionCommand {
                    code: Some(code.number()),
                    reason: Some(reason.unwrap_or_else(|| code.reason().to_owned())),
                    ..Default::default()
                };
                let push = frame::push(CommandType::Session, Some(OpType::Closed), Some(state.node.now_ms()));
                state.outbox.push(&GenericCommand { session_message: Some(closed), ..push });
                myself.stop(None);
            }
            SessionMsg::Stop => myself.stop(None),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        state.node.presence.unregister(&state.client, state.id);
        Ok(())
    }
}

/// Bounds every client-supplied field of a `direct`: the whole command (content, `pushData`,
/// mentions, client token, …) counts toward `max_message_bytes` (4109); the conversation id,
/// the client token (`dt`) and each mentioned id have the length limit of a client id, and
/// at most `max_members` clients can be mentioned.
fn check_direct(msg: &DirectCommand, limits: &LimitsConfig) -> Result<(), ImError> {
    use prost::Message as _;
    let size = msg.encoded_len();
    let limit = limits.max_message_bytes;
    if size > limit {
        return Err(im_err!(FrameTooLong, "message is {size} bytes; the limit is {limit}"));
    }
    let max_id = ids::MAX_CLIENT_ID_LEN;
    if msg.cid.as_ref().is_some_and(|cid| cid.len() > max_id) {
        return Err(im_err!(InvalidMessagingTarget, "a conversation id has at most {max_id} bytes"));
    }
    if msg.dt.as_ref().is_some_and(|dt| dt.len() > max_id) {
        return Err(im_err!(FrameTooLong, "the client token (dt) has at most {max_id} bytes"));
    }
    if msg.mention_pids.len() > limits.max_members || msg.mention_pids.iter().any(|p| p.len() > max_id) {
        return Err(im_err!(FrameTooLong, "at most {} mentioned clients of {max_id} bytes each", limits.max_members));
    }
    Ok(())
}

/// The rate-limit class of a command ([`rate`]); `None` for receipts, which count one per
/// conversation they name (in [`SessionState::read`] and [`SessionState::receive_ack`]).
fn rate_class(kind: Option<CommandType>, op: Option<OpType>) -> Option<Class> {
    use OpType::{CheckBlock, CheckShutup, Count, IsMember, MaxRead, Query, QueryShutup};
    match (kind, op) {
        (Some(CommandType::Direct), _) => Some(Class::Send),
        (Some(CommandType::Ack | CommandType::Read), _) => None,
        (Some(CommandType::Logs), _) => Some(Class::Query),
        (Some(CommandType::Conv | CommandType::Session | CommandType::Blacklist), Some(Query)) => Some(Class::Query),
        (Some(CommandType::Conv), Some(QueryShutup | CheckShutup | Count | MaxRead | IsMember)) => Some(Class::Query),
        (Some(CommandType::Blacklist), Some(CheckBlock)) => Some(Class::Query),
        _ => Some(Class::Other),
    }
}

impl SessionState {
    fn reply(&self, i: Option<i32>) -> Reply {
        Reply::new(Addr { node: self.node.store.node_id(), session: self.id, i }, self.outbox.clone())
    }

    /// Answers or forwards one command of the client.
    async fn dispatch(&mut self, cmd: GenericCommand) {
        let reply = self.reply(cmd.i);
        if self.node.session_fail_point.lock().as_deref() == Some(&*self.client) {
            panic!("fail point: session of {}", self.client);
        }
        let op = cmd.op.and_then(|op| OpType::try_from(op).ok());
        let node = &self.node;
        let kind = cmd.cmd.and_then(|c| CommandType::try_from(c).ok());
        if let Some(class) = rate_class(kind, op)
            && let Err(err) = node.rate.take(&self.client, class, node.now_ms())
        {
            return reply.error(&err);
        }
        match (kind, op) {
            (Some(CommandType::Conv), Some(OpType::Start)) => {
                if let Err(err) = open::take_origin(node, &self.origin, Class::Create, node.now_ms()) {
                    return reply.error(&err);
                }
                conversation::start::start(&node.services, &self.client, reply, cmd.conv_message.unwrap_or_default())
                    .await
            }
            (Some(CommandType::Conv), Some(OpType::Query)) => {
                conversation::query::query(&node.services, &self.client, reply, cmd.conv_message.unwrap_or_default())
                    .await
            }
            (Some(CommandType::Conv), Some(op @ (OpType::Add | OpType::Remove))) => {
                let add = op == OpType::Add;
                self.to_conversation(reply, cmd.conv_message.unwrap_or_default(), |from, reply, conv| {
                    ConvOp::Members(Box::new(MembersReq { from, reply, add, conv }))
                })
            }
            (Some(CommandType::Conv), Some(OpType::IsMember)) => {
                conversation::is_member::is_member(
                    &node.services,
                    &self.client,
                    reply,
                    cmd.conv_message.unwrap_or_default(),
                )
                .await
            }
            (
                Some(CommandType::Conv),
                Some(
                    op @ (OpType::AddShutup
                    | OpType::RemoveShutup
                    | OpType::QueryShutup
                    | OpType::CheckShutup
                    | OpType::Update
                    | OpType::Mute
                    | OpType::Unmute
                    | OpType::Count
                    | OpType::MaxRead
                    | OpType::MemberInfoUpdate),
                ),
            ) => self.to_conversation(reply, cmd.conv_message.unwrap_or_default(), |from, reply, conv| {
                ConvOp::Conv(Box::new(ConvReq { from, reply, op, conv }))
            }),
            (Some(CommandType::Blacklist), op) => {
                blacklist::blacklist(node, &self.client, reply, op, cmd.blacklist_message.unwrap_or_default()).await
            }
            (Some(CommandType::Logs), _) => {
                conversation::logs::logs(&node.services, &self.client, reply, cmd.logs_message.unwrap_or_default())
                    .await
            }
            (Some(CommandType::Direct), _) => self.direct(reply, cmd),
            (Some(CommandType::Ack), _) => self.receive_ack(reply, cmd),
            (Some(CommandType::Read), _) => self.read(reply, cmd),
            (Some(CommandType::Session), Some(OpType::Query)) => {
                query::online(node, reply, cmd.session_message.unwrap_or_default())
            }
            (Some(CommandType::Session), Some(OpType::Refresh)) => {
                let request = cmd.session_message.unwrap_or_default();
                if let Some(token) = query::refresh(node, &self.client, &self.login, reply, request) {
                    self.token = token;
                }
            }
            (Some(known), _) => {
                let name = op.map_or("-", |op| op.as_str_name());
                reply.error(&im_err!(UnparseableRawMessage, "unsupported command {}/{name}", known.as_str_name()))
            }
            (None, _) => reply.error(&im_err!(UnparseableRawMessage, "unknown command {:?}", cmd.cmd)),
        }
    }

    /// Hands a `conv` command to the actor of the conversation it names (`cid`).
    fn to_conversation(
        &self,
        reply: Reply,
        conv: ConvCommand,
        op: impl FnOnce(Arc<str>, Reply, ConvCommand) -> ConvOp,
    ) {
        let Some(cid) = conv.cid.clone().filter(|cid| !cid.is_empty()) else {
            return reply.error(&im_err!(ConversationNotFound, "no conversation id (cid)"));
        };
        self.node.to_conversation(&cid, op(self.client.clone(), reply, conv));
    }

    fn direct(&self, reply: Reply, cmd: GenericCommand) {
        let Some(msg) = cmd.direct_message else {
            return reply.error(&im_err!(InvalidMessagingTarget, "direct without a message"));
        };
        if let Err(err) = check_direct(&msg, &self.node.config.limits) {
            return reply.error(&err);
        }
        let Some(cid) = msg.cid.clone().filter(|cid| !cid.is_empty()) else {
            return reply.error(&im_err!(InvalidMessagingTarget, "direct without a conversation id"));
        };
        let req = DirectReq { from: self.client.clone(), session: self.id, reply, msg };
        self.node.to_conversation(&cid, ConvOp::Direct(Box::new(req)));
    }

    /// A receive-ack: `{cid, mid}` (Java, Swift) or `{cid, fromts, tots}` (JS). No answer
    /// is expected; one is sent only if the command carried an `i`.
    fn receive_ack(&self, reply: Reply, cmd: GenericCommand) {
        let ack = cmd.ack_message.unwrap_or_default();
        if let Err(err) = self.node.rate.take(&self.client, Class::Receipt, self.node.now_ms()) {
            return if reply.addr.i.is_some() {
                reply.error(&err)
            } else {
                tracing::debug!(client = %self.client, "receipt dropped: {err}")
            };
        }
        if let Some(cid) = ack.cid.filter(|cid| !cid.is_empty()) {
            let op = ConvOp::Ack { from: self.client.clone(), mid: ack.mid, tots: ack.tots };
            self.receipts(vec![(cid, op)]);
        }
        if reply.addr.i.is_some() {
            reply.send(frame::command(CommandType::Ack, None));
        }
    }

    /// Hands receipts to their conversations ([`Node::receipts`]).
    fn receipts(&self, ops: Vec<(String, ConvOp)>) {
        self.node.receipts(&self.client, ops);
    }

    /// `read {convs: [{cid, mid?, timestamp?}]}` (or the legacy `cid` / `cids`). No answer
    /// is expected; one is sent only if the command carried an `i`.
    fn read(&self, reply: Reply, cmd: GenericCommand) {
        let read = cmd.read_message.unwrap_or_default();
        let mut marks: Vec<(String, Option<String>, Option<i64>)> =
            read.convs.into_iter().map(|t| (t.cid, t.mid, t.timestamp)).collect();
        marks.extend(read.cid.into_iter().chain(read.cids).map(|cid| (cid, None, None)));
        marks.retain(|(cid, _, _)| !cid.is_empty());
        let n = u32::try_from(marks.len()).unwrap_or(u32::MAX);
        if let Err(err) = self.node.rate.take_n(&self.client, Class::Receipt, n, self.node.now_ms()) {
            return if reply.addr.i.is_some() {
                reply.error(&err)
            } else {
                tracing::debug!(client = %self.client, "read dropped: {err}")
            };
        }
        let ops = marks
            .into_iter()
            .map(|(cid, mid, ts)| (cid, ConvOp::Read { from: self.client.clone(), session: self.id, mid, ts }));
        self.receipts(ops.collect());
        if reply.addr.i.is_some() {
            reply.send(frame::command(CommandType::Read, None));
        }
    }
}

/// The session actor, as the delivery layer sees it.
impl SessionControl for ActorRef<SessionMsg> {
    fn close_session(&self, code: Code, reason: Option<String>) {
        let _ = self.cast(SessionMsg::Closed { code, reason });
    }

    fn stop_session(&self) {
        let _ = self.cast(SessionMsg::Stop);
    }

    fn actor_id(&self) -> ractor::ActorId {
        self.get_id()
    }
}
