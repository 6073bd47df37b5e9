//! `session/query` (who of these clients is online) and `session/refresh` (a new token).

use super::Reply;
use super::token::Login;
use crate::node::Node;
use crate::protocol::frame;
use crate::protocol::{CommandType, GenericCommand, OpType, SessionCommand};
use crate::signature::{self, Action, Signed};

/// Most client ids looked at per `session/query`; the rest are ignored.
pub const MAX_QUERY_IDS: usize = 20;

/// `session/query {sessionPeerIds}` → `session/query_result {onlineSessionPeerIds}`.
pub fn online(node: &Node, reply: Reply, query: SessionCommand) {
    let online: Vec<String> =
        query.session_peer_ids.into_iter().take(MAX_QUERY_IDS).filter(|id| node.presence.is_online(id)).collect();
    reply.send(GenericCommand {
        session_message: Some(SessionCommand { online_session_peer_ids: online, ..Default::default() }),
        ..frame::command(CommandType::Session, Some(OpType::QueryResult))
    });
}

/// `session/refresh {st}` → `session/refreshed {st, stTtl}`. The old token may have
/// expired (that is why the SDKs refresh); with login signatures on, a fresh login
/// signature is needed (4102).
pub fn refresh(node: &Node, client: &str, login: &Login, reply: Reply, request: SessionCommand) {
    let action = Action::login(client);
    if let Err(err) = signature::verify(node, &action, Signed::session(&request), &[]) {
        return reply.error(&err);
    }
    let ttl = node.config.limits.session_token_ttl_secs;
    let token = node.issue_token(client, login, node.now_ms(), ttl);
    reply.send(GenericCommand {
        session_message: Some(SessionCommand { st: Some(token), st_ttl: Some(ttl as i32), ..Default::default() }),
        ..frame::command(CommandType::Session, Some(OpType::Refreshed))
    });
}
