//! `session/query` (who of these clients is online) and `session/refresh` (a new token).

use super::Reply;
use super::token::{self, Login};
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
/// signature is needed (4102). Returns the new token's id and expiry: a logout of this
/// session ends that one.
pub fn refresh(
    node: &Node,
    client: &str,
    login: &Login,
    reply: Reply,
    request: SessionCommand,
) -> Option<(Box<str>, i64)> {
    let action = Action::login(client);
    if let Err(err) = signature::verify(node, &action, Signed::session(&request), &[]) {
        reply.error(&err);
        return None;
    }
    let (ttl, now) = (node.config.limits.session_token_ttl_secs, node.now_ms());
    let token = node.issue_token(client, login, now, ttl);
    let issued = (token::id_of(&token).into(), token::expires_at(now, ttl));
    reply.send(GenericCommand {
        session_message: Some(SessionCommand { st: Some(token), st_ttl: Some(ttl as i32), ..Default::default() }),
        ..frame::command(CommandType::Session, Some(OpType::Refreshed))
    });
    Some(issued)
}
