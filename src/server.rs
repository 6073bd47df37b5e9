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
use crate::gateway::{self, AppState, PublicUrl};
use crate::node::Node;

/// A running server.
pub struct Server {
    node: Arc<Node>,
    addr: SocketAddr,
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
            Ok(Ok((node, addr, public, handle))) => Ok(Server { node, addr, public, handle, thread }),
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

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for the SDKs' `server` option (`http://host:port`).
    pub fn http_url(&self) -> String {
        self.public.http_url()
    }

    /// The WebSocket URL for the SDKs' `RTMServers` option (`ws://host:port/`).
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

type Ready = io::Result<(Arc<Node>, SocketAddr, PublicUrl, ServerHandle)>;

async fn serve(config: Config, node: Arc<Node>, ready: std::sync::mpsc::SyncSender<Ready>) -> io::Result<()> {
    let bound = TcpListener::bind(&config.server.listen).and_then(|listener| {
        let addr = listener.local_addr()?;
        Ok((listener, addr))
    });
    let (listener, addr) = match bound {
        Ok(bound) => bound,
        Err(err) => {
            let _ = ready
                .send(Err(io::Error::new(err.kind(), format!("cannot listen on {}: {err}", config.server.listen))));
            return Ok(());
        }
    };
    let public = PublicUrl::new(&config.server.public_url, addr);
    let state = web::Data::new(AppState { node: node.clone(), public: public.clone() });
    let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(gateway::configure))
        .workers(threads(config.server.workers))
        // Small frames (acks, pushes) must leave at once: without TCP_NODELAY, Nagle's
        // algorithm and the peer's delayed ACK held each round trip ~10 ms (measured).
        .tcp_nodelay(true)
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
    let _ = ready.send(Ok((node, addr, public, server.handle())));
    server.await
}
