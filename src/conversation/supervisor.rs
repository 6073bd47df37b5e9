//! The supervisor of this node's conversation actors.
//!
//! Every conversation actor is linked to it. When one fails — a panic while it handled an
//! operation, or a store failure it could not answer around — the supervisor takes it out
//! of the [`Directory`](super::Directory) at once, so the next operation for that
//! conversation starts a fresh actor, which claims the conversation again (its owner
//! epoch, [`crate::store::owner`]) and rebuilds its state from the store. Nothing else is
//! restarted: other conversations and sessions do not notice. The requests the failed
//! actor held are answered with an error as their replies are dropped.

use std::sync::Arc;

use ractor::ActorRef;

use super::Directory;
use crate::services::supervisor::{self, SupervisorMsg};

/// Starts the supervisor of `directory`'s actors.
pub fn start(directory: &Arc<Directory>) -> ActorRef<SupervisorMsg> {
    let directory = Arc::downgrade(directory);
    let forget = Arc::new(move |actor| {
        if let Some(directory) = directory.upgrade() {
            directory.forget_actor(actor);
        }
    });
    supervisor::start("conversation", forget).expect("unnamed actors always spawn")
}
