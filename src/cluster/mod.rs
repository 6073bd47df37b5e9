//! The cluster (issue 12): several xinshi nodes over one shared store, connected by
//! ractor_cluster. This file is membership: the node-to-node listener, the seeds, dialing
//! lost members again, and the member list `GET /healthz` shows. [`router`] is each
//! node's one remotable actor, through which everything between nodes goes ([`link`]:
//! batches, [`wire`]: what they hold); [`placement`] decides which node owns a
//! conversation.
//!
//! Each node runs a ractor_cluster `NodeServer` on `cluster.listen` in transitive mode — a
//! node that connects to one member hears of the others and connects to them too — and
//! dials `cluster.seeds` at start. Node events (a connection opened, authenticated by the
//! shared cookie, lost) keep [`Members`] current. Every [`REDIAL`] a loop dials the seeds and
//! the members it lost that are not connected, so a member that restarts, or comes back
//! after a partition, is joined again without anyone's help. A single node (no `listen`)
//! runs none of this.

pub mod link;
pub mod placement;
pub mod router;
pub mod tls;
pub mod wire;

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use ractor_cluster::node::{NodeConnectionMode, NodeEventSubscription, NodeServerSessionInformation};
use ractor_cluster::{NodeServer, NodeServerMessage, NodeSessionMessage};
use serde::Serialize;

use self::router::{Router, RouterMsg, Routes};
use crate::clock::Clock;
use crate::config::ClusterConfig;
use crate::conversation::Directory;
use crate::services::Services;

/// How often lost members and seeds not connected are dialed.
pub const REDIAL: Duration = Duration::from_secs(1);

/// How long one dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest network message a node accepts from another (a batch is cut at 4 MiB, plus one
/// item of at most a reply's size).
pub const MAX_FRAME: u64 = 64 * 1024 * 1024;

/// Where a member stands, as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Connected, not yet authenticated.
    Joining,
    /// Connected and authenticated.
    Up,
    /// Its connection ended; dialed again every [`REDIAL`].
    Lost,
}

/// Another node of the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub name: String,
    /// Its node-to-node address (what it advertises).
    pub address: String,
    pub state: State,
    /// When it entered `state` (ms since the epoch).
    pub since_ms: i64,
}

/// The members this node knows, by name.
#[derive(Default)]
pub struct Members {
    by_name: Mutex<HashMap<String, Member>>,
    /// The connection (ractor_cluster's node session) to each member up.
    sessions: Mutex<HashMap<String, ActorRef<NodeSessionMessage>>>,
}

impl Members {
    /// Records `name` in `state`. A node becomes a member once it authenticated (it knows
    /// the cookie): other states only change members already known.
    fn set(&self, name: &str, address: &str, state: State, now_ms: i64) {
        let mut members = self.by_name.lock();
        if state != State::Up && !members.contains_key(name) {
            return;
        }
        let member = members.entry(name.to_owned()).or_insert_with(|| Member {
            name: name.to_owned(),
            address: address.to_owned(),
            state,
            since_ms: now_ms,
        });
        if !address.is_empty() {
            member.address = address.to_owned();
        }
        if member.state != state {
            member.state = state;
            member.since_ms = now_ms;
        }
    }

    /// Closes the connection to member `name` (it stopped answering): both sides then see
    /// it lost, and it is dialed again like any lost member.
    pub fn disconnect(&self, name: &str) {
        if let Some(session) = self.sessions.lock().remove(name) {
            tracing::warn!(member = %name, "cluster member silent; disconnecting it");
            session.stop(Some("silent".into()));
        }
    }

    /// Every member, by name.
    pub fn list(&self) -> Vec<Member> {
        let mut list: Vec<Member> = self.by_name.lock().values().cloned().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }
}

/// Keeps [`Members`] current from the node server's events.
struct Watch {
    members: Arc<Members>,
    clock: Arc<dyn Clock>,
}

impl Watch {
    fn note(&self, session: &NodeServerSessionInformation, state: State) {
        let Some(peer) = &session.peer_name else { return };
        // ractor_cluster names a node `name@hostname`; members are known by the name alone.
        let name = peer.name.rsplit_once('@').map_or(peer.name.as_str(), |(name, _)| name);
        // Two members that dial each other at once open two connections, and ractor_cluster
        // refuses one of them; what happens to that one says nothing about the member while
        // the other connection is up.
        let mut sessions = self.members.sessions.lock();
        let other_up = sessions.get(name).is_some_and(|s| s.get_id() != session.actor.get_id());
        match state {
            State::Up => drop(sessions.insert(name.to_owned(), session.actor.clone())),
            State::Joining | State::Lost if other_up => return,
            State::Lost => drop(sessions.remove(name)),
            State::Joining => {}
        }
        drop(sessions);
        self.members.set(name, &peer.connection_string, state, self.clock.now_ms());
        tracing::info!(member = %name, address = %peer.connection_string, ?state, "cluster member");
    }
}

impl NodeEventSubscription for Watch {
    fn node_session_opened(&self, session: NodeServerSessionInformation) {
        self.note(&session, State::Joining);
    }

    fn node_session_authenticated(&self, session: NodeServerSessionInformation) {
        self.note(&session, State::Up);
    }

    fn node_session_disconnected(&self, session: NodeServerSessionInformation) {
        self.note(&session, State::Lost);
    }
}

