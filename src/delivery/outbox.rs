//! The outbound side of a socket: one queue per WebSocket, shared by every client logged in
//! on it, drained by the socket's task.
//!
//! Anything — a session actor replying, a conversation actor fanning out — hands frames to
//! an [`Outbox`] without waiting. Frames leave in the order they were queued, so a reply
//! queued before the notifications it caused reaches the socket first even when those go
//! to other clients on the same socket.
//!
//! The queue is bounded in bytes: a client that stops reading is disconnected (close code
//! 1008, "slow reader") instead of growing server memory. The socket task may be stuck in a
//! write to that client at the time; [`Conn::aborted`] wakes it.
//!
//! Three bounds (issue 9):
//! - **Backlog** (`outbound_queue_bytes`): frames up to that size count toward it; past it the
//!   socket is a slow reader.
//! - **One large reply**: a frame bigger than `outbound_queue_bytes` (only replies get that
//!   big) does not count toward the backlog; such frames have their own allowance,
//!   `max_reply_bytes` in all, so a client that reads promptly gets a reply of any size up
//!   to that. A reply above `max_reply_bytes` is replaced by an error with the request's `i`
//!   ([`Outbox::send`]).
//! - **Node-wide and in time** ([`Outbound`]): a sweeper closes, about twice a second,
//!   sockets whose queue has not moved for `outbound_stall_secs`, and, while all queues
//!   together hold more than `outbound_total_bytes`, the ones holding the most.
//!
//! Pushing a frame costs two uncontended atomic operations on the socket's own counters;
//! the node-wide sum is only taken by the sweeper.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::config::LimitsConfig;
use crate::error::{Code, ImError};
use crate::protocol::frame;
use crate::protocol::{CommandType, GenericCommand};

/// Close code for a socket whose reader fell too far behind.
pub const CLOSE_SLOW_READER: u16 = 1008;

/// Its close reason.
pub const SLOW_READER: &str = "slow reader: outbound queue full";

/// The close reason of a queue that did not move for `outbound_stall_secs`.
pub const STALLED: &str = "slow reader: outbound queue stalled";

/// The close reason of a socket closed to bring the node's queues under
/// `outbound_total_bytes`.
pub const NODE_FULL: &str = "slow reader: server outbound memory full";

/// Whether the socket task adds a `peerId` to a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// The frame is sent as encoded.
    AsIs,
    /// A reply: add this client's id when the socket carries more than one client.
    IfShared(Arc<str>),
    /// A push: always name the client. The JS SDK routes a push without `peerId` to its
    /// first client, which does not exist yet while a login is finishing.
    Always(Arc<str>),
}

/// What the socket task receives.
#[derive(Debug)]
pub enum Out {
    /// An encoded command, and whether to add `peerId` to it.
    Frame { bytes: Bytes, peer: Peer },
    /// Close the socket with this code and reason.
    Close { code: u16, reason: &'static str },
}

/// State shared by the socket task and everyone holding an [`Outbox`] of it.
#[derive(Debug)]
pub struct Conn {
    tx: mpsc::UnboundedSender<Out>,
    /// Bytes queued in frames of at most `limit` bytes (the backlog).
    queued: AtomicUsize,
    /// Bytes queued in frames bigger than `limit` (large replies).
    large: AtomicUsize,
    limit: usize,
    max_reply: usize,
    /// Frames written so far: the sweeper's sign of progress.
    written: AtomicU64,
    closing: AtomicBool,
    /// The code and reason of the first [`Conn::close`].
    close_as: OnceLock<(u16, &'static str)>,
    /// Wakes a socket task stuck writing to a client that does not read.
    abort: Notify,
    /// The node's count of queued bytes.
    totals: Arc<Totals>,
    /// What was queued when the socket task finished (and left the node's count then).
    detached: AtomicUsize,
}

/// The node-wide count of queued bytes, kept on the hot path so the sweeper can be woken as
/// soon as it passes `outbound_total_bytes`.
#[derive(Debug, Default)]
pub struct Totals {
    bytes: AtomicUsize,
    /// `outbound_total_bytes` (0: none).
    bound: usize,
    /// Set when the sweeper has been woken and has not run yet.
    alarmed: AtomicBool,
    wake: Notify,
}

impl Totals {
    pub fn new(bound: usize) -> Totals {
        Totals { bound, ..Default::default() }
    }

