//! Answering a request: the requester's outbox plus the request's `i`.
//!
//! Every request that carries an `i` gets an answer (the SDK otherwise waits 20 s): a
//! [`Reply`] dropped unanswered — its actor panicked, or the request was lost on the way —
//! answers 4200 INTERNAL_ERROR on its own, with a detail saying it may be sent again.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::ImError;
use crate::gateway::outbox::Outbox;
use crate::im_err;
use crate::protocol::GenericCommand;
use crate::protocol::frame;

/// Where the answer to one request goes.
#[derive(Debug)]
pub struct Reply {
    pub outbox: Outbox,
    pub i: Option<i32>,
    answered: AtomicBool,
}

impl Reply {
    pub fn new(outbox: Outbox, i: Option<i32>) -> Self {
        Reply { outbox, i, answered: AtomicBool::new(false) }
    }

    /// Sends `cmd` as the answer (its `i` is set to the request's).
    pub fn send(&self, mut cmd: GenericCommand) {
        self.answered.store(true, Ordering::Relaxed);
        cmd.i = self.i;
        self.outbox.send(&cmd);
    }

    /// Answers with an `error` command.
    pub fn error(&self, err: &ImError) {
        self.answered.store(true, Ordering::Relaxed);
        self.outbox.send(&frame::error(self.i, err));
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
        if self.i.is_some() && !self.answered.load(Ordering::Relaxed) {
            self.error(&im_err!(InternalError, "the request was lost on the server; it may be sent again"));
        }
    }
}