/// This node's part in the cluster.
pub struct Cluster {
    pub name: String,
    /// The node-to-node address other members dial.
    pub advertise: String,
    pub members: Arc<Members>,
    /// The routes to the other nodes (what the router keeps).
    pub routes: Arc<Routes>,
    server: ActorRef<NodeServerMessage>,
    router: ActorRef<RouterMsg>,
}

impl Cluster {
    /// Starts the node-to-node listener, the router and the dialing loop on the current
    /// runtime. The node id names the node when `cluster.name` is empty.
    pub async fn start(
        config: &ClusterConfig,
        services: &Arc<Services>,
        convs: &Arc<Directory>,
    ) -> std::io::Result<Arc<Cluster>> {
        let (node_id, clock) = (services.store.node_id(), services.clock.clone());
        let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        let listen: SocketAddr = config
            .listen
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| invalid(format!("cluster.listen {:?} names no address", config.listen)))?;
        let host = match config.advertise.as_str() {
            "" => config.listen.rsplit_once(':').map_or(config.listen.as_str(), |(host, _)| host).to_owned(),
            host => host.to_owned(),
        };
        // What ractor_cluster tells peers: this host, on the listener's port.
        let advertise = format!("{host}:{}", listen.port());
        let name = if config.name.is_empty() { format!("xinshi-{node_id}") } else { config.name.clone() };
        let tls = tls::NodeTls::load(config)?;
        let server = NodeServer::new(
            listen.port(),
            config.cookie.clone(),
            name.clone(),
            host,
            tls.as_ref().map(|tls| ractor_cluster::IncomingEncryptionMode::Tls(tls.acceptor.clone())),
            Some(NodeConnectionMode::Transitive),
        )
        .with_listen_addr(listen.ip())
        .with_max_inbound_frame_size(MAX_FRAME);
        let (server, _) = Actor::spawn(None, server, ())
            .await
            .map_err(|err| std::io::Error::other(format!("cluster listener on {listen}: {err}")))?;
        let members = Arc::new(Members::default());
        let watch = Watch { members: members.clone(), clock };
        server
            .cast(NodeServerMessage::SubscribeToEvents { id: "members".into(), subscription: Box::new(watch) })
            .map_err(|err| std::io::Error::other(err.to_string()))?;
        let routes = Routes::new(services, convs.clone(), name.clone(), members.clone(), config.suspect_ms);
        let (router, _) = Actor::spawn(Some(router::actor_name(node_id, &name)), Router, routes.clone())
            .await
            .map_err(|err| std::io::Error::other(format!("cluster router: {err}")))?;
        services.presence.connect(routes.clone());
        let cluster = Arc::new(Cluster { name, advertise, members, routes, server, router });
        let seeds: Vec<String> =
            config.seeds.iter().filter(|s| !is_self(s, &cluster.advertise, listen)).cloned().collect();
        tokio::spawn(redial(Arc::downgrade(&cluster), seeds, tls));
        tracing::info!(name = %cluster.name, %listen, advertise = %cluster.advertise, "cluster node started");
        Ok(cluster)
    }

    /// Stops the node-to-node listener and every connection to other members.
    pub fn stop(&self) {
        self.router.stop(None);
        self.server.stop(None);
    }
}

/// Whether `seed` is this node's own address (one seed list may serve every node).
fn is_self(seed: &str, advertise: &str, listen: SocketAddr) -> bool {
    seed == advertise || seed.parse::<SocketAddr>().is_ok_and(|seed| seed == listen)
}

/// Dials the seeds and lost members that are not connected, every [`REDIAL`], for as long
/// as the cluster lives.
async fn redial(cluster: std::sync::Weak<Cluster>, seeds: Vec<String>, tls: Option<tls::NodeTls>) {
    loop {
        let Some(cluster) = cluster.upgrade() else { return };
        let members = cluster.members.list();
        let connected: Vec<&str> =
            members.iter().filter(|m| m.state != State::Lost).map(|m| m.address.as_str()).collect();
        let mut targets: Vec<String> = seeds.iter().filter(|s| !connected.contains(&s.as_str())).cloned().collect();
        for member in members.iter().filter(|m| m.state == State::Lost) {
            if !targets.contains(&member.address) && member.address != cluster.advertise {
                targets.push(member.address.clone());
            }
        }
        for target in targets {
            let dialed = match &tls {
                None => {
                    tokio::time::timeout(DIAL_TIMEOUT, ractor_cluster::client_connect(&cluster.server, target.as_str()))
                        .await
                        .map(|r| r.map_err(|e| e.to_string()))
                }
                Some(tls) => {
                    let name = match tls::server_name(&target) {
                        Ok(name) => name,
                        Err(err) => {
                            tracing::warn!(%target, error = %err, "cannot dial a cluster member over TLS");
                            continue;
                        }
                    };
                    let dial = ractor_cluster::client_connect_enc(
                        &cluster.server,
                        target.as_str(),
                        tls.connector.clone(),
                        name,
                    );
                    tokio::time::timeout(DIAL_TIMEOUT, dial).await.map(|r| r.map_err(|e| e.to_string()))
                }
            };
            match dialed {
                Ok(Ok(())) => tracing::debug!(%target, "dialed a cluster member"),
                Ok(Err(err)) => tracing::debug!(%target, error = %err, "cluster member not reachable"),
                Err(_) => tracing::debug!(%target, "dialing a cluster member timed out"),
            }
        }
        drop(cluster);
        tokio::time::sleep(REDIAL).await;
    }
}