    fn add(&self, len: usize) {
        let total = self.bytes.fetch_add(len, Ordering::Relaxed) + len;
        if self.bound > 0 && total > self.bound && !self.alarmed.swap(true, Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }

    fn sub(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::Relaxed);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Frames never written, dropped with the socket task's receiver, less what left the
        // node's count when the task finished (wrapping: pushes racing the finish may have
        // been taken back since).
        self.totals.sub(self.queued().wrapping_sub(self.detached.load(Ordering::Relaxed)));
    }
}

impl Conn {
    /// A socket's queue with a backlog of `limit` bytes and replies up to `max_reply`
    /// bytes; the receiver goes to the socket task.
    pub fn new(limit: usize, max_reply: usize) -> (Arc<Conn>, mpsc::UnboundedReceiver<Out>) {
        Conn::counted(limit, max_reply, Arc::default())
    }

    /// [`Conn::new`], counted in the node's `totals`.
    pub fn counted(limit: usize, max_reply: usize, totals: Arc<Totals>) -> (Arc<Conn>, mpsc::UnboundedReceiver<Out>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let conn = Conn {
            tx,
            queued: AtomicUsize::new(0),
            large: AtomicUsize::new(0),
            limit,
            max_reply,
            written: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            close_as: OnceLock::new(),
            abort: Notify::new(),
            totals,
            detached: AtomicUsize::new(0),
        };
        (Arc::new(conn), rx)
    }

    /// The counter a frame of `len` bytes counts toward, and its bound.
    fn account(&self, len: usize) -> (&AtomicUsize, usize) {
        if len > self.limit { (&self.large, self.max_reply) } else { (&self.queued, self.limit) }
    }

    /// Queues a frame, unless the socket is closing. Past the byte limit, the socket is
    /// closed as a slow reader.
    pub fn push(&self, bytes: Bytes, peer: Peer) {
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        let len = bytes.len();
        let (counter, bound) = self.account(len);
        if counter.fetch_add(len, Ordering::Relaxed) + len > bound {
            counter.fetch_sub(len, Ordering::Relaxed);
            self.close(CLOSE_SLOW_READER, SLOW_READER);
            return;
        }
        self.totals.add(len);
        if self.tx.send(Out::Frame { bytes, peer }).is_err() {
            counter.fetch_sub(len, Ordering::Relaxed);
            self.totals.sub(len);
        }
    }

    /// Asks the socket task to close the socket (once), even if it is stuck writing.
    pub fn close(&self, code: u16, reason: &'static str) {
        if !self.closing.swap(true, Ordering::Relaxed) {
            let _ = self.close_as.set((code, reason));
            let _ = self.tx.send(Out::Close { code, reason });
            self.abort.notify_one();
        }
    }

    /// Called by the socket task when it ends: nothing more is queued, and the queue no
    /// longer counts toward the node's total.
    pub fn finish(&self) {
        self.closing.store(true, Ordering::Relaxed);
        let queued = self.queued();
        self.detached.store(queued, Ordering::Relaxed);
        self.totals.sub(queued);
    }

    /// Whether [`Conn::close`] (or [`Conn::finish`]) was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// The code and reason [`Conn::close`] was given (1008 if it was not called).
    pub fn close_reason(&self) -> (u16, &'static str) {
        self.close_as.get().copied().unwrap_or((CLOSE_SLOW_READER, SLOW_READER))
    }

    /// Resolves when [`Conn::close`] has been called (once per call).
    pub async fn aborted(&self) {
        self.abort.notified().await
    }

    /// Called by the socket task after writing a frame of `len` bytes.
    pub fn sent(&self, len: usize) {
        self.account(len).0.fetch_sub(len, Ordering::Relaxed);
        self.totals.sub(len);
        self.written.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed) + self.large.load(Ordering::Relaxed)
    }

    /// The largest reply this socket is sent.
    pub fn max_reply(&self) -> usize {
        self.max_reply
    }
}

/// How often the sweeper looks at every queue.
const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// Least time between two sweeps when the node's total keeps waking the sweeper.
const SWEEP_GAP: Duration = Duration::from_millis(20);

/// The node's sockets, for the node-wide and time bounds on their queues.
pub struct Outbound {
    conns: Mutex<HashMap<u64, Watched>>,
    next_id: AtomicU64,
    sweeping: AtomicBool,
    totals: Arc<Totals>,
}

impl Outbound {
    /// With `outbound_total_bytes` = `bound` (0: none).
    pub fn new(bound: usize) -> Outbound {
        Outbound {
            conns: Mutex::default(),
            next_id: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
            totals: Arc::new(Totals::new(bound)),
        }
    }

