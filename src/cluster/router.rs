//! The node router: the one remotable actor of a node, and the routes it keeps.
//!
//! Every node runs one [`Router`], named `xinshi.router.<node id>.<name>` and joined to the
//! process group [`GROUP`]. ractor_cluster mirrors it onto every connected node, so each
//! node's router sees the others join and leave the group, and keeps a [`Link`] to each.
//! All traffic between nodes goes router to router, as batches ([`super::wire`]):
//!
//! - **Presence**: a node announces every login and logout to every other; a node that
//!   joins is told of every session at once. A login with a device tag ends the older
//!   sessions of that tag on every node as the announcement arrives (4111; quietly for the
//!   same device) — the older by login time, then by session id.
//! - **Conversation operations** go to the node that owns the conversation
//!   ([`Routes::owner`]: rendezvous hashing over this node and the linked ones). A request
//!   that expects an answer is numbered and kept here until the answer comes back; if its
//!   node leaves first, the request is answered 4200 (the SDK may send it again).
//! - **Answers and pushes** come back as encoded frames, one push per node and message,
//!   naming that node's recipients.
//!
//! When the members change, conversations this node no longer owns are evicted from its
//! directory: their actors finish what they hold and stop, and the new owner claims each
//! conversation in the store (its epoch fence) and rebuilds it on its first operation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use ractor::pg::GroupChangeMessage;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use ractor_cluster_derive::RactorClusterMessage;

use super::link::{Link, Sent};
use super::placement;
use super::wire::{self, Batch, Forward, Item};
use crate::conversation::{ConvOp, Directory};
use crate::delivery::outbox::encode_reply;
use crate::delivery::presence::{Login, SessionEntry};
use crate::delivery::remote::{Peers, RemoteSession};
use crate::delivery::{Addr, Reply};
use crate::error::Code;
use crate::im_err;
use crate::protocol::GenericCommand;
use crate::services::Services;

/// The process group of the routers.
pub const GROUP: &str = "xinshi.routers";

/// How a router's name starts; the node id and name follow.
const PREFIX: &str = "xinshi.router.";

/// How often every link gets a heartbeat.
pub const BEAT: Duration = Duration::from_millis(250);

/// A forwarded request not answered within this long is answered 4200 here (the SDKs give
/// up after 20 s).
const PENDING_TIMEOUT: Duration = Duration::from_secs(30);

/// Messages of the router (the only type that crosses nodes: a batch, encoded).
#[derive(RactorClusterMessage)]
pub enum RouterMsg {
    Batch(Vec<u8>),
}

/// A request forwarded to another node, waiting for its answer.
struct Pending {
    node: u64,
    reply: Reply,
    since: Instant,
}

/// What the router keeps: links to the other nodes, and requests waiting for answers.
pub struct Routes {
    /// This node's id and name.
    pub me: u64,
    pub name: String,
    services: Weak<Services>,
    convs: Arc<Directory>,
    links: RwLock<HashMap<u64, Arc<Link>>>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_id: AtomicU64,
    pub sent: Arc<Sent>,
    max_reply: usize,
    /// The cluster's members, to disconnect one that went silent.
    members: Arc<super::Members>,
    /// How long a member may stay silent (`cluster.suspect_ms`).
    suspect_ms: u64,
    /// The routes' own clock (links note when they last heard from their node on it).
    started: Instant,
    /// This node's WebSocket URL for clients, once the server listens.
    ws_url: Mutex<Option<String>>,
}

