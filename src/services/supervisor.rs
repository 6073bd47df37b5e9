//! A supervisor for a kind of actor (ractor supervision): every actor of the kind is
//! linked to it; when one fails (a panic while it handled a message), the supervisor logs
//! it and calls the kind's clean-up with the failed actor's id. Nothing is restarted here:
//! each kind says what a failure means (`conversation::supervisor`, `session::supervisor`).

use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use ractor_cluster_derive::RactorMessage;

/// What to do about a failed actor.
pub type OnFailure = Arc<dyn Fn(ActorId) + Send + Sync>;

/// A supervisor takes no messages of its own: only supervision events.
#[derive(Debug, RactorMessage)]
pub enum SupervisorMsg {}

/// The supervisor of the actors of one kind, named `kind` in the log.
pub struct Supervisor;

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = (&'static str, OnFailure);
    type Arguments = (&'static str, OnFailure);

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        args: (&'static str, OnFailure),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        (kind, on_failure): &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(actor, why) = event {
            tracing::error!(kind = *kind, actor = %actor.get_id(), error = %why, "an actor failed");
            on_failure(actor.get_id());
        }
        Ok(())
    }
}

/// Starts a supervisor (on the current runtime) that calls `on_failure`.
pub fn start(kind: &'static str, on_failure: OnFailure) -> Result<ActorRef<SupervisorMsg>, ractor::SpawnErr> {
    ractor::ActorRuntime::spawn_instant(None, Supervisor, (kind, on_failure)).map(|(actor, _)| actor)
}
