//! Answering a request: its address — the node and session that asked, and the request's
//! `i` — resolved to that session's outbox. (Locally the outbox is known when the request
//! comes in; the cluster resolves addresses of other nodes to their router.)
//!
//! Every request that carries an `i` gets an answer (the SDK otherwise waits 20 s): a
//! [`Reply`] dropped unanswered — its actor panicked, or the request was lost on the way —
//! answers 4200 INTERNAL_ERROR on its own, with a detail saying it may be sent again.

use std::sync::atomic::{AtomicBool, Ordering};

use super::outbox::Outbox;
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
#[derive(Debug)]
pub struct Reply {
    pub addr: Addr,
    outbox: Outbox,
    answered: AtomicBool,
}

impl Reply {
    /// The reply to the request at `addr`, whose session's outbox is `outbox`.
    pub fn new(addr: Addr, outbox: Outbox) -> Self {
        Reply { addr, outbox, answered: AtomicBool::new(false) }
    }

    /// Sends `cmd` as the answer (its `i` is set to the request's).
    pub fn send(&self, mut cmd: GenericCommand) {
        self.answered.store(true, Ordering::Relaxed);
        cmd.i = self.addr.i;
        self.outbox.send(&cmd);
    }

    /// Answers with an `error` command.
    pub fn error(&self, err: &ImError) {
        self.answered.store(true, Ordering::Relaxed);
        self.outbox.send(&frame::error(self.addr.i, err));
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
