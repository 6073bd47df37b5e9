//! The supervisor of this node's conversation actors (ractor supervision).
//!
//! Every conversation actor is linked to it. When one fails — a panic while it handled an
//! operation, or a store failure it could not answer around — the supervisor logs it and
//! takes it out of the [`Directory`](super::Directory) at once, so the next operation for
//! that conversation starts a fresh actor, which claims the conversation again (its owner
//! epoch, [`crate::store::owner`]) and rebuilds its state from the store. Nothing else is
//! restarted: other conversations and sessions do not notice. The requests the failed
//! actor held are answered with an error as their replies are dropped.

use std::sync::Weak;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;

use super::Directory;

/// The supervisor takes no messages of its own: only supervision events.
#[derive(Debug, RactorMessage)]
pub enum SupervisorMsg {}

pub struct ConvSupervisor;

impl Actor for ConvSupervisor {
    type Msg = SupervisorMsg;
    type State = Weak<Directory>;
    type Arguments = Weak<Directory>;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        node: Weak<Directory>,
    ) -> Result<Weak<Directory>, ActorProcessingErr> {
        Ok(node)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        node: &mut Weak<Directory>,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(actor, why) = event {
            tracing::error!(actor = %actor.get_id(), error = %why, "a conversation actor failed; it restarts from the store");
            if let Some(convs) = node.upgrade() {
                convs.forget_actor(actor.get_id());
            }
        }
        Ok(())
    }
}
