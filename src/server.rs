//! Starting and stopping a server: the store, the core runtime for conversation actors,
//! and the actix HTTP/WebSocket server, all on a thread of their own.
//!
//! [`Server::start`] returns once the listener is bound (so port 0 works for tests);
//! [`Server::stop`] stops accepting, closes sockets, stops the actors and commits what the
//! pipeline still holds before it returns.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};

use crate::clock::{Clock, SystemClock};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::gateway::{self, AppState, PublicUrl, tls};
use crate::node::Node;
use crate::store::kv::FjallOptions;

/// A running server.
pub struct Server {
    node: Arc<Node>,
    bound: Bound,
    public: PublicUrl,
    handle: ServerHandle,
    thread: JoinHandle<io::Result<()>>,
}

fn threads(configured: usize) -> usize {
    if configured > 0 { configured } else { std::thread::available_parallelism().map_or(2, |n| n.get()) }
}

/// How long, after the store failed, the sockets get to receive their error replies before
/// the server stops.
pub const FAILURE_GRACE: Duration = Duration::from_millis(500);

/// Files held back from connections, on top of fjall's table cache: its journal and the
/// files a flush or compaction writes, the listeners, the runtimes' epoll and event files,
/// standard streams and the state file.
pub const FIXED_FILE_RESERVE: u64 = 64;

/// How the process's open files are shared out (see `limits.max_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileBudget {
    /// The open-file limit (RLIMIT_NOFILE, soft).
    pub limit: u64,
    /// fjall's table-file cache: 1/8 of the limit, at least 32 and at most 900 (fjall's
    /// own default).
    pub store_files: usize,
    /// All TCP connections (WebSockets and plain HTTP): the rest of the limit. The HTTP
    /// server stops accepting past it (connections then wait in the listen backlog).
    pub connections: usize,
    /// WebSockets: 15/16 of `connections`, so that a client past it can still be answered
    /// 503 and REST calls still get through.
    pub websockets: usize,
}

impl FileBudget {
    /// The budget for an open-file limit of `limit`.
    pub fn for_limit(limit: u64) -> FileBudget {
        let store_files = (limit / 8).clamp(32, 900);
        let connections = limit.saturating_sub(store_files + FIXED_FILE_RESERVE).max(1);
        let websockets = (connections - connections / 16).max(1);
        let usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        FileBudget {
            limit,
            store_files: usize(store_files),
            connections: usize(connections),
            websockets: usize(websockets),
        }
    }

    /// The WebSocket cap for a configured `limits.max_connections` (0: derived).
    pub fn max_connections(&self, configured: usize) -> usize {
        match configured {
            0 => self.websockets,
            n if n > self.websockets => {
                tracing::warn!(
                    configured = n,
                    allowed = self.websockets,
                    file_limit = self.limit,
                    "limits.max_connections is above what the open-file limit allows: lowered"
                );
                self.websockets
            }
            n => n,
        }
    }
}

/// Raises the soft open-file limit to the hard one (best effort) and returns the soft limit
/// in force.
pub fn raise_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot read the open-file limit; assuming 1024");
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        } else {
            tracing::warn!(error = %io::Error::last_os_error(), "cannot raise the open-file limit to its hard limit");
        }
    }
    // RLIM_INFINITY (or anything huge) is treated as 2^20, the kernel's usual nr_open.
    limit.rlim_cur.min(1 << 20)
}

impl Server {
    /// Starts a server with the system clock.
    pub fn start(config: Config) -> io::Result<Server> {
        Server::start_with_clock(config, Arc::new(SystemClock))
    }