impl Routes {
    pub fn new(
        services: &Arc<Services>,
        convs: Arc<Directory>,
        name: String,
        members: Arc<super::Members>,
        suspect_ms: u64,
    ) -> Arc<Routes> {
        Arc::new(Routes {
            me: services.store.node_id(),
            name,
            services: Arc::downgrade(services),
            convs,
            links: RwLock::default(),
            pending: Mutex::default(),
            next_id: AtomicU64::new(1),
            sent: Arc::default(),
            max_reply: services.config.limits.max_reply_bytes,
            members,
            suspect_ms,
            started: Instant::now(),
            ws_url: Mutex::default(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Sets this node's WebSocket URL for clients, and tells the other nodes (for their
    /// `/v1/route` answers).
    pub fn set_ws_url(&self, url: String) {
        *self.ws_url.lock() = Some(url.clone());
        for link in self.links.read().values() {
            link.send(Item::Hello { ws_url: url.clone() });
        }
    }

    /// The WebSocket URLs of the other nodes linked, as they told them.
    pub fn ws_urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = self.links.read().values().filter_map(|l| l.ws_url.lock().clone()).collect();
        urls.sort();
        urls
    }

    /// Sends a heartbeat on every link that sent nothing for a beat, and disconnects the
    /// members not heard from within `suspect_ms` (their links close as their connections
    /// end).
    fn beat(&self) {
        let now = self.now_ms();
        let mut silent = Vec::new();
        for link in self.links.read().values() {
            if now.saturating_sub(link.sent_ms.load(Ordering::Relaxed)) >= BEAT.as_millis() as u64 {
                link.send(Item::Beat);
            }
            if now.saturating_sub(link.heard_ms.load(Ordering::Relaxed)) > self.suspect_ms {
                silent.push((link.node, link.name.clone()));
            }
        }
        for (node, name) in silent {
            tracing::warn!(node, %name, suspect_ms = self.suspect_ms, "nothing heard from a cluster member");
            self.members.disconnect(&name);
            self.drop_link(node);
        }
    }

    /// The node that owns `cid`, if it is not this one.
    pub fn owner(&self, cid: &str) -> Option<Arc<Link>> {
        let links = self.links.read();
        if links.is_empty() {
            return None;
        }
        let names = links.values().map(|l| l.name.as_str()).chain([self.name.as_str()]);
        let owner = placement::owner(cid, names)?;
        links.values().find(|l| l.name == owner).cloned()
    }

    /// The other nodes linked, by name.
    pub fn linked(&self) -> Vec<(u64, String)> {
        let mut linked: Vec<(u64, String)> = self.links.read().values().map(|l| (l.node, l.name.clone())).collect();
        linked.sort_by(|a, b| a.1.cmp(&b.1));
        linked
    }

    /// Sends `op` to the owner `link` (a receipt: `cold`, run only for a member). A request
    /// that expects an answer waits here for it.
    pub fn forward(&self, link: &Link, cid: &str, op: ConvOp, cold: bool) {
        let (op, reply, session) = wire::split(op);
        let i = reply.as_ref().and_then(|r| r.addr.i);
        if !link.has_room() {
            if let Some(reply) = reply {
                reply.error(&im_err!(InternalError, "the cluster link to node {} is full; try again", link.name));
            }
            return;
        }
        let id = match reply.filter(|r| r.addr.i.is_some()) {
            Some(reply) => {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                self.pending.lock().insert(id, Pending { node: link.node, reply, since: Instant::now() });
                id
            }
            None => 0,
        };
        let forward = Forward { origin: self.me, id, session, i, cid: cid.to_owned(), op, hops: 0, cold };
        if !link.send(Item::Op(Box::new(forward))) {
            drop(self.pending.lock().remove(&id));
        }
    }

    /// The link to `node`; opened now if its router is in the group but its joining was
    /// not seen yet (its first batch can come first).
    fn link_to(&self, node: u64) -> Option<Arc<Link>> {
        if let Some(link) = self.links.read().get(&node) {
            return Some(link.clone());
        }
        let router = ractor::pg::get_members(&GROUP.into()).into_iter().find(|cell| {
            !cell.get_id().is_local() && cell.get_name().as_deref().and_then(parse_name).is_some_and(|(n, _)| n == node)
        })?;
        self.joined(router);
        self.links.read().get(&node).cloned()
    }

    /// A router of another node joined the group: link to it, tell it of every session
    /// here, and give up the conversations it now owns.
    fn joined(&self, cell: ActorCell) {
        let Some((node, name)) = cell.get_name().as_deref().and_then(parse_name) else { return };
        if node == self.me || self.links.read().get(&node).is_some_and(|l| l.router == cell.get_id()) {
            return;
        }
        if name == self.name {
            tracing::error!(node, %name, "another node has this node's name: conversations will be misplaced");
        }
        // A new connection to a node already linked replaces the link (the old router's
        // leaving, whenever it is seen, then changes nothing): what is known of the node's
        // sessions stays, and it tells them again anyway.
        let router = ActorRef::from(cell.clone());
        let link = Arc::new(Link::open(self.me, node, name.clone(), router, self.sent.clone(), self.started));
        if let Some(ws_url) = self.ws_url.lock().clone() {
            link.send(Item::Hello { ws_url });
        }
        self.links.write().insert(node, link.clone());
        tracing::info!(node, %name, "cluster route opened");
        if let Some(services) = self.services.upgrade() {
            services.presence.each_here(|client, session| {
                link.send(online(client, session));
            });
        }
        self.rehome();
    }

    /// A router left (its node stopped, or the connection to it broke): unless a newer
    /// connection to that node replaced it, close the link.
    fn left(&self, id: ActorId) {
        let node = self.links.read().values().find(|l| l.router == id).map(|l| l.node);
        if let Some(node) = node {
            self.drop_link(node);
        }
    }

    /// Closes the link to `node`: forgets its sessions, and answers 4200 to what waits
    /// for it.
    fn drop_link(&self, node: u64) {
        let Some(link) = self.links.write().remove(&node) else { return };
        tracing::info!(node, name = %link.name, "cluster route closed");
        if let Some(services) = self.services.upgrade() {
            services.presence.forget_node(node);
        }
        let lost: Vec<Pending> = {
            let mut pending = self.pending.lock();
            let ids: Vec<u64> = pending.iter().filter(|(_, p)| p.node == node).map(|(id, _)| *id).collect();
            ids.iter().filter_map(|id| pending.remove(id)).collect()
        };
        // Dropped unanswered: each answers 4200, outside the lock.
        drop(lost);
    }

    /// Evicts the actors of conversations another node owns now.
    fn rehome(&self) {
        let moved = self.convs.evict_where(|cid| self.owner(cid).is_some());
        if moved > 0 {
            tracing::info!(moved, "conversations moved to other nodes");
        }
    }

    /// Answers 4200 to forwarded requests that waited too long.
    fn sweep(&self) {
        let late: Vec<Pending> = {
            let mut pending = self.pending.lock();
            let ids: Vec<u64> =
                pending.iter().filter(|(_, p)| p.since.elapsed() > PENDING_TIMEOUT).map(|(id, _)| *id).collect();
            ids.iter().filter_map(|id| pending.remove(id)).collect()
        };
        drop(late);
    }

    /// Handles a batch from another node.
    fn receive(self: &Arc<Self>, bytes: &[u8]) {
        let batch = match Batch::decode(bytes) {
            Ok(batch) => batch,
            Err(err) => return tracing::error!(error = %err, "a cluster batch does not decode; dropped"),
        };
        let Some(services) = self.services.upgrade() else { return };
        let Some(link) = self.link_to(batch.from) else {
            // Not linked: after a silence its link was closed, and its connection with it;
            // what it sent meanwhile is dropped.
            return tracing::debug!(node = batch.from, "a batch from a node not linked; dropped");
        };
        link.heard_ms.store(self.now_ms(), Ordering::Relaxed);
        for item in batch.items {
            match item {
                Item::Hello { ws_url } => *link.ws_url.lock() = Some(ws_url),
                Item::Beat => {}
                Item::Online { client, session, tag, device, opened_ms } => {
                    let login = Login { tag: tag.map(Into::into), device: device.into() };
                    end_older_tagged(&services, &client, &login, (opened_ms, session));
                    let remote = RemoteSession { node: batch.from, id: session, login };
                    services.presence.add_remote(client.into(), remote);
                }
                Item::Offline { client, session } => services.presence.remove_remote(&client, session),
                Item::Kick { client, at_ms, reason } => {
                    let forget_after_ms = crate::services::token::kick_memory_ms(&services.config);
                    services.tokens.revoke(&client, at_ms, forget_after_ms);
                    for session in services.presence.sessions(&client).into_iter().filter(|s| s.opened_ms <= at_ms) {
                        session.control.close_session(Code::KickedByApp, reason.clone());
                    }
                }
                Item::Op(forward) => self.run(&services, batch.from, *forward),
                Item::Answer { id, frame } => {
                    let waiting = self.pending.lock().remove(&id);
                    if let Some(waiting) = waiting {
                        waiting.reply.send_encoded(frame);
                    }
                }
                Item::Push { clients, skip, frame } => {
                    services.presence.deliver_here(clients.iter().map(|c| &**c), skip, &frame)
                }
            }
        }
    }

    /// Runs a forwarded operation here, or passes it on once if this node's view of the
    /// members names another owner.
    fn run(self: &Arc<Self>, services: &Arc<Services>, from: u64, mut forward: Forward) {
        if forward.hops == 0
            && let Some(link) = self.owner(&forward.cid)
            && link.node != from
            && link.node != forward.origin
        {
            forward.hops += 1;
            link.send(Item::Op(Box::new(forward)));
            return;
        }
        let Forward { origin, id, session, i, cid, op, cold, .. } = forward;
        let addr = Addr { node: origin, session, i };
        let peers: Arc<dyn Peers> = self.clone();
        match wire::join(op, session, || Reply::peer(addr, id, peers.clone())) {
            Ok(op) => match op.receipt_of().filter(|_| cold).cloned() {
                Some(from) => self.convs.send_to_member(services, from, vec![(cid, op)]),
                None => self.convs.send(services, &cid, op),
            },
            Err(why) => {
                tracing::warn!(%cid, "{why}");
                Reply::peer(addr, id, peers).error(&im_err!(InternalError, "{why}"));
            }
        }
    }
}

/// A login elsewhere with a device tag ends the older sessions here with that tag: quietly
/// for the same device, with 4111 for another.
fn end_older_tagged(services: &Services, client: &str, login: &Login, newer: (i64, u64)) {
    let Some(tag) = login.tag.as_deref() else { return };
    for session in services.presence.tagged(client, tag) {
        if (session.opened_ms, session.id) >= newer {
            continue;
        }
        if session.login.device == login.device {
            session.control.stop_session();
        } else {
            let reason = Some(format!("logged in on another device with tag {tag:?}"));
            session.control.close_session(Code::SessionConflict, reason);
        }
    }
}

fn online(client: &Arc<str>, session: &SessionEntry) -> Item {
    Item::Online {
        client: client.to_string(),
        session: session.id,
        tag: session.login.tag.as_deref().map(str::to_owned),
        device: session.login.device.to_string(),
        opened_ms: session.opened_ms,
    }
}

impl Peers for Routes {
    fn answer(&self, node: u64, id: u64, cmd: &GenericCommand) {
        if id == 0 {
            return;
        }
        let Some(link) = self.links.read().get(&node).cloned() else {
            return tracing::debug!(node, "an answer for a node that left; dropped");
        };
        link.send(Item::Answer { id, frame: encode_reply(cmd, self.max_reply) });
    }

    fn push(&self, node: u64, clients: Vec<Arc<str>>, skip: Option<u64>, frame: &Bytes) {
        let Some(link) = self.links.read().get(&node).cloned() else { return };
        if !link.has_room() {
            return tracing::warn!(node = %link.name, "cluster link full; a push is dropped");
        }
        link.send(Item::Push { clients, skip, frame: frame.clone() });
    }

    fn online(&self, client: &Arc<str>, session: &SessionEntry) {
        for link in self.links.read().values() {
            link.send(online(client, session));
        }
    }

    fn offline(&self, client: &Arc<str>, session: u64) {
        for link in self.links.read().values() {
            link.send(Item::Offline { client: client.to_string(), session });
        }
    }

    fn kick(&self, client: &str, at_ms: i64, reason: Option<&str>) {
        let Some(services) = self.services.upgrade() else { return };
        let mut nodes: Vec<u64> = services.presence.remote_sessions(client).iter().map(|s| s.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let links = self.links.read();
        for link in nodes.iter().filter_map(|node| links.get(node)) {
            let reason = reason.map(str::to_owned);
            link.send(Item::Kick { client: client.to_owned(), at_ms, reason });
        }
    }
}

/// The router's actor name for node `node` called `name`.
pub fn actor_name(node: u64, name: &str) -> String {
    format!("{PREFIX}{node}.{name}")
}

/// The node id and name in a router's actor name.
fn parse_name(actor: &str) -> Option<(u64, String)> {
    let (node, name) = actor.strip_prefix(PREFIX)?.split_once('.')?;
    Some((node.parse().ok()?, name.to_owned()))
}

/// The node router actor.
pub struct Router;

impl Actor for Router {
    type Msg = RouterMsg;
    type State = Arc<Routes>;
    type Arguments = Arc<Routes>;

    async fn pre_start(
        &self,
        myself: ActorRef<RouterMsg>,
        routes: Arc<Routes>,
    ) -> Result<Arc<Routes>, ActorProcessingErr> {
        ractor::pg::monitor(GROUP.into(), myself.get_cell());
        ractor::pg::join(GROUP.into(), vec![myself.get_cell()]);
        for cell in ractor::pg::get_members(&GROUP.into()) {
            if !cell.get_id().is_local() {
                routes.joined(cell);
            }
        }
        let weak = Arc::downgrade(&routes);
        tokio::spawn(async move {
            let mut ticks = 0u64;
            loop {
                tokio::time::sleep(BEAT).await;
                let Some(routes) = weak.upgrade() else { return };
                routes.beat();
                ticks += 1;
                if ticks.is_multiple_of(20) {
                    routes.sweep();
                }
            }
        });
        Ok(routes)
    }

    async fn handle(
        &self,
        _: ActorRef<RouterMsg>,
        msg: RouterMsg,
        routes: &mut Arc<Routes>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMsg::Batch(bytes) => routes.receive(&bytes),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<RouterMsg>,
        event: SupervisionEvent,
        routes: &mut Arc<Routes>,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ProcessGroupChanged(GroupChangeMessage::Join(_, group, cells)) if group == GROUP => {
                cells.into_iter().filter(|c| !c.get_id().is_local()).for_each(|cell| routes.joined(cell));
            }
            SupervisionEvent::ProcessGroupChanged(GroupChangeMessage::Leave(_, group, cells)) if group == GROUP => {
                cells.iter().filter(|c| !c.get_id().is_local()).for_each(|cell| routes.left(cell.get_id()));
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_name_carries_the_node_id_and_name() {
        assert_eq!(parse_name(&actor_name(42, "xinshi.a")), Some((42, "xinshi.a".into())));
        assert_eq!(parse_name("xinshi.router.x.a"), None);
        assert_eq!(parse_name("other"), None);
    }
}
