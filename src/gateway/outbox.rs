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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::protocol::GenericCommand;
use crate::protocol::frame;

/// Close code for a socket whose reader fell too far behind.
pub const CLOSE_SLOW_READER: u16 = 1008;

/// Its close reason.
pub const SLOW_READER: &str = "slow reader: outbound queue full";

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
    queued: AtomicUsize,
    limit: usize,
    closing: AtomicBool,
    /// Wakes a socket task stuck writing to a client that does not read.
    abort: Notify,
}

impl Conn {
    /// A socket's queue; the receiver goes to the socket task.
    pub fn new(limit: usize) -> (Arc<Conn>, mpsc::UnboundedReceiver<Out>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let conn =
            Conn { tx, queued: AtomicUsize::new(0), limit, closing: AtomicBool::new(false), abort: Notify::new() };
        (Arc::new(conn), rx)
    }

    /// Queues a frame, unless the socket is closing. Past the byte limit, the socket is
    /// closed as a slow reader.
    pub fn push(&self, bytes: Bytes, peer: Peer) {
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        let len = bytes.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > self.limit {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.close(CLOSE_SLOW_READER, SLOW_READER);
            return;
        }
        if self.tx.send(Out::Frame { bytes, peer }).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
        }
    }

    /// Asks the socket task to close the socket (once), even if it is stuck writing.
    pub fn close(&self, code: u16, reason: &'static str) {
        if !self.closing.swap(true, Ordering::Relaxed) {
            let _ = self.tx.send(Out::Close { code, reason });
            self.abort.notify_one();
        }
    }

    /// Resolves when [`Conn::close`] has been called (once per call).
    pub async fn aborted(&self) {
        self.abort.notified().await
    }

    /// Called by the socket task after writing a frame of `len` bytes.
    pub fn sent(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::Relaxed);
    }
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

    /// Encodes and queues a reply for this client.
    pub fn send(&self, cmd: &GenericCommand) {
        self.conn.push(frame::encode(cmd), Peer::IfShared(self.peer.clone()));
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
        let (conn, mut rx) = Conn::new(10);
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
}
