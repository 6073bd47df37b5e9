//! One task per WebSocket, on the HTTP worker that accepted it: it reads frames, answers
//! what needs no session (`echo`, `session/open`, `session/close`, push-service `login`),
//! hands everything else to the session actor of the client it names, and writes the
//! socket's outbound queue.
//!
//! - A command without `peerId` belongs to the socket's first client (multiplexing,
//!   spec/wire-protocol.md §2.7); one naming a client not logged in here gets 4105.
//! - Frames that do not decode get an `error` (4114) without `i`; the socket stays open.
//! - No `session/open` within `login_timeout_secs`: closed with 4108. After a login, no
//!   frame for `read_timeout_secs`: closed with 4107. A frame over `max_frame_bytes`:
//!   closed with 4109, as soon as its header says so (see [`super::guard`]). An outbound
//!   queue over its limit, stalled, or among the fullest when the node's queues are over
//!   theirs: closed with 1008 (see [`crate::delivery::outbox`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use ractor::{Actor, ActorRef};
use tokio::time::{Instant, sleep_until};

use super::guard;
use super::ws::Slot;
use crate::delivery::outbox::{Conn, Out, Outbound, Outbox, Peer};
use crate::error::{Code, ImError};
use crate::im_err;
use crate::node::Node;
use crate::protocol::frame::{self, DecodeError, Format};
use crate::protocol::{CommandType, GenericCommand, OpType, SessionCommand};
use crate::session::{Origin, SessionActor, SessionArgs, SessionMsg, open};

/// A client logged in on this socket.
struct Client {
    id: Arc<str>,
    actor: ActorRef<SessionMsg>,
}

struct Socket {
    node: Arc<Node>,
    conn: Arc<Conn>,
    /// Node-unique id and peer address (per-socket and per-IP limits).
    origin: Origin,
    /// In login order; the first one owns commands without `peerId`.
    clients: Vec<Client>,
    logged_in: bool,
}

