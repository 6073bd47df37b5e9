//! Sessions on other nodes, as this node's delivery layer sees them (a cluster, issue 12).
//!
//! Every node announces its logins and logouts to every other node, which keep them as
//! [`RemoteSession`]s beside their own ([`Presence`](super::presence::Presence)). So any
//! node can tell where a client is online — for fan-out, `session/query` and device tags —
//! without asking anyone (docs/decisions.md, "Cluster": the choice and its cost).
//!
//! What must cross to another node goes through a [`Peers`], which the cluster puts in
//! place once it starts: answers to requests forwarded from there, and pushes for the
//! sessions there (one frame for all of a node's recipients). On a single node there is
//! none, and nothing here runs.

use std::sync::Arc;

use bytes::Bytes;

use super::presence::{Login, SessionEntry};
use crate::protocol::GenericCommand;

/// A session of a client on another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSession {
    /// The node it is on ([`crate::store::Store::node_id`] there).
    pub node: u64,
    /// Its session id (unique among the nodes: the node id is in it).
    pub id: u64,
    pub login: Login,
}

/// The way to the other nodes.
pub trait Peers: Send + Sync {
    /// Sends `cmd` as the answer to request `id`, forwarded from `node`.
    fn answer(&self, node: u64, id: u64, cmd: &GenericCommand);
    /// Queues the push `frame` for the sessions of `clients` on `node`, except `skip`.
    fn push(&self, node: u64, clients: Vec<Arc<str>>, skip: Option<u64>, frame: &Bytes);
    /// Tells every other node that `client` logged in with `session`. Called with the
    /// client's presence shard locked, so announcements of one client keep their order.
    fn online(&self, client: &Arc<str>, session: &SessionEntry);
    /// Tells every other node that `session` of `client` ended (same lock).
    fn offline(&self, client: &Arc<str>, session: u64);
    /// Tells the nodes where `client` is online that the app kicked it at `at_ms` (they
    /// would see it in the store within a second; this is at once, with the reason).
    fn kick(&self, client: &str, at_ms: i64, reason: Option<&str>);
}
