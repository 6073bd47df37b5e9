//! The supervisor of this node's session actors.
//!
//! Every session actor is linked to it. A session actor that fails (a panic while it
//! handled a command) is not restarted — its socket belongs to the client, whose SDK opens
//! the session again when the socket answers 4105 for it — but ractor does not run
//! `post_stop` after a failure, so the supervisor takes the session out of presence
//! itself: nothing is pushed to a session that no longer exists. The command it was
//! handling is answered 4200 as its reply is dropped.

use std::sync::Arc;

use crate::node::Node;
use crate::services::supervisor;
use crate::store::StoreError;

/// Starts the session supervisor of `node` (once, as the server starts).
pub fn start(node: &Node) -> Result<(), StoreError> {
    let _runtime = node.core().enter();
    let services = Arc::downgrade(&node.services);
    let leave = Arc::new(move |actor| {
        if let Some(services) = services.upgrade() {
            services.presence.remove_actor(actor);
        }
    });
    let supervisor = supervisor::start("session", leave)
        .map_err(|e| StoreError::Engine(format!("cannot start the session supervisor: {e}")))?;
    let _ = node.sessions.set(supervisor.get_cell());
    Ok(())
}