    /// Starts a server whose notion of time is `clock`.
    pub fn start_with_clock(mut config: Config, clock: Arc<dyn Clock>) -> io::Result<Server> {
        // ractor_cluster's TLS brings rustls's aws-lc-rs provider in beside our *ring* one;
        // with two, rustls cannot pick a process default. Ours is *ring* (a no-op if set).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let budget = FileBudget::for_limit(raise_file_limit());
        config.limits.max_connections = budget.max_connections(config.limits.max_connections);
        tracing::info!(
            file_limit = budget.limit,
            store_files = budget.store_files,
            connections = budget.connections,
            max_connections = config.limits.max_connections,
            "open files shared out"
        );
        let engine = FjallOptions { max_cached_files: budget.store_files, ..FjallOptions::default() };
        let (ready_tx, ready_rx) = sync_channel(1);
        let thread = std::thread::Builder::new().name("xinshi".into()).spawn(move || {
            let core = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads(config.server.core_threads))
                .thread_name("xinshi-core")
                .enable_all()
                .build()?;
            let node = match Node::open_with(config.clone(), clock, core.handle().clone(), &engine)
                .and_then(|node| crate::session::supervisor::start(&node).map(|()| node))
            {
                Ok(node) => node,
                Err(err) => {
                    let dir = config.storage.location();
                    let _ = ready_tx.send(Err(io::Error::other(format!("cannot open the store in {dir}: {err}"))));
                    return Ok(());
                }
            };
            if !config.cluster.listen.is_empty() {
                let started = core.block_on(Cluster::start(&config.cluster, &node.services, &node.convs));
                match started {
                    Ok(cluster) => drop(node.cluster.set(cluster)),
                    Err(err) => {
                        node.shutdown();
                        let _ = ready_tx.send(Err(err));
                        return Ok(());
                    }
                }
            }
            let system = actix_web::rt::System::new();
            let served = system.block_on(serve(config, budget, node.clone(), ready_tx));
            node.shutdown();
            core.shutdown_timeout(Duration::from_secs(2));
            served
        })?;
        match ready_rx.recv() {
            Ok(Ok((node, bound, public, handle))) => Ok(Server { node, bound, public, handle, thread }),
            Ok(Err(err)) => {
                let _ = thread.join();
                Err(err)
            }
            Err(_) => Err(io::Error::other("the server thread ended before it was ready")),
        }
    }

    /// Becomes `Some(why)` when the store failed for good; the server then stops by
    /// itself (see [`crate::store::Store::failure`]). The `xinshi` binary exits with 70.
    pub fn failure(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.node.store.failure()
    }

    /// The node's shared services (for tests and embedding).
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The address the server listens on: the plain listener's, or else the TLS one's.
    pub fn addr(&self) -> SocketAddr {
        self.bound.plain.or(self.bound.tls).expect("at least one listener")
    }

    /// The address of the TLS listener, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.bound.tls
    }

    /// The base URL for the SDKs' `server` option (`http://host:port` or `https://…`).
    pub fn http_url(&self) -> String {
        self.public.http_url()
    }

    /// The WebSocket URL for the SDKs' `RTMServers` option (`ws://host:port/` or `wss://…`).
    pub fn ws_url(&self) -> String {
        self.public.ws_url()
    }

    /// Stops gracefully and waits until everything queued is committed.
    pub async fn stop(self) -> io::Result<()> {
        self.node.close_sockets();
        self.handle.stop(true).await;
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("server thread panicked"))?
    }

    /// [`Server::stop`] for callers outside any async runtime.
    pub fn stop_blocking(self) -> io::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(self.stop())
    }
}

type Ready = io::Result<(Arc<Node>, Bound, PublicUrl, ServerHandle)>;

/// The addresses actually bound.
#[derive(Debug, Clone, Copy)]
struct Bound {
    plain: Option<SocketAddr>,
    tls: Option<SocketAddr>,
}

fn bind(addr: &str) -> io::Result<Option<(TcpListener, SocketAddr)>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let listener =
        TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    Ok(Some((listener, bound)))
}