    /// A socket's queue ([`Conn::new`]) counted in the node's total.
    pub fn conn(&self, limit: usize, max_reply: usize) -> (Arc<Conn>, mpsc::UnboundedReceiver<Out>) {
        Conn::counted(limit, max_reply, self.totals.clone())
    }
}

struct Watched {
    conn: Arc<Conn>,
    /// `conn.written` when last looked at, and since when the queue has been non-empty
    /// without a frame written.
    written: u64,
    since: Instant,
}

/// A socket on the node's list; dropping it takes the socket off.
pub struct Registration {
    outbound: Arc<Outbound>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.outbound.conns.lock().remove(&self.id);
    }
}

impl Outbound {
    /// Puts a socket's queue on the list (and starts the sweeper, on `runtime`, with the
    /// first one; it sweeps by `limits`).
    pub fn register(
        this: &Arc<Outbound>,
        runtime: &tokio::runtime::Handle,
        limits: &LimitsConfig,
        conn: Arc<Conn>,
    ) -> Registration {
        let id = this.next_id.fetch_add(1, Ordering::Relaxed);
        let watched = Watched { conn, written: 0, since: Instant::now() };
        this.conns.lock().insert(id, watched);
        if !this.sweeping.swap(true, Ordering::AcqRel) {
            runtime.spawn(sweeper(Arc::downgrade(this), limits.clone()));
        }
        Registration { outbound: this.clone(), id }
    }

    /// Bytes queued for every open socket of the node together (a push shared by many
    /// sockets counts for each; the queues of closing sockets, about to be freed, do not).
    pub fn queued(&self) -> usize {
        self.conns.lock().values().filter(|w| !w.conn.is_closing()).map(|w| w.conn.queued()).sum()
    }

    /// One pass: closes the stalled queues, then the fullest ones while the node is over
    /// its total.
    fn sweep(&self, limits: &LimitsConfig, now: Instant) {
        let stall = Duration::from_secs(limits.outbound_stall_secs);
        let mut closing: Vec<(Arc<Conn>, &'static str)> = Vec::new();
        let mut backlog: Vec<(usize, Instant, Arc<Conn>)> = Vec::new();
        let mut total = 0usize;
        for watched in self.conns.lock().values_mut() {
            let conn = &watched.conn;
            let (queued, written) = (conn.queued(), conn.written.load(Ordering::Relaxed));
            if queued == 0 || written != watched.written {
                watched.written = written;
                watched.since = now;
            }
            // A closing socket's queue is freed as its task ends.
            if queued == 0 || conn.is_closing() {
                continue;
            }
            if !stall.is_zero() && now.duration_since(watched.since) >= stall {
                closing.push((conn.clone(), STALLED));
                continue;
            }
            total += queued;
            backlog.push((queued, watched.since, conn.clone()));
        }
        let bound = limits.outbound_total_bytes;
        if bound > 0 && total > bound {
            // The most queued first; among equals, the longest without progress.
            backlog.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for (queued, _, conn) in backlog {
                if total <= bound {
                    break;
                }
                total -= queued;
                closing.push((conn, NODE_FULL));
            }
        }
        for (conn, reason) in closing {
            tracing::info!(queued = conn.queued(), reason, "closing a slow reader");
            conn.close(CLOSE_SLOW_READER, reason);
        }
    }
}

/// Runs [`Outbound::sweep`] until the node is gone.
/// Runs [`Outbound::sweep`] every [`SWEEP_EVERY`], and at once (but at most every
/// [`SWEEP_GAP`]) when the node's total passes its bound; until the node is gone.
async fn sweeper(outbound: Weak<Outbound>, limits: LimitsConfig) {
    let Some(totals) = outbound.upgrade().map(|o| o.totals.clone()) else {
        return;
    };
    loop {
        tokio::select! {
            () = tokio::time::sleep(SWEEP_EVERY) => {}
            () = totals.wake.notified() => {}
        }
        totals.alarmed.store(false, Ordering::Relaxed);
        let Some(outbound) = outbound.upgrade() else {
            return;
        };
        outbound.sweep(&limits, Instant::now());
        drop(outbound);
        tokio::time::sleep(SWEEP_GAP).await;
    }
}

/// The error that replaces a reply of `len` bytes, bigger than `max`: 4310 for
/// `conv/query`, 4311 for `logs`, else 4200, with the sizes in the detail.
fn reply_too_large(cmd: &GenericCommand, len: usize, max: usize) -> GenericCommand {
    let code = match cmd.cmd.and_then(|c| CommandType::try_from(c).ok()) {
        Some(CommandType::Conv) => Code::ConversationQueryFailed,
        Some(CommandType::Logs) => Code::ConversationLogFailed,
        _ => Code::InternalError,
    };
    let detail = format!("the reply is {len} bytes, over the server's limit of {max} (max_reply_bytes): ask for fewer");
    frame::error(cmd.i, &ImError::with_detail(code, detail))
}

/// Encodes a reply; one over `max` bytes is replaced by an error with its `i`.
pub fn encode_reply(cmd: &GenericCommand, max: usize) -> Bytes {
    let bytes = frame::encode(cmd);
    if bytes.len() <= max {
        return bytes;
    }
    tracing::info!(len = bytes.len(), max, cmd = ?cmd.cmd, "reply too large, refused");
    frame::encode(&reply_too_large(cmd, bytes.len(), max))
}

/// Where frames for one client on one socket go.
#[derive(Debug, Clone)]
pub struct Outbox {
    conn: Arc<Conn>,
    peer: Arc<str>,
}

impl Outbox {
    pub fn new(conn: Arc<Conn>, peer: Arc<str>) -> Self {
        Outbox { conn, peer }
    }

