//! The conversation actor: its mailbox loop, and where its work runs.
//!
//! The actor never waits for the store on its own thread (a runtime thread that every
//! other conversation shares). An operation that needs the store — loading the
//! conversation, a membership or settings change (a transaction), a client token or a
//! cursor not in memory — runs on the blocking pool: the actor hands its whole state
//! ([`ConvState`]) to a blocking task, which runs the operation with the same synchronous
//! code and sends the state back ([`ConvMsg::Back`]). Until it is back, whatever arrives
//! waits in a backlog and then runs in arrival order, so one conversation's operations stay
//! serial and ordered. Operations that need nothing but memory — the common `direct` of a
//! loaded conversation, most receive-acks and reads, commit completions — run inline,
//! without a thread crossing ([`ConvState::runs_inline`]).
//!
//! A panic while running an operation (inline, or on the blocking pool: [`ConvMsg::Lost`])
//! fails the actor; its supervisor forgets it, the next operation starts a new actor that
//! claims the conversation again and rebuilds from the store, and every request the lost
//! state held is answered with an error as its [`Reply`](crate::delivery::Reply) is dropped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::state::ConvState;
use super::{ConvMsg, ConvOp};
use crate::services::Services;

/// How long a delivered mark that nothing waits on may stay unsaved, unless a message
/// append takes it along first.
const MARK_FLUSH_DELAY: Duration = Duration::from_millis(500);

/// Start arguments.
pub struct ConvArgs {
    pub node: Arc<Services>,
    pub convs: Arc<super::Directory>,
    pub cid: Arc<str>,
}

/// The state while it is away on the blocking pool.
pub struct Away(pub(super) Box<ConvState>);

impl std::fmt::Debug for Away {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Away({})", self.0.cid)
    }
}

/// The actor's own state: the conversation's state when it is here, and what waits for it.
pub struct ConvHome {
    state: Option<Box<ConvState>>,
    backlog: VecDeque<ConvMsg>,
    cid: Arc<str>,
    /// Out of the directory: stops as soon as nothing is in flight.
    evicted: bool,
}

/// The actor of one conversation.
pub struct ConversationActor;

impl Actor for ConversationActor {
    type Msg = ConvMsg;
    type State = ConvHome;
    type Arguments = ConvArgs;

    async fn pre_start(&self, myself: ActorRef<ConvMsg>, args: ConvArgs) -> Result<ConvHome, ActorProcessingErr> {
        let idle = Duration::from_secs(args.node.config.limits.conversation_idle_secs.max(1));
        let ticker = myself.send_interval(idle / 2, || ConvMsg::Tick);
        let cid = args.cid.clone();
        let state = Box::new(ConvState::new(args.node, args.convs, args.cid, myself.get_id(), ticker));
        Ok(ConvHome { state: Some(state), backlog: VecDeque::new(), cid, evicted: false })
    }

    async fn handle(
        &self,
        myself: ActorRef<ConvMsg>,
        msg: ConvMsg,
        home: &mut ConvHome,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConvMsg::Back { state: Away(state), retire } => {
                home.state = Some(state);
                if retire {
                    myself.stop(None);
                    return Ok(());
                }
            }
            ConvMsg::Lost(why) => return Err(format!("conversation {}: {why}", home.cid).into()),
            ConvMsg::Evicted => home.evicted = true,
            msg if home.state.is_none() => {
                home.backlog.push_back(msg);
                return Ok(());
            }
            msg => home.backlog.push_back(msg),
        }
        // Run what waits, in order, until it is done or the state goes away again.
        while home.state.is_some()
            && let Some(msg) = home.backlog.pop_front()
        {
            if process(&myself, home, msg) {
                // Stopping: what still waits is dropped, its requests answered with 4200
                // (they may be sent again).
                home.backlog.clear();
                return Ok(());
            }
        }
        if home.evicted && home.backlog.is_empty() && home.state.as_ref().is_some_and(|s| s.is_quiet()) {
            tracing::debug!(cid = %home.cid, "conversation handed over to another node");
            myself.stop(None);
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<ConvMsg>, home: &mut ConvHome) -> Result<(), ActorProcessingErr> {
        if let Some(state) = home.state.as_mut() {
            state.ticker.abort();
            state.flush_marks();
        }
        Ok(())
    }
}

