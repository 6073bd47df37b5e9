//! Answering a request: the requester's outbox plus the request's `i`.

use crate::error::ImError;
use crate::gateway::outbox::Outbox;
use crate::protocol::GenericCommand;
use crate::protocol::frame;

/// Where the answer to one request goes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub outbox: Outbox,
    pub i: Option<i32>,
}

impl Reply {
    pub fn new(outbox: Outbox, i: Option<i32>) -> Self {
        Reply { outbox, i }
    }

    /// Sends `cmd` as the answer (its `i` is set to the request's).
    pub fn send(&self, mut cmd: GenericCommand) {
        cmd.i = self.i;
        self.outbox.send(&cmd);
    }

    /// Answers with an `error` command.
    pub fn error(&self, err: &ImError) {
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
