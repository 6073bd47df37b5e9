//! Answering a request: its address — the node and session that asked, and the request's
//! `i` — resolved to that session's outbox. Locally the outbox is known when the request
//! comes in; a request forwarded from another node is answered through
//! [`Peers`](super::remote::Peers), by the number that node gave it.
//!
//! Every request that carries an `i` gets an answer (the SDK otherwise waits 20 s): a
//! [`Reply`] dropped unanswered — its actor panicked, or the request was lost on the way —
//! answers 4200 INTERNAL_ERROR on its own, with a detail saying it may be sent again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use super::outbox::Outbox;
use super::remote::Peers;
use crate::error::ImError;
use crate::im_err;
use crate::protocol::GenericCommand;
use crate::protocol::frame;

/// Who asked: a request's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    /// The node the session is on ([`crate::store::Store::node_id`]).
    pub node: u64,
    /// The session (node-unique id).
    pub session: u64,
    /// The request's `i` (`None`: no answer is expected).
    pub i: Option<i32>,
}

/// Where the answer to one request goes.
pub struct Reply {
    pub addr: Addr,
    to: To,
    answered: AtomicBool,
}

enum To {
    /// The session is on this node.
    Here(Outbox),
    /// The request came from another node, which numbered it `id`.
    Peer { id: u64, peers: Arc<dyn Peers> },
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Reply {
    /// The reply to the request at `addr`, whose session's outbox is `outbox`.
    pub fn new(addr: Addr, outbox: Outbox) -> Self {
        Reply { addr, to: To::Here(outbox), answered: AtomicBool::new(false) }
    }

    /// The reply to request `id` forwarded from `addr.node`.
    pub fn peer(addr: Addr, id: u64, peers: Arc<dyn Peers>) -> Self {
        Reply { addr, to: To::Peer { id, peers }, answered: AtomicBool::new(false) }
    }

    /// Sends `cmd` as the answer (its `i` is set to the request's).
    pub fn send(&self, mut cmd: GenericCommand) {
        self.answered.store(true, Ordering::Relaxed);
        cmd.i = self.addr.i;
        self.deliver(&cmd);
    }

    /// Answers with an `error` command.
    pub fn error(&self, err: &ImError) {
        self.answered.store(true, Ordering::Relaxed);
        self.deliver(&frame::error(self.addr.i, err));
    }

    fn deliver(&self, cmd: &GenericCommand) {
        match &self.to {
            To::Here(outbox) => outbox.send(cmd),
            To::Peer { id, peers } => peers.answer(self.addr.node, *id, cmd),
        }
    }

    /// Sends an answer another node encoded (with this request's `i`).
    pub fn send_encoded(&self, frame: Bytes) {
        self.answered.store(true, Ordering::Relaxed);
        match &self.to {
            To::Here(outbox) => outbox.send_encoded(frame),
            To::Peer { .. } => tracing::error!("an encoded answer cannot be passed on to another node"),
        }
    }

    /// Sends `result`'s command, or its error.
    pub fn result(&self, result: Result<GenericCommand, ImError>) {
        match result {
            Ok(cmd) => self.send(cmd),
            Err(err) => self.error(&err),
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if self.addr.i.is_some() && !self.answered.load(Ordering::Relaxed) {
            self.error(&im_err!(InternalError, "the request was lost on the server; it may be sent again"));
        }
    }
}