    /// Encodes and queues a reply for this client. A reply over `max_reply_bytes` is
    /// replaced by an error with its `i`.
    pub fn send(&self, cmd: &GenericCommand) {
        self.send_encoded(encode_reply(cmd, self.conn.max_reply()));
    }

    /// Queues a reply encoded already ([`encode_reply`]).
    pub fn send_encoded(&self, bytes: Bytes) {
        self.conn.push(bytes, Peer::IfShared(self.peer.clone()));
    }

    /// Encodes and queues a push for this client.
    pub fn push(&self, cmd: &GenericCommand) {
        self.push_frame(frame::encode(cmd));
    }

    /// Queues an already encoded push (one encoding shared by many recipients).
    pub fn push_frame(&self, bytes: Bytes) {
        self.conn.push(bytes, Peer::Always(self.peer.clone()));
    }

    /// Queues a frame exactly as encoded (it already names the client if it needs to).
    pub fn send_raw(&self, bytes: Bytes) {
        self.conn.push(bytes, Peer::AsIs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_their_order_and_a_full_queue_closes() {
        let (conn, mut rx) = Conn::new(10, 100);
        let outbox = Outbox::new(conn.clone(), "alice".into());
        outbox.push_frame(Bytes::from_static(b"12345"));
        outbox.send_raw(Bytes::from_static(b"678"));
        outbox.push_frame(Bytes::from_static(b"too much"));
        outbox.push_frame(Bytes::from_static(b"x"));
        let got: Vec<Out> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            matches!(&got[0], Out::Frame { bytes, peer: Peer::Always(p) } if &bytes[..] == b"12345" && &**p == "alice")
        );
        assert!(matches!(&got[1], Out::Frame { peer: Peer::AsIs, .. }));
        assert!(matches!(&got[2], Out::Close { code: CLOSE_SLOW_READER, .. }));
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Out>) -> Vec<Out> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[test]
    fn a_large_reply_does_not_count_toward_the_backlog() {
        let (conn, mut rx) = Conn::new(10, 100);
        conn.push(Bytes::from_static(b"12345678"), Peer::AsIs);
        conn.push(Bytes::from(vec![0; 60]), Peer::AsIs);
        conn.push(Bytes::from_static(b"12"), Peer::AsIs);
        assert_eq!(conn.queued(), 70);
        assert!(drain(&mut rx).iter().all(|o| matches!(o, Out::Frame { .. })));
        conn.sent(60);
        conn.sent(8);
        conn.sent(2);
        assert_eq!(conn.queued(), 0);
        // Large frames share `max_reply` bytes between them.
        conn.push(Bytes::from(vec![0; 60]), Peer::AsIs);
        conn.push(Bytes::from(vec![0; 60]), Peer::AsIs);
        let got = drain(&mut rx);
        assert!(matches!(got.last(), Some(Out::Close { code: CLOSE_SLOW_READER, .. })), "{got:?}");
    }

    #[test]
    fn a_reply_over_the_cap_becomes_an_error_with_its_i() {
        let (conn, mut rx) = Conn::new(10, 200);
        let outbox = Outbox::new(conn, "alice".into());
        let mut reply = frame::reply(Some(7), CommandType::Logs, None);
        reply.logs_message = Some(crate::protocol::LogsCommand {
            logs: vec![crate::protocol::LogItem { data: Some("x".repeat(300)), ..Default::default() }],
            ..Default::default()
        });
        outbox.send(&reply);
        let Some(Out::Frame { bytes, .. }) = rx.try_recv().ok() else { panic!("a frame") };
        let got = frame::decode_binary(&bytes).unwrap();
        assert_eq!((got.i, got.cmd), (Some(7), Some(CommandType::Error as i32)));
        assert_eq!(got.error_message.unwrap().code, 4311);
    }

    fn watch(outbound: &Outbound, conn: &Arc<Conn>, since: Instant) {
        let id = outbound.next_id.fetch_add(1, Ordering::Relaxed);
        outbound.conns.lock().insert(id, Watched { conn: conn.clone(), written: 0, since });
    }

    #[test]
    fn the_sweeper_closes_stalled_queues_and_the_fullest_past_the_node_total() {
        let limits = LimitsConfig { outbound_total_bytes: 100, outbound_stall_secs: 10, ..Default::default() };
        let outbound = Outbound::new(0);
        let start = Instant::now();
        let conns: Vec<_> = (0..4).map(|_| Conn::new(1000, 1000)).collect();
        for (conn, _) in &conns {
            watch(&outbound, conn, start);
        }
        let (idle, reading, big, small) = (&conns[0].0, &conns[1].0, &conns[2].0, &conns[3].0);
        reading.push(Bytes::from(vec![0; 30]), Peer::AsIs);
        big.push(Bytes::from(vec![0; 60]), Peer::AsIs);
        small.push(Bytes::from(vec![0; 40]), Peer::AsIs);
        // 130 bytes queued: the fullest goes.
        outbound.sweep(&limits, start);
        assert!(big.is_closing() && !small.is_closing() && !reading.is_closing() && !idle.is_closing());
        assert_eq!(big.close_reason(), (CLOSE_SLOW_READER, NODE_FULL));
        // Under the total now; 10 s later, what did not move is stalled.
        outbound.sweep(&limits, start + Duration::from_secs(5));
        reading.sent(30);
        reading.push(Bytes::from(vec![0; 30]), Peer::AsIs);
        outbound.sweep(&limits, start + Duration::from_secs(10));
        assert!(small.is_closing() && !reading.is_closing() && !idle.is_closing());
        assert_eq!(small.close_reason(), (CLOSE_SLOW_READER, STALLED));
    }

    #[test]
    fn the_node_total_follows_every_queue_and_wakes_the_sweeper_past_its_bound() {
        let totals = Arc::new(Totals::new(100));
        let (a, rx_a) = Conn::counted(1000, 1000, totals.clone());
        let (b, rx_b) = Conn::counted(1000, 1000, totals.clone());
        a.push(Bytes::from(vec![0; 60]), Peer::AsIs);
        b.push(Bytes::from(vec![0; 30]), Peer::AsIs);
        assert_eq!(totals.bytes.load(Ordering::Relaxed), 90);
        assert!(!totals.alarmed.load(Ordering::Relaxed));
        b.push(Bytes::from(vec![0; 30]), Peer::AsIs);
        assert!(totals.alarmed.load(Ordering::Relaxed), "past 100 bytes");
        a.sent(60);
        assert_eq!(totals.bytes.load(Ordering::Relaxed), 60);
        drop(rx_b);
        b.push(Bytes::from(vec![0; 30]), Peer::AsIs);
        assert_eq!(totals.bytes.load(Ordering::Relaxed), 60, "a frame for a gone task is not counted");
        b.finish();
        assert_eq!(totals.bytes.load(Ordering::Relaxed), 0, "a finished queue leaves the total");
        b.push(Bytes::from(vec![0; 30]), Peer::AsIs);
        drop(b);
        assert_eq!(totals.bytes.load(Ordering::Relaxed), 0, "and is not taken off twice");
        a.push(Bytes::from(vec![0; 50]), Peer::AsIs);
        drop((a, rx_a));
        assert_eq!(totals.bytes.load(Ordering::Relaxed), 0, "a dropped queue leaves the total");
    }
}