async fn serve(
    config: Config,
    budget: FileBudget,
    node: Arc<Node>,
    ready: std::sync::mpsc::SyncSender<Ready>,
) -> io::Result<()> {
    let listeners = (|| {
        let tls_config = match config.server.tls_listen.is_empty() {
            true => None,
            false => Some(tls::server_config(&config.server.tls_cert, &config.server.tls_key)?),
        };
        Ok::<_, io::Error>((bind(&config.server.listen)?, bind(&config.server.tls_listen)?, tls_config))
    })();
    let (plain, tls, tls_config) = match listeners {
        Ok(listeners) => listeners,
        Err(err) => {
            let _ = ready.send(Err(err));
            return Ok(());
        }
    };
    let bound = Bound { plain: plain.as_ref().map(|p| p.1), tls: tls.as_ref().map(|t| t.1) };
    let configured = &config.server.public_url;
    let public = match (bound.plain, bound.tls) {
        (Some(plain), _) => PublicUrl::new(configured, plain, false),
        (None, Some(tls)) => PublicUrl::new(configured, tls, true),
        (None, None) => unreachable!("the configuration names at least one listener"),
    };
    let tls_public = bound.tls.filter(|_| configured.trim().is_empty()).map(|tls| PublicUrl::new("", tls, true));
    if let Some(cluster) = node.cluster.get() {
        cluster.routes.set_ws_url(public.ws_url());
    }
    let state = web::Data::new(AppState { node: node.clone(), public: public.clone(), tls_public });
    let workers = threads(config.server.workers);
    let mut server = HttpServer::new(move || App::new().app_data(state.clone()).configure(gateway::configure))
        .workers(workers)
        // Past the open-file budget, connections wait in the backlog rather than take the
        // files the store needs (a failed flush poisons it).
        .max_connections(budget.connections.div_ceil(workers).max(1))
        // Small frames (acks, pushes) must leave at once: without TCP_NODELAY, Nagle's
        // algorithm and the peer's delayed ACK held each round trip ~10 ms (measured).
        .tcp_nodelay(true)
        .disable_signals()
        .shutdown_timeout(5);
    if let Some((listener, _)) = plain {
        server = server.listen(listener)?;
    }
    if let (Some((listener, _)), Some(tls_config)) = (tls, tls_config) {
        server = server.listen_rustls_0_23(listener, tls_config)?;
    }
    let server = server.run();
    let _ = ready.send(Ok((node.clone(), bound, public, server.handle())));
    actix_web::rt::spawn(stop_on_store_failure(node, server.handle()));
    server.await
}

/// Stops the server once the store has failed for good: the pending requests have had
/// their error replies queued; they get [`FAILURE_GRACE`] to leave, then every socket is
/// closed. A server that cannot write must not stay up.
async fn stop_on_store_failure(node: Arc<Node>, handle: ServerHandle) {
    let mut failure = node.store.failure();
    let Ok(why) = failure.wait_for(Option::is_some).await.map(|why| why.clone()) else { return };
    tracing::error!(error = why.as_deref().unwrap_or_default(), "the store failed: stopping the server");
    actix_web::rt::time::sleep(FAILURE_GRACE).await;
    node.close_sockets();
    handle.stop(true).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_limit_is_shared_out() {
        let budget = FileBudget::for_limit(20_000);
        assert_eq!(budget.store_files, 900);
        assert_eq!(budget.connections, 20_000 - 900 - 64);
        assert_eq!(budget.websockets, budget.connections - budget.connections / 16);
        assert!(budget.websockets + budget.store_files + 64 < 20_000);
        let small = FileBudget::for_limit(256);
        assert_eq!((small.store_files, small.connections, small.websockets), (32, 160, 150));
        assert_eq!(FileBudget::for_limit(1024).store_files, 128);
        assert!(FileBudget::for_limit(10).websockets >= 1);
    }

    #[test]
    fn a_configured_cap_above_the_budget_is_lowered() {
        let budget = FileBudget::for_limit(1024);
        assert_eq!(budget.max_connections(0), budget.websockets);
        assert_eq!(budget.max_connections(100_000), budget.websockets);
        assert_eq!(budget.max_connections(10), 10);
    }
}