/// Handles one message with the state at home. Returns whether the actor is stopping.
fn process(myself: &ActorRef<ConvMsg>, home: &mut ConvHome, msg: ConvMsg) -> bool {
    let state = home.state.as_mut().expect("processed only at home");
    match msg {
        ConvMsg::Op(op) if state.runs_inline(&op) => {
            if state.run_op(myself, op) {
                myself.stop(None);
                return true;
            }
        }
        ConvMsg::Op(op) => {
            let mut state = home.state.take().expect("at home");
            let me = myself.clone();
            tokio::task::spawn_blocking(move || {
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let retire = state.run_op(&me, op);
                    (state, retire)
                }));
                let _ = match ran {
                    Ok((state, retire)) => me.cast(ConvMsg::Back { state: Away(state), retire }),
                    Err(panic) => me.cast(ConvMsg::Lost(panic_text(&panic))),
                };
            });
        }
        ConvMsg::Retire => {
            if state.is_quiet() && state.convs.try_retire(&state.cid, myself.get_id(), state.handled) {
                myself.stop(None);
                return true;
            }
        }
        ConvMsg::Committed { seq, result } => {
            let Err(err) = &result else {
                let _ = state.committed(seq, result);
                return false;
            };
            let err = err.clone();
            // The store failed under us, or another actor owns the conversation now
            // (fenced): our sequence numbers may no longer match the store. Stop; the next
            // operation starts an actor that claims it again and reloads. It leaves the
            // directory before its senders hear of the failure, so what they send again
            // reaches the new actor, not this stopping one.
            match err {
                crate::store::StoreError::Fenced => {
                    tracing::warn!(cid = %state.cid, "fenced off by a newer owner; stopping")
                }
                _ => tracing::error!(cid = %state.cid, error = %err, "append failed; restarting the conversation"),
            }
            state.convs.remove_if(&state.cid, myself.get_id());
            let _ = state.committed(seq, result);
            myself.stop(Some(err.to_string()));
            return true;
        }
        ConvMsg::FlushMarks => {
            state.flush_scheduled = false;
            state.flush_marks();
        }
        ConvMsg::Tick => {
            if state.is_idle() && state.convs.try_retire(&state.cid, myself.get_id(), state.handled) {
                myself.stop(None);
                return true;
            }
        }
        ConvMsg::Back { .. } | ConvMsg::Lost(_) | ConvMsg::Evicted => unreachable!("handled before"),
    }
    false
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".into())
}

impl ConvState {
    /// Runs one operation (on the actor's thread or on the blocking pool). Returns whether
    /// the actor should stop: only outsiders came (a made-up id, a non-member's receipt),
    /// and nothing is in flight.
    pub fn run_op(&mut self, myself: &ActorRef<ConvMsg>, op: ConvOp) -> bool {
        self.handled += 1;
        self.convs.fail_point(&self.cid);
        if let Err(err) = self.ensure_loaded() {
            self.fail(op, err);
            return false;
        }
        if self.is_insider(&op) {
            self.touch();
            self.active = true;
        }
        match op {
            ConvOp::Direct(req) => self.direct(myself, req),
            ConvOp::Ack { from, mid, tots } => {
                self.ack(&from, mid.as_deref(), tots);
                if self.has_dirty_marks() && !self.flush_scheduled {
                    self.flush_scheduled = true;
                    myself.send_after(MARK_FLUSH_DELAY, || ConvMsg::FlushMarks);
                }
            }
            ConvOp::Read { from, session, mid, ts } => self.read(&from, session, mid.as_deref(), ts),
            ConvOp::Members(req) => self.change_members(*req),
            ConvOp::Blacklist(req) => self.blacklist(*req),
            ConvOp::Conv(req) => self.command(*req),
        }
        if self.fenced {
            // Another actor claimed the conversation since this one loaded it: what this one
            // holds in memory may be stale. Stop (it left the directory when the refusal came,
            // before answering); the next operation here starts afresh.
            tracing::warn!(cid = %self.cid, "fenced off by a newer owner; stopping");
            return true;
        }
        !self.active && self.is_quiet() && self.convs.try_retire(&self.cid, myself.get_id(), self.handled)
    }

    /// Whether `op` needs nothing from the store (everything it reads is in memory), so it
    /// may run on the actor's thread. A wrong "yes" costs a short blocking read there, a
    /// wrong "no" a trip to the blocking pool; neither changes what the operation does.
    pub fn runs_inline(&self, op: &ConvOp) -> bool {
        if !self.is_loaded() || self.convs.has_fail_point() {
            return false;
        }
        match op {
            ConvOp::Direct(req) => {
                let msg = &req.msg;
                let known_token = msg.dt.as_deref().is_none_or(|dt| dt.is_empty() || self.knows_token(&req.from, dt));
                let mentioned = msg.mention_pids.iter().map(String::as_str);
                let cursors = if msg.mention_all == Some(true) {
                    self.members.iter().all(|m| self.cached_cursor(m).is_some())
                } else {
                    mentioned.filter(|p| self.is_member(p)).all(|p| self.cached_cursor(p).is_some())
                };
                known_token && cursors && self.cached_cursor(&req.from).is_some()
            }
            ConvOp::Ack { from, mid, tots } => {
                self.cached_cursor(from).is_some()
                    && mid.as_deref().is_none_or(|mid| self.recent_has(mid))
                    && tots.is_none_or(|t| self.recent.front().is_some_and(|r| r.ts <= t))
            }
            ConvOp::Read { from, mid, ts, .. } => {
                self.cached_cursor(from).is_some()
                    && mid.as_deref().is_none_or(|mid| self.recent_has(mid))
                    && ts.is_none_or(|t| t <= 0 || self.recent.front().is_some_and(|r| r.ts <= t))
            }
            ConvOp::Members(_) | ConvOp::Blacklist(_) | ConvOp::Conv(_) => false,
        }
    }
}