/// Drives one WebSocket until it closes.
pub async fn run(
    node: Arc<Node>,
    mut ws: actix_ws::Session,
    stream: actix_ws::MessageStream,
    format: Format,
    peer: Option<SocketAddr>,
    _slot: Slot,
) {
    let limits = node.config.limits.clone();
    let (conn, mut outbound) = node.outbound.conn(limits.outbound_queue_bytes, limits.max_reply_bytes);
    let _registration = Outbound::register(&node.outbound, node.core(), &node.config.limits, conn.clone());
    let mut stream = stream
        .max_frame_size(limits.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(limits.max_frame_bytes);
    let origin = Origin { socket: node.next_session_id(), ip: peer.map(|p| p.ip()) };
    let mut socket = Socket { node, conn, origin, clients: Vec::new(), logged_in: false };
    let read_timeout = Duration::from_secs(limits.read_timeout_secs);
    let timer = sleep_until(Instant::now() + Duration::from_secs(limits.login_timeout_secs));
    tokio::pin!(timer);
    let mut stopping = socket.node.stopping();
    tracing::debug!(?peer, ?format, "socket open");

    let close: Option<(u16, String)> = loop {
        tokio::select! {
            biased;
            out = outbound.recv() => match out {
                Some(Out::Frame { bytes, peer }) => {
                    let len = bytes.len();
                    let bytes = match peer {
                        Peer::Always(peer) => frame::with_peer_id(&bytes, &peer),
                        Peer::IfShared(peer) if socket.clients.len() > 1 => frame::with_peer_id(&bytes, &peer),
                        _ => bytes,
                    };
                    let write = async {
                        match format {
                            Format::Binary => ws.binary(bytes).await,
                            Format::Base64 => ws.text(frame::to_base64(&bytes)).await,
                        }
                    };
                    let written = tokio::select! {
                        biased;
                        written = write => written.is_ok(),
                        // The client stopped reading and the queue filled up meanwhile.
                        () = socket.conn.aborted() => {
                            let (code, reason) = socket.conn.close_reason();
                            break Some((code, reason.to_owned()));
                        }
                    };
                    socket.conn.sent(len);
                    if !written {
                        break None;
                    }
                }
                Some(Out::Close { code, reason }) => break Some((code, reason.to_owned())),
                None => break None,
            },
            msg = stream.recv() => {
                let msg = match msg {
                    None => break None,
                    Some(Err(ProtocolError::Overflow)) => break Some(close_code(Code::FrameTooLong)),
                    Some(Err(ProtocolError::Io(err))) if guard::is_too_long(&err) => {
                        break Some(close_code(Code::FrameTooLong));
                    }
                    Some(Err(err)) => {
                        tracing::debug!(error = %err, "websocket protocol error");
                        break Some((1002, "protocol error".to_owned()));
                    }
                    Some(Ok(msg)) => msg,
                };
                match msg {
                    // Boxed: inline, the command handling made every idle socket task ~18 KiB.
                    AggregatedMessage::Binary(bytes) => Box::pin(socket.on_frame(frame::decode_binary(&bytes))).await,
                    AggregatedMessage::Text(text) => Box::pin(socket.on_frame(frame::decode_text(&text))).await,
                    AggregatedMessage::Ping(bytes) => {
                        if ws.pong(&bytes).await.is_err() {
                            break None;
                        }
                    }
                    AggregatedMessage::Pong(_) => {}
                    AggregatedMessage::Close(_) => break None,
                }
                if socket.logged_in {
                    timer.as_mut().reset(Instant::now() + read_timeout);
                }
            }
            _ = stopping.wait_for(|stop| *stop) => break Some((CLOSE_RESTART, "server stopping".to_owned())),
            () = &mut timer => {
                break Some(close_code(if socket.logged_in { Code::ReadTimeout } else { Code::LoginTimeout }));
            }
        }
    };

    // Frames still queued are not going to be written: free them now, not after the close.
    socket.conn.finish();
    drop(outbound);
    socket.stop_all();
    let reason =
        close.map(|(code, description)| CloseReason { code: CloseCode::Other(code), description: Some(description) });
    // A client that does not read may never take the close frame; do not wait for it long.
    let _ = tokio::time::timeout(CLOSE_WAIT, ws.close(reason)).await;
    tracing::debug!(?peer, "socket closed");
}

/// Close code when the server stops: "service restart"; the SDKs reconnect.
const CLOSE_RESTART: u16 = 1012;

/// How long the close frame may take to be queued.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

fn close_code(code: Code) -> (u16, String) {
    (code.number() as u16, code.reason().to_owned())
}

impl Socket {
    /// Sends a command that needs no `peerId` added.
    fn send(&self, cmd: &GenericCommand) {
        self.conn.push(frame::encode(cmd), Peer::AsIs);
    }

    async fn on_frame(&mut self, decoded: Result<GenericCommand, DecodeError>) {
        match decoded {
            Ok(cmd) => self.on_command(cmd).await,
            Err(err) => self.send(&frame::error(None, &im_err!(UnparseableRawMessage, "{err}"))),
        }
    }

    async fn on_command(&mut self, cmd: GenericCommand) {
        let kind = cmd.cmd.and_then(|c| CommandType::try_from(c).ok());
        let op = cmd.op.and_then(|o| OpType::try_from(o).ok());
        match (kind, op) {
            (Some(CommandType::Echo), _) => self.send(&frame::reply(cmd.i, CommandType::Echo, None)),
            (Some(CommandType::Session), Some(OpType::Open)) => self.open(cmd).await,
            (Some(CommandType::Session), Some(OpType::Close)) => self.close_client(cmd),
            // Android push and LiveQuery share the socket; answer their login and logout.
            (Some(CommandType::Login), _) => {
                self.send(&GenericCommand { service: cmd.service, ..frame::reply(cmd.i, CommandType::Loggedin, None) })
            }
            (Some(CommandType::Logout), _) => {
                self.send(&GenericCommand { service: cmd.service, ..frame::reply(cmd.i, CommandType::Loggedout, None) })
            }
            _ => self.route(cmd),
        }
    }

    /// The client a command belongs to: the one it names, or the first.
    fn owner(&self, cmd: &GenericCommand) -> Option<usize> {
        match cmd.peer_id.as_deref().filter(|p| !p.is_empty()) {
            Some(peer) => self.clients.iter().position(|c| &*c.id == peer),
            None => (!self.clients.is_empty()).then_some(0),
        }
    }

    fn route(&mut self, cmd: GenericCommand) {
        let i = cmd.i;
        let Some(index) = self.owner(&cmd) else {
            return self.send(&frame::error(i, &session_required(&cmd)));
        };
        if self.clients[index].actor.cast(SessionMsg::Command(Box::new(cmd))).is_err() {
            self.clients.remove(index);
            self.send(&frame::error(i, &im_err!(SessionRequired, "the session has ended")));
        }
    }

    async fn open(&mut self, cmd: GenericCommand) {
        let opening = match self.check_open(&cmd).await {
            Ok(opening) => opening,
            Err(err) => return self.send(&frame::error(cmd.i, &err)),
        };
        // Opening again on the same socket replaces the earlier session of that client.
        if let Some(index) = self.clients.iter().position(|c| c.id == opening.client) {
            self.clients.remove(index).actor.stop(None);
        }
        let max = self.node.config.limits.max_clients_per_socket;
        if self.clients.len() >= max {
            // The token was never handed out: nothing to end.
            return self.send(&frame::error(cmd.i, &im_err!(InvalidLogin, "at most {max} clients on one connection")));
        }
        // A tagged login looks at the client's sessions and joins them as one step.
        let node = self.node.clone();
        let _tagging = match opening.login.tag {
            Some(_) => Some(node.presence.login_lock(&opening.client).lock().await),
            None => None,
        };
        if let Err(err) = take_tag(&self.node, &opening) {
            return self.send(&frame::error(cmd.i, &err));
        }
        let client = opening.client.clone();
        let outbox = Outbox::new(self.conn.clone(), client.clone());
        let id = self.node.next_session_id();
        let args = SessionArgs { node: self.node.clone(), outbox, id, open: opening, origin: self.origin.clone() };
        let supervisor = self.node.sessions.get().expect("started with the server").clone();
        match Actor::spawn_linked(None, SessionActor, args, supervisor).await {
            Ok((actor, _)) => {
                self.clients.push(Client { id: client, actor });
                self.logged_in = true;
            }
            Err(err) => {
                tracing::error!(error = %err, "session actor failed to start");
                self.send(&frame::error(cmd.i, &ImError::new(Code::InternalError)));
            }
        }
    }

    /// [`open::check`]; on the blocking pool for a reconnect with a session token, whose
    /// check reads the store (was it ended by a logout in another process?).
    async fn check_open(&self, cmd: &GenericCommand) -> Result<open::Opening, ImError> {
        let session = cmd.session_message.as_ref();
        if !session.is_some_and(|s| s.r == Some(true) && s.st.is_some()) {
            return open::check(&self.node, cmd, &self.origin);
        }
        let (node, cmd, origin) = (self.node.clone(), cmd.clone(), self.origin.clone());
        match tokio::task::spawn_blocking(move || open::check(&node, &cmd, &origin)).await {
            Ok(checked) => checked,
            Err(err) => {
                tracing::error!(error = %err, "checking a login failed");
                Err(ImError::new(Code::InternalError))
            }
        }
    }

    fn close_client(&mut self, cmd: GenericCommand) {
        let Some(index) = self.owner(&cmd) else {
            // Nothing to close: say it is closed.
            let reply = frame::reply(cmd.i, CommandType::Session, Some(OpType::Closed));
            return self.send(&GenericCommand { session_message: Some(SessionCommand::default()), ..reply });
        };
        let client = self.clients.remove(index);
        if let Err(err) = client.actor.cast(SessionMsg::Close { i: cmd.i }) {
            tracing::debug!(error = %err, "closing a session that already ended");
        }
    }

    fn stop_all(&mut self) {
        for client in self.clients.drain(..) {
            client.actor.stop(None);
        }
    }
}

/// Single-device login (spec/leancloud-im.md §3.5): a login with a device tag ends the
/// client's other sessions with that tag. Another device's session gets `session/closed`
/// 4111; a session of the same device (same `deviceId`, or the token it continues) is
/// replaced quietly. A reconnect (`r: true`) never takes the tag from another device: it
/// is refused with 4111 instead.
fn take_tag(node: &Node, opening: &open::Opening) -> Result<(), ImError> {
    let Some(tag) = opening.login.tag.as_deref() else {
        return Ok(());
    };
    let holders = node.presence.tagged(&opening.client, tag);
    let (same, others): (Vec<_>, Vec<_>) = holders.into_iter().partition(|s| s.login.device == opening.login.device);
    // Sessions on other nodes end as this login is announced there (cluster::router).
    let elsewhere = node
        .presence
        .remote_sessions(&opening.client)
        .into_iter()
        .any(|s| s.login.tag.as_deref() == Some(tag) && s.login.device != opening.login.device);
    if opening.reconnect && (!others.is_empty() || elsewhere) {
        return Err(im_err!(SessionConflict, "another device is logged in with tag {tag:?}"));
    }
    for session in others {
        let reason = Some(format!("logged in on another device with tag {tag:?}"));
        session.control.close_session(Code::SessionConflict, reason);
    }
    for session in same {
        session.control.stop_session();
    }
    Ok(())
}

fn session_required(cmd: &GenericCommand) -> ImError {
    match cmd.peer_id.as_deref() {
        Some(peer) if !peer.is_empty() => im_err!(SessionRequired, "{peer:?} is not logged in on this connection"),
        _ => im_err!(SessionRequired, "open a session first"),
    }
}
