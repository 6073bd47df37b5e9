//! The supervisor of this node's session actors (ractor supervision).
//!
//! Every session actor is linked to it. A session actor that fails (a panic while it
//! handled a command) is not restarted — its socket belongs to the client, whose SDK opens
//! the session again when the socket answers 4105 for it — but ractor does not run
//! `post_stop` after a failure, so the supervisor takes the session out of presence
//! itself: nothing is pushed to a session that no longer exists. The command it was
//! handling is answered 4200 as its reply is dropped.

use std::sync::{Arc, Weak};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;

use crate::node::Node;
use crate::services::Services;
use crate::store::StoreError;

/// The supervisor takes no messages of its own: only supervision events.
#[derive(Debug, RactorMessage)]
pub enum SessionSupervisorMsg {}

pub struct SessionSupervisor;

impl Actor for SessionSupervisor {
    type Msg = SessionSupervisorMsg;
    type State = Weak<Services>;
    type Arguments = Weak<Services>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SessionSupervisorMsg>,
        node: Weak<Services>,
    ) -> Result<Weak<Services>, ActorProcessingErr> {
        Ok(node)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SessionSupervisorMsg>,
        event: SupervisionEvent,
        node: &mut Weak<Services>,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(actor, why) = event {
            tracing::error!(actor = %actor.get_id(), error = %why, "a session actor failed; it leaves presence");
            if let Some(node) = node.upgrade() {
                node.presence.remove_actor(actor.get_id());
            }
        }
        Ok(())
    }
}

/// Starts the session supervisor of `node` (once, as the server starts).
pub fn start(node: &Node) -> Result<(), StoreError> {
    let _runtime = node.core().enter();
    let (supervisor, _) = ractor::ActorRuntime::spawn_instant(None, SessionSupervisor, Arc::downgrade(&node.services))
        .map_err(|e| StoreError::Engine(format!("cannot start the session supervisor: {e}")))?;
    let _ = node.sessions.set(supervisor.get_cell());
    Ok(())
}
