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
use crate::config::Config;
use crate::gateway::{self, AppState, PublicUrl, tls};
use crate::node::Node;

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

impl Server {
    /// Starts a server with the system clock.
    pub fn start(config: Config) -> io::Result<Server> {
        Server::start_with_clock(config, Arc::new(SystemClock))
    }

    /// Starts a server whose notion of time is `clock`.
    pub fn start_with_clock(config: Config, clock: Arc<dyn Clock>) -> io::Result<Server> {
        let (ready_tx, ready_rx) = sync_channel(1);
        let thread = std::thread::Builder::new().name("xinshi".into()).spawn(move || {
            let core = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads(config.server.core_threads))
                .thread_name("xinshi-core")
                .enable_all()
                .build()?;
            let node = match Node::open(config.clone(), clock, core.handle().clone()) {
                Ok(node) => node,
                Err(err) => {
                    let _ = ready_tx.send(Err(io::Error::other(format!("cannot open the store: {err}"))));
                    return Ok(());
                }
            };
            let system = actix_web::rt::System::new();
            let served = system.block_on(serve(config, node.clone(), ready_tx));
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

async fn serve(config: Config, node: Arc<Node>, ready: std::sync::mpsc::SyncSender<Ready>) -> io::Result<()> {
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
    let state = web::Data::new(AppState { node: node.clone(), public: public.clone(), tls_public });
    let mut server = HttpServer::new(move || App::new().app_data(state.clone()).configure(gateway::configure))
        .workers(threads(config.server.workers))
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
    let _ = ready.send(Ok((node, bound, public, server.handle())));
    server.await
}
